"""What coverage shows on pages it does not own: the Coverage tab of the chart, and on a
course's booking page the approval in force and the sessions planned after it ends."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.coverage.selectors import booking_coverage
from ketaclinic.plugins import (
    ChartTab,
    PagePanel,
    PanelContent,
    register_audit_labels,
    register_chart_tab,
    register_page_panel,
)


def _booking_panel(
    request: HttpRequest, *, course: Any, sessions: Any, **_: Any
) -> PanelContent | None:
    now = timezone.now()
    tz = course.location.tz
    days = [
        (s.number, s.starts_at.astimezone(tz).date())
        for s in sessions
        if s.starts_at >= now and not getattr(s, "treatment_session", None)
    ]
    coverage = booking_coverage(course, days)
    if coverage is None:
        return None
    return PanelContent(
        {"coverage": coverage, "patient": course.patient, "course": course},
        {"prior_authorization_ids": {r.pk for r in (coverage.approval, coverage.pending) if r}},
    )


def register() -> None:
    register_chart_tab(
        ChartTab("coverage", "Coverage", "coverage:patient", 65, capability="billing.prior_auth")
    )
    register_page_panel(
        PagePanel(
            "coverage_booking",
            "course_booking",
            "coverage/_booking.html",
            10,
            _booking_panel,
            capability="billing.prior_auth",
        )
    )
    register_audit_labels({"prior_authorization": "Prior authorization", "payer": "Payer"})
