"""Writes for treatment sessions: check-in, pre-checks, dosing, readings, alerts, discharge,
the signed note and the REMS form's submission.

Every write locks the session row first, so that two nurses charting the same session at
once are applied one after the other: nothing is lost, and the alert rules always see every
reading (two critical readings entered by two people still make the pattern). Every write
is permission-checked and audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketaclinic.accounts.roles import Role
from ketaclinic.accounts.services import signature_password_check
from ketaclinic.audit.models import AuditAction, AuditEntry
from ketaclinic.audit.services import AuditEvent, audit_record, audit_record_events
from ketaclinic.charting.models import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    AdverseEvent,
    DosingEvent,
    Intervention,
    LateEntry,
    NoteAddendum,
    NoteCosignature,
    PregnancyTest,
    RemsSubmission,
    SessionAlert,
    SessionNote,
    SessionScore,
    SessionStatus,
    SessionTransition,
    SideEffect,
    TreatmentSession,
    VitalSign,
)
from ketaclinic.charting.rules import session_rules
from ketaclinic.charting.selectors import (
    discharge_assessment,
    dosing_blockers,
    esketamine_gate,
    note_compose,
    reading_alerts,
    rems_form,
    todays_dose,
)
from ketaclinic.clinical.dosing import esketamine_dose
from ketaclinic.clinical.monitoring import (
    AlertKind,
    VitalReading,
    overdue_alert,
)
from ketaclinic.clinical.rems import CONCOMITANT_CLASSES
from ketaclinic.clinical.safety_limits import (
    Finding,
    Level,
    check_drawn_volume,
    check_entry_time,
    check_esketamine_dose,
    check_in_problems,
    check_iv_dose,
    check_pump_rate,
    check_vitals,
)
from ketaclinic.patients.models import Medication
from ketaclinic.patients.services import require_patient_access
from ketaclinic.register.models import Container
from ketaclinic.register.services import draw_for_session, session_unaccounted
from ketaclinic.treatment.protocol_data import (
    allowed_mg_per_kg,
    esketamine_allowed_mg,
    esketamine_step_mg,
    max_mg_per_kg,
)

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.treatment.models import PlannedSession, TreatmentCourse

CONCOMITANT_KEYS = frozenset(key for key, _ in CONCOMITANT_CLASSES)


class ConfirmationNeeded(ValidationError):
    """The entry is possible but unusual: saved only once the person confirms it. The page
    shows `findings` and offers to save the same entry again with confirm=True."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = list(findings)
        super().__init__([f.message for f in self.findings])


def _checked(findings: Sequence[Finding], *, confirm: bool) -> list[str]:
    """Refuse on any refusal; ask for a confirmation of the rest unless given. Returns the
    codes of what was confirmed (recorded with the entry and in the audit log)."""
    refused = [f.message for f in findings if f.level == Level.REFUSE]
    if refused:
        raise ValidationError(refused)
    unusual = [f for f in findings if f.level == Level.CONFIRM]
    if unusual and not confirm:
        raise ConfirmationNeeded(unusual)
    return [f.code for f in unusual]


# --- helpers ---------------------------------------------------------------------------


def _locked(session: TreatmentSession, *, version: int | None = None) -> TreatmentSession:
    """Lock the session row for this transaction (callers are inside transaction.atomic)."""
    locked = TreatmentSession.objects.select_for_update().get(pk=session.pk)
    if version is not None and locked.version != version:
        raise ValidationError(
            "Someone else changed this session after you opened it. Reload and check again."
        )
    return locked


def _move(
    session: TreatmentSession, to: SessionStatus, *, actor: User | None, reason: str = ""
) -> None:
    """Record a lifecycle step; the caller saves the session."""
    if session.status == to:
        return
    SessionTransition.objects.create(
        session=session, from_status=session.status, to_status=to, actor=actor, reason=reason
    )
    session.status = to


def _save(session: TreatmentSession, fields: Sequence[str]) -> None:
    session.version += 1
    session.save(update_fields=[*fields, "status", "version", "ready_at"])


def _audit(actor: User, session: TreatmentSession, action: str, what: str, **detail: Any) -> None:
    audit_record(
        actor=actor,
        action=action,
        patient_id=session.patient_id,
        object_type=what,
        object_id=session.pk,
        detail=detail,
    )


def _require(actor: User, session: TreatmentSession, capability: str) -> None:
    require_patient_access(actor, session.patient, capability)


def _taken_at(value: datetime | None, now: datetime, session: TreatmentSession) -> datetime:
    """When something charted happened: now, or a late entry's time, which may not be in the
    future, before check-in or beyond the protocol's late-entry hours."""
    if value is None:
        return now
    if timezone.is_naive(value):
        value = timezone.make_aware(value, session.location.tz)
    limits = session_rules(session.course.protocol).limits
    _checked(
        check_entry_time(
            taken_at=timezone.localtime(value, session.location.tz),
            now=now,
            checked_in_at=timezone.localtime(session.checked_in_at, session.location.tz)
            if session.checked_in_at
            else None,
            limits=limits,
        ),
        confirm=False,
    )
    return value


def _require_open(session: TreatmentSession) -> None:
    if not session.is_open:
        raise ValidationError(
            f"This session is {session.get_status_display().lower()}: nothing more can be "
            "charted on it. Add an addendum to the signed note instead."
        )


# --- check-in and pre-checks -----------------------------------------------------------


