"""Writes for measurement-based care. Each is one transaction with a permission check and
audit entries. Scores come only from clinical.scoring; alerts are never cleared silently."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record, audit_record_events
from ketaclinic.clinical.scoring import InvalidResponseError, UnknownInstrumentError, score
from ketaclinic.instruments.schema import INSTRUMENT_KEYS
from ketaclinic.measures.models import (
    AlertAction,
    AssessmentResponse,
    ResponseContext,
    SafetyAlert,
    ScheduleRule,
    SelfReportRequest,
)
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import require_patient_access
from ketaclinic.treatment.models import TreatmentCourse

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User


class LinkClosedError(Exception):
    """The questionnaire link was already used, has expired, or never existed."""

    def __init__(self, request: SelfReportRequest | None = None) -> None:
        super().__init__("This questionnaire link is no longer open.")
        self.request = request


class AlreadyAcknowledgedError(Exception):
    """Someone acknowledged this alert first; their action stands."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _record(
    *,
    actor: User | None,
    patient: Patient,
    instrument_key: str,
    answers: Sequence[int],
    context: str,
    completed_by_patient: bool,
    request: SelfReportRequest | None = None,
    completed_at: datetime | None = None,
) -> AssessmentResponse:
    """Score, store with every item answer, raise alerts, move the schedule on, audit.

    `completed_at` is when the patient answered, for a response brought from another
    system; its answers raise alerts as any other's do.
    """
    if context not in ResponseContext.values:
        raise ValidationError(f"Unknown context {context!r}.")
    try:
        result = score(instrument_key, list(answers))
    except (InvalidResponseError, UnknownInstrumentError) as error:
        raise ValidationError(str(error).strip("'\"")) from error
    now = timezone.now()
    answered_at = completed_at or now
    course = (
        TreatmentCourse.objects.filter(patient=patient)
        .exclude(phase=TreatmentCourse.Phase.ENDED)
        .order_by("-created_at")
        .first()
    )
    response = AssessmentResponse.objects.create(
        course=course,
        patient=patient,
        instrument_key=instrument_key,
        answers=list(answers),
        total=result.total,
        severity=result.severity or "",
        risk=result.risk or "",
        alerts=list(result.alerts),
        subscores=dict(result.subscores),
        context=context,
        completed_by_patient=completed_by_patient,
        completed_by=actor,
        self_report_request=request,
        completed_at=answered_at,
    )
    alerts = [
        SafetyAlert(
            patient=patient,
            response=response,
            kind=kind,
            location_id=patient.primary_location_id,
            raised_at=now,
        )
        for kind in result.alerts
    ]
    SafetyAlert.objects.bulk_create(alerts)
    _schedule_advance(
        patient=patient, instrument_key=instrument_key, on=timezone.localdate(answered_at)
    )
    events = [
        AuditEvent(
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="assessment_response",
            object_id=response.pk,
            detail={"instrument": instrument_key},
        )
    ]
    events += [
        AuditEvent(
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="safety_alert",
            object_id=alert.pk,
            detail={"kind": alert.kind},
        )
        for alert in alerts
    ]
    audit_record_events(actor=actor, events=events)
    return response


def response_record(
    *, actor: User, patient: Patient, instrument_key: str, answers: Sequence[int], context: str
) -> AssessmentResponse:
    """A clinician enters a rating (MADRS, CADSS, MOAA/S) or a paper questionnaire."""
    require_patient_access(actor, patient, "measures.record_responses")
    with transaction.atomic():
        return _record(
            actor=actor,
            patient=patient,
            instrument_key=instrument_key,
            answers=answers,
            context=context,
            completed_by_patient=False,
        )


def response_import(
    *,
    actor: User,
    patient: Patient,
    instrument_key: str,
    answers: Sequence[int],
    context: str,
    completed_at: datetime,
    completed_by_patient: bool,
) -> AssessmentResponse:
    """A response brought from another system (a FHIR QuestionnaireResponse), scored here
    again from its item answers; a suicide-risk answer raises its alert as any other."""
    require_patient_access(actor, patient, "measures.record_responses")
    if completed_at > timezone.now():
        raise ValidationError("A response cannot have been completed in the future.")
    with transaction.atomic():
        return _record(
            actor=actor,
            patient=patient,
            instrument_key=instrument_key,
            answers=answers,
            context=context,
            completed_by_patient=completed_by_patient,
            completed_at=completed_at,
        )


