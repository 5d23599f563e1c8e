"""What referrals shows on pages it does not own (docs/architecture.md, plug-in points): the
Referrals chart tab, the stalled referrals on the staff home page, the patient's referrals
and resources on the portal home, and the one-step crisis referral on a safety alert."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

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
from ketaclinic.referrals.forms import CrisisReferralForm
from ketaclinic.referrals.selectors import (
    crisis_resources,
    directory,
    patient_referrals,
    stalled_referrals,
)

HOME_ROWS = 8
PORTAL_RESOURCES = 6


def stalled_panel(user: Any, location_id: int | None) -> PanelContent:
    """The reminder: referrals with no change for longer than their urgency allows."""
    referrals = stalled_referrals(user, location_id=location_id)
    rows = list(referrals[:HOME_ROWS])
    return PanelContent(
        {"stalled": rows, "more": len(rows) == HOME_ROWS},
        {"patient_ids": {r.patient_id for r in rows}, "referral_ids": {r.pk for r in rows}},
    )


def portal_panel(request: HttpRequest, *, patient: Any, **_: Any) -> PanelContent:
    """The patient's own referrals (to whom, status, how to reach them) and the crisis
    lines and resources of their location."""
    referrals = list(patient_referrals(patient))
    resources = list(directory(patient.primary_location_id)[: PORTAL_RESOURCES + 1])
    return PanelContent(
        {
            "referrals": referrals,
            "crisis": [r for r in resources if r.is_crisis],
            "others": [r for r in resources if not r.is_crisis][:PORTAL_RESOURCES],
        },
        {"referral_ids": {r.pk for r in referrals}},
    )


def safety_alert_panel(
    request: HttpRequest, *, patient: Any, alert: Any, **_: Any
) -> PanelContent | None:
    """On an open safety alert, for those who may both acknowledge and refer: acknowledge
    and refer to a crisis resource (988 first) in one form."""
    if alert.acknowledged_at is not None or not request.user.can("alerts.acknowledge"):
        return None
    form = CrisisReferralForm(
        resources=crisis_resources(patient.primary_location_id), prefix="crisis"
    )
    return PanelContent({"alert": alert, "form": form})


def register() -> None:
    """Called once from the app's ready()."""
    register_chart_tab(
        ChartTab("referrals", "Referrals", "referrals:patient", 55, capability="referrals.view")
    )
    register_home_panel(
        HomePanel(
            "stalled_referrals",
            "referrals/_home_stalled.html",
            25,
            stalled_panel,
            capability="referrals.manage",
        )
    )
    register_page_panel(
        PagePanel(
            "referrals",
            "portal_home",
            "referrals/_portal_panel.html",
            20,
            portal_panel,
            capability="patient.view_own_record",
        )
    )
    register_page_panel(
        PagePanel(
            "crisis_referral",
            "safety_alert",
            "referrals/_crisis_panel.html",
            10,
            safety_alert_panel,
            capability="referrals.manage",
        )
    )
    register_audit_labels(
        {
            "referral": "Referral",
            "referral_resource": "Referral resource",
            "referral_stall_limit": "Referral stall limit",
            "stalled_referrals": "Stalled referrals",
        }
    )