def session_check_in(
    *, actor: User, planned: PlannedSession, chair: int | None
) -> TreatmentSession:
    """The patient has arrived: the planned session becomes a session in a chair."""
    course = planned.course
    require_patient_access(actor, course.patient, "sessions.check_in")
    location = course.location
    if chair is not None and not 1 <= chair <= location.chair_count:
        raise ValidationError(f"Choose a chair from 1 to {location.chair_count}.")
    if course.phase == course.Phase.ENDED:
        raise ValidationError("This treatment course has ended.")
    if course.protocol.route == "esketamine":
        problems = esketamine_gate(course, location)
        if problems:
            raise ValidationError(" ".join(problems) + " The session cannot start.")
    rules = session_rules(course.protocol)
    with transaction.atomic():
        if TreatmentSession.objects.filter(planned_session=planned).exists():
            raise ValidationError("This session is already checked in.")
        finished = TreatmentSession.objects.filter(
            course=course, status__in=FINISHED_STATUSES
        ).values_list("planned_session_id", flat=True)
        unfinished = list(
            course.planned_sessions.filter(number__lt=planned.number)
            .exclude(pk__in=finished)
            .values_list("number", flat=True)
        )
        problems = check_in_problems(
            session_day=timezone.localtime(planned.starts_at, location.tz).date(),
            today=timezone.localdate(timezone=location.tz),
            rule=rules.limits.check_in,
            unfinished_earlier=unfinished,
        )
        if problems:
            raise ValidationError(problems)
        if (
            chair is not None
            and TreatmentSession.objects.filter(
                location=location, chair=chair, status__in=ACTIVE_STATUSES
            ).exists()
        ):
            raise ValidationError(f"Chair {chair} is taken by another session in progress.")
        patient = course.patient
        session = _create_or_refuse(
            planned_session=planned,
            course=course,
            patient=patient,
            location=location,
            route=course.protocol.route,
            scheduled_at=planned.starts_at,
            chair=chair,
            monitoring_provider=actor if actor.can("sessions.record") else None,
            planned_dose_mg=planned.planned_dose_mg,
            escort_name=patient.escort_name,
            escort_phone=patient.escort_phone,
            status=SessionStatus.CHECKED_IN,
        )
        now = timezone.now()
        session.checked_in_at = now
        SessionTransition.objects.create(
            session=session,
            from_status=SessionStatus.SCHEDULED,
            to_status=SessionStatus.CHECKED_IN,
            actor=actor,
        )
        _save(session, ["checked_in_at"])
        _audit(actor, session, AuditAction.CREATE, "treatment_session", status="checked_in")
    return session


def _create_or_refuse(**fields: Any) -> TreatmentSession:
    """Create the session; a race lost to another check-in is refused, not an error."""
    try:
        with transaction.atomic():
            return TreatmentSession.objects.create(**fields)
    except IntegrityError:
        raise ValidationError(
            "Someone else just checked this patient in, or took this chair. Reload the page."
        ) from None


def prechecks_record(
    *,
    actor: User,
    session: TreatmentSession,
    version: int,
    weight_kg: Decimal,
    food_and_drink: str,
    escort_name: str,
    escort_phone: str,
    pregnancy_test: str,
    medication_changes: str,
) -> TreatmentSession:
    """Today's weight, food and drink, escort, pregnancy test and medication changes; the
    dose is recalculated for today's weight (IV) unless a prescriber has changed it, and
    everything derived from it follows (selectors.todays_dose)."""
    _require(actor, session, "sessions.record")
    rules = session_rules(session.course.protocol)
    if pregnancy_test not in PregnancyTest.values:
        raise ValidationError("Choose the pregnancy test result.")
    if rules.pregnancy_test_each_session and pregnancy_test == PregnancyTest.NOT_REQUIRED:
        raise ValidationError("This protocol asks for a pregnancy test before each session.")
    dose = todays_dose(session, weight_kg=weight_kg)
    if dose.problem:
        raise ValidationError(f"The dose cannot be calculated: {dose.problem}")
    with transaction.atomic():
        session = _locked(session, version=version)
        if session.status not in (SessionStatus.CHECKED_IN, SessionStatus.PRECHECKED):
            raise ValidationError("Pre-checks can only change before dosing starts.")
        classes = sorted(
            set(
                Medication.objects.filter(
                    patient=session.patient,
                    stopped_on__isnull=True,
                    medication_class__in=CONCOMITANT_KEYS,
                ).values_list("medication_class", flat=True)
            )
        )
        session.weight_kg = weight_kg
        session.food_and_drink = food_and_drink.strip()
        session.escort_name = escort_name.strip()
        session.escort_phone = escort_phone
        session.pregnancy_test = pregnancy_test
        session.medication_changes = medication_changes.strip()
        session.concomitant_classes = classes
        session.prechecks_by = actor
        session.prechecks_at = timezone.now()
        if session.dose_changed_by_id is None:
            session.dose_mg = dose.calculated_mg if not session.is_esketamine else dose.planned_mg
        _refresh_precheck_status(session, actor)
        _save(
            session,
            [
                "weight_kg",
                "food_and_drink",
                "escort_name",
                "escort_phone",
                "pregnancy_test",
                "medication_changes",
                "concomitant_classes",
                "prechecks_by",
                "prechecks_at",
                "dose_mg",
            ],
        )
        _audit(actor, session, AuditAction.UPDATE, "treatment_session", step="prechecks")
    return session


def _refresh_precheck_status(session: TreatmentSession, actor: User | None) -> None:
    if session.status not in (SessionStatus.CHECKED_IN, SessionStatus.PRECHECKED):
        return
    ready = not dosing_blockers(session)
    _move(
        session,
        SessionStatus.PRECHECKED if ready else SessionStatus.CHECKED_IN,
        actor=actor,
        reason="" if ready else "pre-checks incomplete",
    )


