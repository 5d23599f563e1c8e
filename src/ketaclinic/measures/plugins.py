"""What measurement-based care shows on pages it does not own: the Scores tab, the safety
alerts and questionnaires due on the home pages, and the response so far on a treatment
course and an intake review."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from ketaclinic.measures.selectors import (
    alert_summary,
    due_questionnaires,
    escalated_alerts,
    open_alerts_for,
    overdue_before,
    patient_trends,
)
from ketaclinic.plugins import (
    ChartTab,
    HomePanel,
    PagePanel,
    PanelContent,
    register_audit_labels,
    register_chart_tab,
    register_home_panel,
    register_page_panel,
)


def escalated(user: Any, location_id: int | None) -> PanelContent | None:
    # Escalations reach the director whatever location the switcher shows.
    alerts = list(escalated_alerts(user)[:10])
    if not alerts:
        return None
    return PanelContent(
        {"escalated_alerts": alerts},
        {"patient_ids": {a.patient_id for a in alerts}, "alert_ids": {a.pk for a in alerts}},
    )


def open_alerts(user: Any, location_id: int | None) -> PanelContent:
    alerts = list(open_alerts_for(user, location_id=location_id)[:8])
    return PanelContent(
        {"alert_summary": alert_summary(user, location_id=location_id), "open_alerts": alerts},
        {"patient_ids": {a.patient_id for a in alerts}, "alert_ids": {a.pk for a in alerts}},
    )


def due(user: Any, location_id: int | None) -> PanelContent:
    rules = list(due_questionnaires(user, location_id=location_id)[:8])
    return PanelContent(
        {"due": rules, "overdue_before": overdue_before()},
        {"patient_ids": {rule.patient_id for rule in rules}},
    )


def response_so_far(request: HttpRequest, *, patient: Any, **_: Any) -> PanelContent | None:
    """On a course: baseline to latest, for scales where response is a defined outcome."""
    trends = [t for t in patient_trends(patient) if t.instrument.response_applies]
    return PanelContent({"trends": trends}) if trends else None


def baseline_scores(request: HttpRequest, *, patient: Any, **_: Any) -> PanelContent:
    """On an intake review: each questionnaire's baseline (or that there is none yet)."""
    return PanelContent({"trends": patient_trends(patient), "patient": patient})


def register() -> None:
    register_chart_tab(ChartTab("scores", "Scores", "measures:scores", 40))
    register_home_panel(
        HomePanel(
            "escalated_alerts",
            "measures/_home_escalated.html",
            1,
            escalated,
            roles=frozenset({"medical_director"}),
            capability="alerts.view_worklist",
            wide=True,
        )
    )
    register_home_panel(
        HomePanel(
            "open_alerts",
            "measures/_home_alerts.html",
            10,
            open_alerts,
            capability="alerts.view_worklist",
        )
    )
    register_home_panel(
        HomePanel(
            "questionnaires_due",
            "measures/_home_due.html",
            20,
            due,
            capability="measures.manage_schedule",
        )
    )
    register_page_panel(
        PagePanel(
            "response_so_far",
            "treatment_course",
            "measures/_response_so_far.html",
            10,
            response_so_far,
            capability="measures.view_scores",
        )
    )
    register_page_panel(
        PagePanel(
            "baseline_scores",
            "intake_review",
            "measures/_baseline_scores.html",
            10,
            baseline_scores,
            capability="measures.view_scores",
        )
    )
    register_audit_labels(
        {
            "assessment_response": "Questionnaire response",
            "assessment_response_list": "Questionnaire responses",
            "safety_alert": "Safety alert",
            "alert_worklist": "Safety alert worklist",
            "self_report_request": "Questionnaire link",
            "measurement_schedule": "Questionnaire schedule",
            "due_questionnaires": "Questionnaires due",
        }
    )