def self_report_request_create(
    *,
    actor: User,
    patient: Patient,
    instrument_keys: Sequence[str],
    context: str,
    valid_hours: int | None = None,
) -> tuple[SelfReportRequest, str]:
    """A single-use link for the patient; returns the request and the token (shown once)."""
    require_patient_access(actor, patient, "measures.send_self_report")
    instrument_keys = list(dict.fromkeys(instrument_keys))  # a key twice is one questionnaire
    if not instrument_keys:
        raise ValidationError("Choose at least one questionnaire.")
    unknown = [key for key in instrument_keys if key not in INSTRUMENT_KEYS]
    if unknown:
        raise ValidationError(f"Unknown questionnaire: {', '.join(unknown)}.")
    if context not in ResponseContext.values:
        raise ValidationError(f"Unknown context {context!r}.")
    hours = valid_hours or settings.KETACLINIC_SELF_REPORT_LINK_HOURS
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        request = SelfReportRequest.objects.create(
            patient=patient,
            instrument_keys=list(instrument_keys),
            context=context,
            token_digest=token_digest(token),
            created_by=actor,
            expires_at=timezone.now() + timedelta(hours=hours),
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="self_report_request",
            object_id=request.pk,
            detail={"instruments": list(instrument_keys)},
        )
    return request, token


def self_report_open(token: str) -> SelfReportRequest:
    request = (
        SelfReportRequest.objects.select_related("patient__primary_location")
        .filter(token_digest=token_digest(token))
        .first()
    )
    if request is None or not request.is_open:
        raise LinkClosedError(request)
    return request


def self_report_submit(
    *, request: SelfReportRequest, answers: Mapping[str, Sequence[int]], actor: User | None = None
) -> list[AssessmentResponse]:
    """Store the patient's answers for every instrument of the request, once.

    The request row is locked so a double submit (two taps, two tabs) stores one set.
    """
    if set(answers) != set(request.instrument_keys):
        raise ValidationError("Every questionnaire in the request must be answered.")
    with transaction.atomic():
        locked = SelfReportRequest.objects.select_for_update().get(pk=request.pk)
        if not locked.is_open:
            raise LinkClosedError(locked)
        responses = [
            _record(
                actor=actor,
                patient=locked.patient,
                instrument_key=key,
                answers=answers[key],
                context=locked.context,
                completed_by_patient=True,
                request=locked,
            )
            for key in locked.instrument_keys
        ]
        locked.completed_at = timezone.now()
        locked.save(update_fields=["completed_at"])
    return responses


def alert_acknowledge(*, actor: User, alert: SafetyAlert, action: str, note: str) -> SafetyAlert:
    """A clinician records what was done about a suicide-risk signal. Both the action and
    a note are required; the first acknowledgement stands and is never overwritten."""
    require_patient_access(actor, alert.patient, "alerts.acknowledge")
    if action not in AlertAction.values:
        raise ValidationError("Choose the action taken.")
    if not note.strip():
        raise ValidationError("Describe what was done and any follow-up.")
    with transaction.atomic():
        locked = SafetyAlert.objects.select_for_update().get(pk=alert.pk)
        if locked.acknowledged_at is not None:
            raise AlreadyAcknowledgedError(
                f"Already acknowledged by {locked.acknowledged_by.display_name} "
                f"at {timezone.localtime(locked.acknowledged_at):%H:%M}."
            )
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by = actor
        locked.action = action
        locked.action_note = note.strip()
        locked.save(update_fields=["acknowledged_at", "acknowledged_by", "action", "action_note"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=locked.patient_id,
            object_type="safety_alert",
            object_id=locked.pk,
            detail={"acknowledged": True, "action": action},
        )
    return locked


def schedule_rule_set(
    *,
    actor: User,
    patient: Patient,
    instrument_key: str,
    interval_days: int | None,
    starts_on: date | None = None,
) -> ScheduleRule:
    """Replace the patient's rule for one instrument (None interval = once, at baseline)."""
    require_patient_access(actor, patient, "measures.manage_schedule")
    if interval_days is not None and not 1 <= interval_days <= 365:
        raise ValidationError("The interval must be between 1 and 365 days.")
    starts_on = starts_on or timezone.localdate()
    with transaction.atomic():
        # Two people saving a rule at once queue here instead of one hitting the
        # one-active-rule constraint with an error.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        ScheduleRule.objects.filter(
            patient=patient, instrument_key=instrument_key, is_active=True
        ).update(is_active=False)
        rule = ScheduleRule.objects.create(
            patient=patient,
            instrument_key=instrument_key,
            interval_days=interval_days,
            starts_on=starts_on,
            next_due_on=starts_on,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=patient.pk,
            object_type="measurement_schedule",
            object_id=rule.pk,
            detail={"instrument": instrument_key, "interval_days": interval_days},
        )
    return rule


def schedule_rule_stop(*, actor: User, rule: ScheduleRule) -> None:
    require_patient_access(actor, rule.patient, "measures.manage_schedule")
    with transaction.atomic():
        ScheduleRule.objects.filter(pk=rule.pk).update(is_active=False)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=rule.patient_id,
            object_type="measurement_schedule",
            object_id=rule.pk,
            detail={"stopped": True},
        )


def _schedule_advance(*, patient: Patient, instrument_key: str, on: date) -> None:
    for rule in ScheduleRule.objects.filter(
        patient=patient, instrument_key=instrument_key, is_active=True
    ):
        rule.next_due_on = on + timedelta(days=rule.interval_days) if rule.interval_days else None
        rule.save(update_fields=["next_due_on"])