def _dose_findings(session: TreatmentSession, dose_mg: Decimal) -> list[Finding]:
    """A new dose against the protocol: IV by mg/kg of today's basis weight (its steps and
    maximum), esketamine by the label's doses for the patient's age and its 28 mg step."""
    data = session.course.protocol.data
    if dose_mg <= 0:
        return [Finding(Level.REFUSE, "dose_not_positive", "The dose must be more than 0 mg.")]
    if session.is_esketamine:
        return check_esketamine_dose(
            dose_mg=dose_mg,
            planned_mg=session.planned_dose_mg,
            allowed_mg=esketamine_allowed_mg(data, age_years=session.patient.age_years),
            step_mg=esketamine_step_mg(data),
        )
    today = todays_dose(session)
    if today.basis_weight_kg is None:
        problem = f"The dose cannot be checked: {today.problem}"
        return [Finding(Level.REFUSE, "dose_no_weight", problem)]
    return check_iv_dose(
        dose_mg=dose_mg,
        basis_weight_kg=today.basis_weight_kg,
        weight_basis=today.weight_basis,
        steps_mg_per_kg=allowed_mg_per_kg(data),
        max_mg_per_kg=max_mg_per_kg(data),
    )


def dose_change(
    *,
    actor: User,
    session: TreatmentSession,
    dose_mg: Decimal,
    reason: str,
    confirm: bool = False,
) -> TreatmentSession:
    """A prescriber changes today's dose, with a reason (the planned dose stays on record).
    Checked against the protocol on every change (refused above its maximum mg/kg or
    outside the label's esketamine doses; a dose off the protocol's steps is confirmed);
    the volume and pump rate follow from the new dose (selectors.todays_dose)."""
    _require(actor, session, "sessions.prescribe")
    if not reason.strip():
        raise ValidationError("Give the reason for changing the dose.")
    confirmed = _checked(_dose_findings(session, dose_mg), confirm=confirm)
    with transaction.atomic():
        session = _locked(session)
        if session.dosing_started_at is not None:
            raise ValidationError("Dosing has started: the dose can no longer change.")
        _require_open(session)
        previous = session.dose_mg
        session.dose_mg = dose_mg
        session.dose_changed_by = actor
        session.dose_change_reason = reason.strip()
        _save(session, ["dose_mg", "dose_changed_by", "dose_change_reason"])
        _audit(
            actor,
            session,
            AuditAction.UPDATE,
            "treatment_session",
            step="dose_change",
            previous_mg=previous,
            dose_mg=dose_mg,
            confirmed=confirmed,
        )
    return session


# --- dosing ----------------------------------------------------------------------------


