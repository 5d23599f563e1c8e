"""Reads for measurement-based care, in a fixed number of queries whatever the data size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from ketaclinic.clinical.scoring import Instrument, ResponseStatus, get_instrument, response_status
from ketaclinic.instruments.schema import INSTRUMENT_KEYS
from ketaclinic.measures.charts import TrendChart, trend_chart
from ketaclinic.measures.models import (
    AssessmentResponse,
    ResponseContext,
    SafetyAlert,
    ScheduleRule,
    SelfReportRequest,
)
from ketaclinic.patients.selectors import patient_scope

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.patients.models import Patient


def escalation_cutoff(now: datetime | None = None) -> datetime:
    hours = settings.KETACLINIC_ALERT_ESCALATION_HOURS
    return (now or timezone.now()) - timedelta(hours=hours)


def open_alerts_for(user: User, *, location_id: int | None = None) -> QuerySet[SafetyAlert]:
    """Unacknowledged alerts the user's care team must act on, oldest first."""
    alerts = SafetyAlert.objects.filter(
        patient_scope(user, via="patient"), acknowledged_at__isnull=True
    ).select_related("patient", "patient__primary_location", "response")
    if location_id is not None:
        # The patient's current location: an alert follows a patient who moves.
        alerts = alerts.filter(patient__primary_location_id=location_id)
    return alerts.order_by("raised_at", "id")


def escalated_alerts(user: User) -> QuerySet[SafetyAlert]:
    """Open alerts older than the escalation time (KETACLINIC_ALERT_ESCALATION_HOURS)."""
    return open_alerts_for(user).filter(raised_at__lt=escalation_cutoff())


def recent_acknowledged_alerts(user: User, *, limit: int = 20) -> QuerySet[SafetyAlert]:
    return (
        SafetyAlert.objects.filter(
            patient_scope(user, via="patient"), acknowledged_at__isnull=False
        )
        .select_related("patient", "acknowledged_by", "response")
        .order_by("-acknowledged_at")[:limit]
    )


def alert_get_for_user(user: User, alert_id: int) -> SafetyAlert:
    from django.http import Http404

    alert = (
        SafetyAlert.objects.filter(patient_scope(user, via="patient"), pk=alert_id)
        .select_related("patient", "patient__primary_location", "response", "acknowledged_by")
        .first()
    )
    if alert is None:
        raise Http404("No such alert")
    return alert


def alert_summary(user: User, *, location_id: int | None = None) -> dict[str, int]:
    """Open and escalated counts for a home page, in one query."""
    counts = open_alerts_for(user, location_id=location_id).aggregate(
        open=Count("id"), escalated=Count("id", filter=Q(raised_at__lt=escalation_cutoff()))
    )
    return {"open": counts["open"] or 0, "escalated": counts["escalated"] or 0}


def patient_alert_history(patient: Patient, *, limit: int = 20) -> list[SafetyAlert]:
    """The patient's alerts, open and acknowledged, newest first."""
    return list(
        SafetyAlert.objects.filter(patient=patient)
        .select_related("acknowledged_by")
        .order_by("-raised_at")[:limit]
    )


def patient_open_alert_count(patient: Patient) -> int:
    return SafetyAlert.objects.filter(patient=patient, acknowledged_at__isnull=True).count()


def due_questionnaires(
    user: User, *, location_id: int | None = None, today: date | None = None
) -> QuerySet[ScheduleRule]:
    """Active schedule rules due today or earlier for the user's patients, most overdue first."""
    today = today or timezone.localdate()
    rules = ScheduleRule.objects.filter(
        patient_scope(user, via="patient"), is_active=True, next_due_on__lte=today
    ).select_related("patient", "patient__primary_location")
    if location_id is not None:
        rules = rules.filter(patient__primary_location_id=location_id)
    return rules.order_by("next_due_on", "patient_id")


def overdue_before(today: date | None = None) -> date:
    today = today or timezone.localdate()
    return today - timedelta(days=settings.KETACLINIC_QUESTIONNAIRE_GRACE_DAYS)


@dataclass(frozen=True)
class InstrumentTrend:
    instrument: Instrument
    responses: list[AssessmentResponse]
    baseline: AssessmentResponse | None
    latest: AssessmentResponse
    status: ResponseStatus | None
    chart: TrendChart | None


def baseline_of(responses: list[AssessmentResponse]) -> AssessmentResponse:
    """The most recent response recorded in a baseline context, else the first response.

    Response is measured from the course baseline (clinical-reference.md section 2); the
    latest baseline wins so a new course, or a corrected baseline, re-baselines the trend.
    """
    baselines = [r for r in responses if r.context == ResponseContext.BASELINE]
    return baselines[-1] if baselines else responses[0]


def patient_trends(patient: Patient) -> list[InstrumentTrend]:
    """Per instrument the patient has answered: responses, baseline, status and chart.

    Responder/remitter status is shown only for scales where response is a defined outcome
    (Instrument.response_applies); other scales show their trend alone.
    """
    by_key: dict[str, list[AssessmentResponse]] = {}
    for response in AssessmentResponse.objects.filter(patient=patient).order_by(
        "completed_at", "id"
    ):
        by_key.setdefault(response.instrument_key, []).append(response)
    trends = []
    for key in INSTRUMENT_KEYS:
        responses = by_key.get(key)
        if not responses:
            continue
        instrument = get_instrument(key)
        baseline = baseline_of(responses)
        latest = responses[-1]
        status = None
        if instrument.response_applies and latest.total is not None:
            status = response_status(
                instrument, baseline_total=baseline.total, current_total=latest.total
            )
        chart = trend_chart(instrument, responses, baseline) if latest.total is not None else None
        trends.append(InstrumentTrend(instrument, responses, baseline, latest, status, chart))
    return trends


def open_self_reports(patient: Patient) -> list[SelfReportRequest]:
    """Questionnaires waiting for the patient: not answered and not expired."""
    return list(
        SelfReportRequest.objects.filter(
            patient=patient, completed_at__isnull=True, expires_at__gt=timezone.now()
        ).order_by("expires_at")
    )


def patient_schedule(patient: Patient) -> list[ScheduleRule]:
    return list(
        ScheduleRule.objects.filter(patient=patient, is_active=True).order_by("instrument_key")
    )