def dosing_record(
    *,
    actor: User,
    session: TreatmentSession,
    kind: str,
    at: datetime | None = None,
    reason: str = "",
    lot_number: str = "",
    amount_drawn_ml: Decimal | None = None,
    pump_rate_ml_per_h: Decimal | None = None,
    container: Container | None = None,
    confirm: bool = False,
) -> DosingEvent:
    """Start, pause, resume or stop the infusion, or give the next esketamine device.

    Where the controlled-substance register holds stock of the drug at the location, the
    start draws from a chosen container in the same transaction (IV: the volume drawn;
    esketamine: the whole kit), and the lot is the container's. An IV start checks the
    pump rate against the rate computed for today's dose (refused far off, confirmed a
    little off; clinical.safety_limits) and the volume drawn against the dose's volume."""
    _require(actor, session, "sessions.record")
    now = timezone.now()
    with transaction.atomic():
        session = _locked(session)
        _require_open(session)
        when = _taken_at(at, now, session)
        rules = session_rules(session.course.protocol)
        events = list(session.dosing_events.all())
        last = events[-1] if events else None
        fields: list[str] = []
        device_number = None
        confirmed: list[str] = []
        if kind in (DosingEvent.Kind.START, DosingEvent.Kind.DEVICE) and not events:
            blockers = dosing_blockers(session)
            if blockers:
                raise ValidationError("Dosing cannot start: " + " ".join(blockers))
            drug = "esketamine" if session.is_esketamine else "ketamine"
            if container is None and Container.objects.usable(session.location_id, drug).exists():
                raise ValidationError(
                    "Choose the container you draw from: the controlled-substance register "
                    "holds this drug here."
                )
            if container is not None:
                lot_number = container.lot_number
            if not lot_number.strip():
                raise ValidationError("Record the lot number of the drug given.")
            session.lot_number = lot_number.strip()
            fields.append("lot_number")
            if not session.is_esketamine:
                if amount_drawn_ml is None or amount_drawn_ml <= 0:
                    raise ValidationError("Record the volume drawn (mL).")
                if pump_rate_ml_per_h is None or pump_rate_ml_per_h <= 0:
                    raise ValidationError("Record the pump rate (mL/h).")
                strength = container.product.strength_mg_per_ml if container else None
                preparation = todays_dose(session, stock_mg_per_ml=strength).preparation
                if preparation is None:
                    raise ValidationError("Today's dose is not set.")
                confirmed = _checked(
                    [
                        *check_pump_rate(
                            entered_ml_per_h=pump_rate_ml_per_h,
                            computed_ml_per_h=preparation.rate_ml_per_h,
                            bag_ml=preparation.bag_ml,
                            limits=rules.limits,
                        ),
                        *check_drawn_volume(
                            drawn_ml=amount_drawn_ml, dose_volume_ml=preparation.drug_volume_ml
                        ),
                    ],
                    confirm=confirm,
                )
                session.amount_drawn_ml = amount_drawn_ml
                session.pump_rate_ml_per_h = pump_rate_ml_per_h
                fields += ["amount_drawn_ml", "pump_rate_ml_per_h"]
            session.dosing_started_at = when
            fields.append("dosing_started_at")
            if container is not None:
                draw_for_session(
                    actor=actor,
                    session=session,
                    container=container,
                    amount_ml=container.remaining_ml
                    if session.is_esketamine
                    else session.amount_drawn_ml,
                    occurred_at=when,
                )
            _move(session, SessionStatus.DOSING, actor=actor)
        if session.is_esketamine:
            if kind != DosingEvent.Kind.DEVICE:
                raise ValidationError("Esketamine is recorded device by device.")
            devices = esketamine_dose(dose_mg=int(session.dose_mg or 0)).devices
            device_number = len(events) + 1
            if device_number > devices:
                raise ValidationError(f"All {devices} devices are already recorded.")
            if last is not None:
                gap = (when - last.at).total_seconds() / 60
                if gap < rules.minutes_between_devices:
                    raise ValidationError(
                        f"Wait {rules.minutes_between_devices} minutes between devices "
                        f"(Spravato label); the last device was {gap:.0f} min ago."
                    )
            if device_number == devices:
                session.dosing_ended_at = when
                fields.append("dosing_ended_at")
                _move(session, SessionStatus.MONITORING, actor=actor)
        else:
            if kind == DosingEvent.Kind.DEVICE:
                raise ValidationError("Devices are for esketamine sessions.")
            state = last.kind if last else None
            allowed = {
                None: {DosingEvent.Kind.START},
                DosingEvent.Kind.START: {DosingEvent.Kind.PAUSE, DosingEvent.Kind.STOP},
                DosingEvent.Kind.RESUME: {DosingEvent.Kind.PAUSE, DosingEvent.Kind.STOP},
                DosingEvent.Kind.PAUSE: {DosingEvent.Kind.RESUME, DosingEvent.Kind.STOP},
                DosingEvent.Kind.STOP: set(),
            }[state]
            if kind not in allowed:
                raise ValidationError(
                    "The infusion has ended."
                    if state == DosingEvent.Kind.STOP
                    else f"You cannot {DosingEvent.Kind(kind).label.split()[-1].lower()[:-1]} "
                    f"the infusion now."
                )
            if last is not None and when < last.at:
                raise ValidationError("This time is before the infusion's last step.")
            if kind == DosingEvent.Kind.PAUSE and not reason.strip():
                raise ValidationError("Give the reason for pausing the infusion.")
            if kind == DosingEvent.Kind.STOP:
                planned_end = (session.dosing_started_at or when) + timedelta(
                    minutes=rules.infusion_minutes or 0
                )
                if when < planned_end - timedelta(minutes=1) and not reason.strip():
                    raise ValidationError(
                        "The infusion is stopping before its planned time: give the reason."
                    )
                session.dosing_ended_at = when
                fields.append("dosing_ended_at")
                _move(session, SessionStatus.MONITORING, actor=actor)
        event = DosingEvent.objects.create(
            session=session,
            kind=kind,
            at=when,
            device_number=device_number,
            reason=reason.strip(),
            recorded_by=actor,
        )
        _refresh_alerts(session, now)
        _save(session, fields)
        _audit(
            actor,
            session,
            AuditAction.CREATE,
            "dosing_event",
            kind=kind,
            at=when,
            confirmed=confirmed,
        )
    return event


# --- readings --------------------------------------------------------------------------


def vitals_record(
    *,
    actor: User,
    session: TreatmentSession,
    systolic: int | None,
    diastolic: int | None,
    heart_rate: int | None,
    spo2: int | None,
    respiratory_rate: int | None,
    taken_at: datetime | None = None,
    confirm: bool = False,
) -> VitalSign:
    """One set of vital signs; alerts are re-evaluated over the whole session at once.

    Each value is checked against the protocol's ranges (clinical.safety_limits): outside
    its plausible range it is refused, outside the usual range it needs a confirmation."""
    _require(actor, session, "sessions.record")
    now = timezone.now()
    values = {
        "systolic": systolic,
        "diastolic": diastolic,
        "heart_rate": heart_rate,
        "spo2": spo2,
        "respiratory_rate": respiratory_rate,
    }
    if all(value is None for value in values.values()):
        raise ValidationError("Enter at least one vital sign.")
    if (systolic is None) != (diastolic is None):
        raise ValidationError("Enter both systolic and diastolic BP, or neither.")
    limits = session_rules(session.course.protocol).limits
    confirmed = _checked(check_vitals(values, limits), confirm=confirm)
    with transaction.atomic():
        session = _locked(session)
        _require_open(session)
        when = _taken_at(taken_at, now, session)
        try:
            VitalReading(at=when, **values)
        except ValueError as error:
            raise ValidationError(str(error).capitalize() + ".") from error
        predose = session.dosing_started_at is None or when < session.dosing_started_at
        if predose and systolic is None:
            raise ValidationError("A pre-dose reading needs the blood pressure.")
        reading = VitalSign.objects.create(
            session=session,
            predose=predose,
            taken_at=when,
            recorded_by=actor,
            confirmed=confirmed,
            **values,
        )
        _refresh_alerts(session, now)
        if predose:
            _refresh_precheck_status(session, actor)
        _save(session, [])
        _audit(
            actor,
            session,
            AuditAction.CREATE,
            "vital_sign",
            reading=reading.pk,
            late=reading.is_late,
            confirmed=confirmed,
        )
    return reading


def score_record(
    *,
    actor: User,
    session: TreatmentSession,
    instrument: str,
    score: int,
    taken_at: datetime | None = None,
) -> SessionScore:
    _require(actor, session, "sessions.record")
    if instrument not in SessionScore.Instrument.values:
        raise ValidationError("Choose MOAA/S, CADSS or CADSS-6.")
    low, high = SessionScore.score_range(instrument)
    if not low <= score <= high:
        label = SessionScore.Instrument(instrument).label
        raise ValidationError(f"{label}: the score must be from {low} to {high}.")
    now = timezone.now()
    with transaction.atomic():
        session = _locked(session)
        _require_open(session)
        when = _taken_at(taken_at, now, session)
        entry = SessionScore.objects.create(
            session=session, instrument=instrument, score=score, taken_at=when, recorded_by=actor
        )
        _refresh_alerts(session, now)
        _save(session, [])
        _audit(actor, session, AuditAction.CREATE, "session_score", instrument=instrument)
    return entry


def observation_record(
    *, actor: User, session: TreatmentSession, model: type, fields: dict[str, Any]
) -> Any:
    """A side effect, intervention or adverse event (model-validated; nothing saved if not)."""
    if model not in (SideEffect, Intervention, AdverseEvent):
        raise ValueError(f"not an observation: {model}")
    _require(actor, session, "sessions.record")
    now = timezone.now()
    with transaction.atomic():
        session = _locked(session)
        _require_open(session)
        taken_at = _taken_at(fields.pop("taken_at", None), now, session)
        entry = model(session=session, taken_at=taken_at, recorded_by=actor, **fields)
        entry.full_clean()
        if (
            model is Intervention
            and entry.kind == Intervention.Kind.PRN_MEDICATION
            and not (entry.medication and entry.dose)
        ):
            raise ValidationError("A PRN medication needs its name and dose.")
        entry.save()
        _save(session, [])
        _audit(actor, session, AuditAction.CREATE, model._meta.model_name)
    return entry


STRIKABLE = (VitalSign, SessionScore, SideEffect, Intervention, AdverseEvent)
# The audit log's names for them, as when they were recorded.
ENTRY_OBJECT_TYPES: dict[type, str] = {VitalSign: "vital_sign", SessionScore: "session_score"}


def entry_strike(
    *, actor: User, session: TreatmentSession, entry: LateEntry, reason: str
) -> LateEntry:
    """Strike a charted reading, score or observation through as entered in error: by the
    person who charted it or a nurse, with a reason, until the note is signed (afterwards
    only addenda). The entry stays on the chart, crossed out, and in the note's history;
    it no longer counts towards alerts, the pre-dose baseline or discharge, which are
    re-evaluated at once. Alerts already raised stay until a person acknowledges them."""
    _require(actor, session, "sessions.record")
    if not isinstance(entry, STRIKABLE) or entry.session_id != session.pk:
        raise ValueError(f"not an entry of this session: {entry!r}")
    if not reason.strip():
        raise ValidationError("Say why it is struck through (e.g. 'typed 20 for 80').")
    if entry.recorded_by_id != actor.pk and actor.role != Role.NURSE:
        raise PermissionDenied("Only the person who charted it, or a nurse, can strike it out.")
    now = timezone.now()
    with transaction.atomic():
        session = _locked(session)
        if SessionNote.objects.filter(session=session).exists():
            raise ValidationError(
                "The note is signed: nothing on it changes. Add an addendum instead."
            )
        struck = (
            type(entry)
            .objects.filter(pk=entry.pk, struck_at__isnull=True)
            .update(struck_at=now, struck_by=actor, strike_reason=reason.strip())
        )
        if not struck:
            raise ValidationError("This entry is already struck through.")
        _refresh_alerts(session, now)
        _refresh_precheck_status(session, actor)
        _save(session, [])
        _audit(
            actor,
            session,
            AuditAction.UPDATE,
            ENTRY_OBJECT_TYPES.get(type(entry), entry._meta.model_name),
            entry=entry.pk,
            struck_through=reason.strip(),
            original=str(entry),
        )
    entry.refresh_from_db()
    return entry


# --- alerts ----------------------------------------------------------------------------


def _refresh_alerts(session: TreatmentSession, now: datetime) -> list[SessionAlert]:
    """Evaluate the protocol's rules over all of the session's readings and store any alert
    not stored yet (matched by kind and time, so re-evaluating never duplicates one)."""
    rules = session_rules(session.course.protocol)
    t = rules.thresholds
    vitals = list(session.vital_signs.counted())
    found = reading_alerts(vitals, list(session.scores.counted()), session.dosing_started_at, t)
    overdue_open = session.alerts.filter(
        kind=AlertKind.READING_OVERDUE, acknowledged_at__isnull=True
    ).exists()
    if not overdue_open and session.status in (
        SessionStatus.DOSING,
        SessionStatus.MONITORING,
        SessionStatus.READY,
    ):
        last = max((v.taken_at for v in vitals if not v.predose), default=None)
        overdue = overdue_alert(
            dosing_started_at=session.dosing_started_at,
            last_reading_at=last,
            now=now,
            t=t,
            dosing_ended_at=session.dosing_ended_at,
        )
        if overdue is not None:
            found.append(overdue)
    new = [SessionAlert.raised(session, alert, now) for alert in found]
    created = SessionAlert.objects.bulk_create(new, ignore_conflicts=True)
    _refresh_readiness(session, now)
    return created


def _refresh_readiness(session: TreatmentSession, now: datetime) -> None:
    """Ready for discharge is recorded when every criterion first holds (REMS asks for the
    minute the patient would have been ready), and undone if a criterion fails again."""
    if session.status not in (SessionStatus.MONITORING, SessionStatus.READY):
        return
    ready = discharge_assessment(session, now).ready
    if ready and session.status == SessionStatus.MONITORING:
        _move(session, SessionStatus.READY, actor=None, reason="every discharge criterion met")
        if session.ready_at is None:
            session.ready_at = now
    elif not ready and session.status == SessionStatus.READY:
        _move(session, SessionStatus.MONITORING, actor=None, reason="a criterion no longer met")


def overdue_alerts_refresh(sessions: Sequence[TreatmentSession], now: datetime) -> int:
    """Raise READING_OVERDUE alerts for sessions whose vitals are overdue (the chair board
    and the chart call this as they refresh, so an overdue reading alerts even when nobody
    is typing). `sessions` carry `last_vitals_at` and `open_alert_list` (see
    selectors.board_sessions). One overdue alert at a time per session: while one is open,
    catching up on late entries does not raise another for each reading."""
    new = []
    for session in sessions:
        if session.status not in (
            SessionStatus.DOSING,
            SessionStatus.MONITORING,
            SessionStatus.READY,
        ) or any(a.kind == AlertKind.READING_OVERDUE for a in session.open_alert_list):
            continue
        t = session_rules(session.course.protocol).thresholds
        alert = overdue_alert(
            dosing_started_at=session.dosing_started_at,
            last_reading_at=session.last_vitals_at,
            now=now,
            t=t,
            dosing_ended_at=session.dosing_ended_at,
        )
        if alert is not None:
            new.append(SessionAlert.raised(session, alert, now))
    if not new:
        return 0
    SessionAlert.objects.bulk_create(new, ignore_conflicts=True)
    # Only those actually added (an acknowledged one for the same due time is not raised again).
    return SessionAlert.objects.filter(
        kind=AlertKind.READING_OVERDUE, raised_at=now, session__in=[a.session for a in new]
    ).count()


def alert_acknowledge(*, actor: User, alert: SessionAlert, action_taken: str) -> SessionAlert:
    """A person acknowledges an alert with the action taken; nothing else closes one. The
    pre-dose caution is the prescriber's: they weigh the BP rise against the benefit."""
    session = alert.session
    capability = (
        "sessions.prescribe" if alert.kind == AlertKind.PREDOSE_BP_CAUTION else "sessions.record"
    )
    _require(actor, session, capability)
    if not action_taken.strip():
        raise ValidationError("Say what was done about this alert.")
    now = timezone.now()
    with transaction.atomic():
        session = _locked(session)
        updated = SessionAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=now, acknowledged_by=actor, action_taken=action_taken.strip()
        )
        if not updated:
            raise ValidationError("This alert was already acknowledged.")
        _refresh_precheck_status(session, actor)
        _refresh_readiness(session, now)
        _save(session, [])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=session.patient_id,
            object_type="session_alert",
            object_id=alert.pk,
            detail={"acknowledged": alert.kind},
        )
    alert.refresh_from_db()
    return alert


# --- discharge, stop, cancel -----------------------------------------------------------


def discharge_confirmations_record(
    *,
    actor: User,
    session: TreatmentSession,
    symptoms_resolved: bool,
    escort_present: bool,
    instructions_given: bool,
) -> TreatmentSession:
    _require(actor, session, "sessions.record")
    now = timezone.now()
    with transaction.atomic():
        session = _locked(session)
        _require_open(session)
        session.symptoms_resolved = symptoms_resolved
        session.escort_present = escort_present
        session.instructions_given = instructions_given
        _refresh_readiness(session, now)
        _save(session, ["symptoms_resolved", "escort_present", "instructions_given"])
        _audit(actor, session, AuditAction.UPDATE, "treatment_session", step="confirmations")
    return session


def session_discharge(
    *,
    actor: User,
    session: TreatmentSession,
    override_reason: str = "",
    password: str = "",
) -> TreatmentSession:
    """Discharge when every criterion is met; otherwise only a prescriber's override, with
    a reason and their password as signature."""
    _require(actor, session, "sessions.record")
    now = timezone.now()
    with transaction.atomic():
        session = _locked(session)
        if session.status not in (SessionStatus.MONITORING, SessionStatus.READY):
            raise ValidationError("Only a patient being monitored after dosing is discharged.")
        assessment = discharge_assessment(session, now)
        override = bool(override_reason.strip())
        if not assessment.ready:
            unmet = [c.explanation for c in assessment.criteria if not c.met]
            if not override:
                raise ValidationError("Discharge is not yet safe: " + " ".join(unmet))
            if not actor.can("sessions.prescribe"):
                raise PermissionDenied("Only a prescriber can override the discharge criteria.")
            signature_password_check(
                actor=actor,
                password=password,
                patient_id=session.patient_id,
                object_type="treatment_session",
                object_id=session.pk,
            )
            session.discharge_override_by = actor
            session.discharge_override_reason = override_reason.strip()
        if assessment.ready and session.ready_at is None:
            # Every criterion held before anyone saved anything that noticed: the patient was
            # ready once the observation time and the last reading or score were in.
            moments = [assessment.earliest_time or now]
            moments += [v.taken_at for v in session.vital_signs.counted().filter(predose=False)]
            moments += [s.taken_at for s in session.scores.counted()]
            session.ready_at = min(max(moments), now)
        session.discharged_at = now
        session.discharged_by = actor
        session.discharge_assessment = [
            {"key": c.key, "met": c.met, "explanation": c.explanation} for c in assessment.criteria
        ]
        _move(
            session,
            SessionStatus.DISCHARGED,
            actor=actor,
            reason=f"override: {override_reason.strip()}" if not assessment.ready else "",
        )
        _save(
            session,
            [
                "discharged_at",
                "discharged_by",
                "discharge_assessment",
                "discharge_override_by",
                "discharge_override_reason",
            ],
        )
        _audit(
            actor,
            session,
            AuditAction.UPDATE,
            "treatment_session",
            step="discharge",
            override=not assessment.ready,
        )
    return session


def session_stop_early(*, actor: User, session: TreatmentSession, reason: str) -> TreatmentSession:
    """End a session before it completes (e.g. the patient chose to leave); the chart so
    far is kept and can still be signed."""
    return _end(actor, session, SessionStatus.STOPPED_EARLY, reason)


def session_cancel(*, actor: User, planned: PlannedSession, reason: str) -> TreatmentSession:
    """Cancel a planned session that has not started dosing."""
    require_patient_access(actor, planned.course.patient, "sessions.check_in")
    if not reason.strip():
        raise ValidationError("Give the reason for cancelling.")
    with transaction.atomic():
        session = _session_of(planned)
        return _end(actor, session, SessionStatus.CANCELLED, reason, capability="sessions.check_in")


def _session_of(planned: PlannedSession) -> TreatmentSession:
    """The planned session's treatment session, made (scheduled, not checked in) when it has
    none yet: a cancelled session is recorded as one."""
    session = TreatmentSession.objects.filter(planned_session=planned).first()
    if session is not None:
        return session
    course = planned.course
    return TreatmentSession.objects.create(
        planned_session=planned,
        course=course,
        patient=course.patient,
        location=course.location,
        route=course.protocol.route,
        scheduled_at=planned.starts_at,
        planned_dose_mg=planned.planned_dose_mg,
    )


def course_sessions_cancel(*, actor: User, course: TreatmentCourse, reason: str) -> int:
    """The course ended (treatment.signals.course_ended): cancel each of its planned
    sessions not yet started, with the course's reason; refused while one is in progress.
    Returns how many were cancelled."""
    in_progress = TreatmentSession.objects.filter(
        course=course,
        status__in=(SessionStatus.DOSING, SessionStatus.MONITORING, SessionStatus.READY),
    ).first()
    if in_progress is not None:
        raise ValidationError(
            f"Session {in_progress.planned_session.number} of this course is in progress: "
            "finish it (discharge or stop it early) before ending the course."
        )
    text = f"Course ended: {reason}"
    started = TreatmentSession.objects.filter(course=course).exclude(
        status__in=(SessionStatus.CHECKED_IN, SessionStatus.PRECHECKED)
    )
    cancelled = 0
    for planned in course.planned_sessions.exclude(
        pk__in=started.values("planned_session_id")
    ).order_by("number"):
        session = _session_of(planned)
        session.end_reason = text
        _move(session, SessionStatus.CANCELLED, actor=actor, reason=text)
        _save(session, ["end_reason"])
        _audit(actor, session, AuditAction.UPDATE, "treatment_session", step="cancelled")
        cancelled += 1
    return cancelled


def _end(
    actor: User,
    session: TreatmentSession,
    to: SessionStatus,
    reason: str,
    capability: str = "sessions.record",
) -> TreatmentSession:
    _require(actor, session, capability)
    if not reason.strip():
        raise ValidationError("Give the reason.")
    with transaction.atomic():
        session = _locked(session)
        allowed = (
            (SessionStatus.SCHEDULED, SessionStatus.CHECKED_IN, SessionStatus.PRECHECKED)
            if to == SessionStatus.CANCELLED
            else (
                SessionStatus.CHECKED_IN,
                SessionStatus.PRECHECKED,
                SessionStatus.DOSING,
                SessionStatus.MONITORING,
                SessionStatus.READY,
            )
        )
        if session.status not in allowed:
            raise ValidationError(
                "A session that has started dosing is stopped early, not cancelled."
                if to == SessionStatus.CANCELLED
                else "This session is not in progress."
            )
        session.end_reason = reason.strip()
        if (
            to == SessionStatus.STOPPED_EARLY
            and session.dosing_started_at
            and not (session.dosing_ended_at)
        ):
            session.dosing_ended_at = timezone.now()
        _move(session, to, actor=actor, reason=reason.strip())
        _save(session, ["end_reason", "dosing_ended_at"])
        _audit(actor, session, AuditAction.UPDATE, "treatment_session", step=str(to))
    return session


# --- the signed note -------------------------------------------------------------------


def note_sign(
    *, actor: User, session: TreatmentSession, password: str, comment: str = ""
) -> SessionNote:
    """The monitoring provider signs the note composed from the chart (with their own
    comment). Afterwards the note is never edited: only addenda."""
    _require(actor, session, "sessions.sign_note")
    signature_password_check(
        actor=actor,
        password=password,
        patient_id=session.patient_id,
        object_type="treatment_session",
        object_id=session.pk,
    )
    with transaction.atomic():
        session = _locked(session)
        if SessionNote.objects.filter(session=session).exists():
            raise ValidationError("This note is already signed. Add an addendum instead.")
        if session.status not in (SessionStatus.DISCHARGED, SessionStatus.STOPPED_EARLY):
            raise ValidationError("The note is signed after discharge (or a stopped session).")
        # The session asks the register: a draw with volume not accounted for blocks it.
        problems = session_unaccounted(session)
        open_alerts = session.alerts.filter(acknowledged_at__isnull=True).count()
        if open_alerts:
            problems.append(f"{open_alerts} alert(s) are not acknowledged.")
        if problems:
            raise ValidationError("The note cannot be signed yet: " + " ".join(problems))
        body = note_compose(session)
        if comment.strip():
            body += "\n\nProvider's comment:\n" + comment.strip()
        note = SessionNote.objects.create(
            session=session,
            body=body,
            signed_by=actor,
            signed_by_name=actor.display_name,
            signature_meaning=("I monitored this session and this note is a true record of it."),
        )
        if session.status == SessionStatus.DISCHARGED:
            _move(session, SessionStatus.SIGNED, actor=actor)
        _save(session, [])
        _audit(actor, session, AuditAction.CREATE, "session_note", note=note.pk)
    return note


def note_cosign(*, actor: User, note: SessionNote, password: str) -> NoteCosignature:
    session = note.session
    _require(actor, session, "sessions.prescribe")
    if note.signed_by_id == actor.pk:
        raise ValidationError("A co-signature is by a different prescriber than the signer.")
    signature_password_check(
        actor=actor,
        password=password,
        patient_id=session.patient_id,
        object_type="session_note",
        object_id=note.pk,
    )
    with transaction.atomic():
        if NoteCosignature.objects.filter(note=note).exists():
            raise ValidationError("This note is already co-signed.")
        cosignature = NoteCosignature.objects.create(
            note=note,
            signed_by=actor,
            signed_by_name=actor.display_name,
            signature_meaning="I have reviewed this session note and agree with it.",
        )
        _audit(actor, session, AuditAction.CREATE, "note_cosignature", note=note.pk)
    return cosignature


def note_addendum_add(*, actor: User, note: SessionNote, body: str) -> NoteAddendum:
    _require(actor, note.session, "sessions.sign_note")
    if not body.strip():
        raise ValidationError("Write the addendum.")
    with transaction.atomic():
        addendum = NoteAddendum.objects.create(
            note=note, body=body.strip(), written_by=actor, written_by_name=actor.display_name
        )
        _audit(actor, note.session, AuditAction.CREATE, "note_addendum", note=note.pk)
    return addendum


# --- REMS ------------------------------------------------------------------------------


def rems_submission_record(
    *,
    actor: User,
    session: TreatmentSession,
    submitted_on: Any,
    method: str,
    confirmation_number: str,
) -> RemsSubmission:
    """Record that the Patient Monitoring Form was submitted (date, method, confirmation)."""
    _require(actor, session, "sessions.rems")
    if not session.is_esketamine:
        raise ValidationError("Only esketamine sessions have a REMS monitoring form.")
    if method not in RemsSubmission.Method.values:
        raise ValidationError("Choose how the form was submitted.")
    if not confirmation_number.strip():
        raise ValidationError("Enter the confirmation number the REMS gave.")
    today = timezone.localdate(timezone=session.location.tz)
    if submitted_on > today:
        raise ValidationError("The submission date cannot be in the future.")
    if submitted_on < session.treatment_date:
        raise ValidationError("The submission date is before the session.")
    if session.discharged_at is None and session.status != SessionStatus.STOPPED_EARLY:
        raise ValidationError("The form is submitted after the session ends.")
    form = rems_form(session)
    if not form.complete:
        missing = [f.label for f in form.fields if f.missing]
        raise ValidationError("Complete the form first; missing: " + "; ".join(missing) + ".")
    with transaction.atomic():
        if RemsSubmission.objects.filter(session=session).exists():
            raise ValidationError("This form is already recorded as submitted.")
        submission = RemsSubmission.objects.create(
            session=session,
            submitted_on=submitted_on,
            method=method,
            confirmation_number=confirmation_number.strip(),
            form=[{"key": f.key, "label": f.label, "value": f.value} for f in form.fields],
            recorded_by=actor,
        )
        _audit(actor, session, AuditAction.CREATE, "rems_submission", method=method)
    return submission


def audit_session_views(
    actor: User,
    sessions: Sequence[TreatmentSession],
    page: str,
    repeat_after: timedelta | None = None,
) -> None:
    """One access entry per session shown on a list page (the board, the REMS list).

    A page that refreshes itself (the chair board, every 10 seconds) passes `repeat_after`:
    a session this person already has an entry for on this page within that time is not
    recorded again, so the log says who watched and when without an entry per refresh.
    """
    if repeat_after is not None and sessions:
        seen = set(
            AuditEntry.objects.filter(
                actor_id=actor.pk,
                action=AuditAction.VIEW,
                object_type="treatment_session",
                object_id__in=[str(s.pk) for s in sessions],
                occurred_at__gte=timezone.now() - repeat_after,
                detail__page=page,
            )
            # Unordered: ordered by sequence, SQLite walked the whole log to find them
            # (audit_actor_time serves the lookup).
            .order_by()
            .values_list("object_id", flat=True)
        )
        sessions = [s for s in sessions if str(s.pk) not in seen]
    audit_record_events(
        actor=actor,
        events=[
            AuditEvent(
                action=AuditAction.VIEW,
                patient_id=s.patient_id,
                object_type="treatment_session",
                object_id=s.pk,
                detail={"page": page},
            )
            for s in sessions
        ],
    )
