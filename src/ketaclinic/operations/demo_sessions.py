"""Demo session charts: completed sessions with signed notes, and today's chair board.

The demo's treatment courses are put under way: the IV induction courses that
demo_treatment plans from next Monday are dated back along the protocol's own schedule
(as if planned a couple of weeks ago), and one more Salt Lake City patient gets an
esketamine (Spravato) course that started about three weeks ago. Every planned session
before today then has a complete chart: check-in, pre-checks, pre-dose vitals, dosing,
vitals at the protocol's interval through dosing and recovery, MOAA/S and CADSS, a side
effect or two, discharge with its assessment, the signed note and every lifecycle step.
Esketamine sessions have their REMS monitoring form submitted, pending or overdue.

Today, at the same location, up to three patients are in chairs 1-3: one checked in with
pre-checks done, one about 20 minutes into an infusion, one in recovery.

The charting services refuse times more than 12 hours back, so the rows are written
directly, with the times they would have had. Alerts come from the same rules the services
apply (clinical.monitoring.evaluate_readings and predose_check over the session's
readings), and every past alert was acknowledged with the action taken. Deterministic
from a fixed seed; dated relative to now. Only the few patients with courses get charts,
so a 100,000-patient demo is no slower.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.charting.models import (
    DosingEvent,
    Intervention,
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
from ketaclinic.charting.rules import SessionRules, session_rules
from ketaclinic.charting.selectors import assessment_from, note_compose, reading_alerts, rems_form
from ketaclinic.clinical.dosing import WeightBasis, esketamine_dose, iv_ketamine_dose
from ketaclinic.clinical.monitoring import (
    AlertKind,
)
from ketaclinic.clinical.rems import CONCOMITANT_CLASSES
from ketaclinic.clinical.schedule import plan_session_starts
from ketaclinic.clinical.scoring import get_instrument
from ketaclinic.eligibility import services as eligibility
from ketaclinic.eligibility.models import (
    ConsentDocument,
    ConsentSignature,
    ConsentWitness,
    EligibilityDecision,
    IntakeEvaluation,
)
from ketaclinic.measures.models import AssessmentResponse, ResponseContext
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.operations.demo_measures import answers_summing_to, response_row
from ketaclinic.operations.demo_treatment import verify_allergies
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import BodyMeasurement, Medication, Patient
from ketaclinic.treatment.models import PlannedSession, ProtocolVersion, TreatmentCourse
from ketaclinic.treatment.protocol_data import schedule_rules
from ketaclinic.treatment.services import course_create

SESSIONS_SEED = 20261122
# Sessions already given in each IV course, by course (the next one is today's).
IV_SESSIONS_DONE = (4, 3, 5)
ESKETAMINE_SESSIONS_DONE = 5
ESKETAMINE_PROTOCOL = "esketamine-trd"
ESKETAMINE_TIME = time(13, 0)
# The course (index among the IV courses) and its session (index among the past ones)
# with the critical BP episode; every other session stays below the alert levels.
CRITICAL_EPISODE = (0, 1)
# Today's board: (phase, chair).
BOARD = (("prechecked", 1), ("dosing", 2), ("recovery", 3))
SIGNATURE_MEANING = "I monitored this session and this note is a true record of it."
CONCOMITANT_KEYS = frozenset(key for key, _ in CONCOMITANT_CLASSES)

FOOD_AND_DRINK = [
    "Light breakfast at 06:30, clear fluids until two hours before",
    "Nothing to eat for four hours, water only",
    "Toast and tea at 07:00, nothing since",
    "Small lunch four hours before, water since",
]
IV_SIDE_EFFECTS = [
    (SideEffect.Kind.NAUSEA, SideEffect.Severity.MILD, "Settled with slow breathing."),
    (SideEffect.Kind.DIZZINESS, SideEffect.Severity.MILD, "Resolved lying back."),
    (SideEffect.Kind.HEADACHE, SideEffect.Severity.MILD, ""),
    (SideEffect.Kind.ANXIETY, SideEffect.Severity.MILD, "Reassured; music helped."),
    (SideEffect.Kind.NAUSEA, SideEffect.Severity.MODERATE, "Ondansetron given."),
]
ESKETAMINE_SIDE_EFFECTS = [
    (SideEffect.Kind.DIZZINESS, SideEffect.Severity.MILD, "Resolved by 60 minutes."),
    (SideEffect.Kind.NAUSEA, SideEffect.Severity.MILD, ""),
    (SideEffect.Kind.HEADACHE, SideEffect.Severity.MILD, ""),
    (SideEffect.Kind.NAUSEA, SideEffect.Severity.MODERATE, "Ondansetron given."),
]
ALERT_ACTIONS = {
    AlertKind.CRITICAL_BP_REPEATED: (
        "Infusion paused; prescriber at the bedside. Labetalol 10 mg IV given, BP rechecked "
        "every 5 minutes; infusion resumed once BP was below 160/100."
    ),
    AlertKind.SEVERE_BP: "Dosing stopped; prescriber at the bedside; BP rechecked every 5 min.",
    AlertKind.TACHYCARDIA_SUSTAINED: "Reassured, rhythm checked; heart rate settling.",
    AlertKind.LOW_SPO2: "Deep breaths encouraged, chin lift; SpO2 back above the floor.",
    AlertKind.DEEP_SEDATION: "Roused to voice, airway checked; observed continuously.",
    AlertKind.PREDOSE_BP_CAUTION: "BP rise weighed against the benefit: proceed, recheck.",
    AlertKind.PREDOSE_BP_HOLD: "Dosing held; rested and rechecked below the hold level.",
}


@dataclass
class _Staff:
    nurse: User
    prescriber: User
    coordinator: User


@dataclass(frozen=True)
class _Reading:
    at: datetime
    systolic: int
    diastolic: int
    heart_rate: int
    spo2: int
    respiratory_rate: int


@dataclass
class _Plan:
    """One session's timeline, before it is cut at `now` (today's board) or kept whole."""

    checked_in_at: datetime
    prechecks_at: datetime
    start: datetime  # infusion start or first device
    end: datetime  # infusion stop or last device
    confirm_at: datetime  # escort, instructions and symptoms confirmed
    ready_at: datetime
    discharged_at: datetime
    signed_at: datetime
    readings: list[_Reading] = field(default_factory=list)
    scores: list[tuple[datetime, str, int]] = field(default_factory=list)
    events: list[tuple[datetime, str, int | None, str]] = field(default_factory=list)
    side_effects: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    interventions: list[tuple[datetime, dict[str, str]]] = field(default_factory=list)


@dataclass
class _Rows:
    vitals: list[VitalSign] = field(default_factory=list)
    scores: list[SessionScore] = field(default_factory=list)
    events: list[DosingEvent] = field(default_factory=list)
    side_effects: list[SideEffect] = field(default_factory=list)
    interventions: list[Intervention] = field(default_factory=list)
    alerts: list[SessionAlert] = field(default_factory=list)
    transitions: list[SessionTransition] = field(default_factory=list)
    responses: list[AssessmentResponse] = field(default_factory=list)


def _minutes(value: int | float) -> timedelta:
    return timedelta(minutes=value)


def _local_day(moment: datetime, location: Location) -> date:
    return timezone.localtime(moment, location.tz).date()


def _staff(location: Location) -> _Staff:
    def first(role: Role) -> User:
        at_location = User.objects.filter(role=role, locations=location, is_active=True)
        user = at_location.order_by("pk").first()
        return user or User.objects.filter(role=Role.MEDICAL_DIRECTOR).order_by("pk").first()

    return _Staff(first(Role.NURSE), first(Role.PRESCRIBER), first(Role.COORDINATOR))


# --- putting the courses under way -----------------------------------------------------


def _first_day_under_way(
    *,
    data: dict[str, Any],
    location: Location,
    local_time: time,
    today: date,
    done: int,
    also: Callable[[list[date]], bool] = lambda days: True,
    next_after_today: bool = False,
) -> date | None:
    """The latest first day from which the protocol's schedule has given `done` sessions
    before today and has more to come (on today's board, the next one moves to today; off
    it, `next_after_today` keeps the next one after today, so no session is left behind
    earlier today). Preferably none was yesterday and the one after the next is at least
    two days on, so that today's session keeps the protocol's gap; a Saturday after a
    Monday-Wednesday-Friday week cannot."""
    rules = schedule_rules(data)
    candidates = []
    for back in range(1, 120):
        first = today - timedelta(days=back)
        starts = plan_session_starts(
            first_day=first, local_time=local_time, tz=location.timezone, rules=rules
        )
        days = [_local_day(start, location) for start in starts]
        before = [d for d in days if d < today]
        if (
            len(before) == done
            and len(days) > done
            and (days[done] > today or not next_after_today)
            and also(before)
        ):
            candidates.append((first, days))
    for first, days in candidates:
        keeps_gap = days[done - 1] < today - timedelta(days=1) and (
            len(days) <= done + 1 or days[done + 1] >= today + timedelta(days=2)
        )
        if keeps_gap:
            return first
    if candidates:
        return candidates[0][0]
    return None  # No schedule gives `done` sessions before today, as asked.


def _redate_course(course: TreatmentCourse, today: date, done: int, *, on_board: bool) -> None:
    """Move a course planned from next Monday back along its own schedule, so that `done`
    sessions are past (the clinic's copy of the plan, as if made a few weeks ago); a course
    off today's board has its next session after today."""
    planned = list(course.planned_sessions.order_by("number"))
    if not planned or TreatmentSession.objects.filter(course=course).exists():
        return
    location = course.location
    local_time = timezone.localtime(planned[0].starts_at, location.tz).time()
    # Off the board on a Monday-Wednesday-Friday day, five infusions before today leave the
    # sixth today: fewer are given instead.
    for sessions_done in range(min(done, len(planned) - 1), 0, -1):
        first = _first_day_under_way(
            data=course.protocol.data,
            location=location,
            local_time=local_time,
            today=today,
            done=sessions_done,
            next_after_today=not on_board,
        )
        if first is not None:
            break
    else:
        return
    _move_course(course, planned, first, local_time)


def _move_course(
    course: TreatmentCourse, planned: list[PlannedSession], first: date, local_time: time
) -> None:
    """Plan the course's sessions from `first` along its own schedule, and date the intake,
    the signed decision and the consent it was planned from a week before that (courses
    are planned from today on, after both are signed; the demo's were planned weeks ago)."""
    location = course.location
    starts = plan_session_starts(
        first_day=first,
        local_time=local_time,
        tz=location.timezone,
        rules=schedule_rules(course.protocol.data),
        count=len(planned),
    )
    for session, start in zip(planned, starts, strict=True):
        session.starts_at = start
    PlannedSession.objects.bulk_update(planned, ["starts_at"])
    signed = datetime.combine(first - timedelta(days=7), time(11, 0), tzinfo=location.tz)
    decision = course.eligibility_decision
    IntakeEvaluation.objects.filter(pk=decision.intake_id).update(
        created_at=signed - timedelta(hours=2), updated_at=signed - timedelta(hours=1)
    )
    EligibilityDecision.objects.filter(pk=decision.pk).update(signed_at=signed)
    ConsentSignature.objects.filter(pk=course.consent_id).update(
        signed_at=signed + timedelta(minutes=20)
    )
    ConsentWitness.objects.filter(signature_id=course.consent_id).update(
        witnessed_at=signed + timedelta(minutes=20)
    )
    TreatmentCourse.objects.filter(pk=course.pk).update(created_at=signed + timedelta(minutes=40))
    Patient.objects.filter(pk=course.patient_id, nkda_verified_at__isnull=False).update(
        nkda_verified_at=signed - timedelta(hours=2)
    )


def _esketamine_patient(patients: Sequence[Patient], location: Location) -> Patient | None:
    """The next patient at the location after those with courses; in a small demo, the
    last one before them without a course (never the first, the portal demo patient)."""
    here = [p for p in patients if p.primary_location_id == location.pk]
    with_course = set(
        TreatmentCourse.objects.filter(patient__in=here).values_list("patient_id", flat=True)
    )
    if not with_course:
        return None
    last_with_course = max(i for i, p in enumerate(here) if p.pk in with_course)
    after = [p for p in here[last_with_course + 1 :] if p.pk not in with_course]
    before = [p for p in here[1:last_with_course] if p.pk not in with_course]
    if after:
        return after[0]
    return before[-1] if before else None


def _rems_mix(today: date) -> Callable[[list[date]], bool]:
    """Past sessions that give every REMS form status: at least two more than 7 days ago
    (one submitted, one overdue) and one within the last 7 days (pending)."""

    def ok(days: list[date]) -> bool:
        old = [d for d in days if d < today - timedelta(days=7)]
        recent = [d for d in days if d >= today - timedelta(days=7)]
        return len(old) >= 2 and len(recent) >= 1

    return ok


def _esketamine_course(
    patients: Sequence[Patient], location: Location, staff: _Staff, today: date
) -> TreatmentCourse | None:
    """An esketamine course, started about three weeks ago, for one more patient."""
    if not (location.spravato_rems_certified and location.spravato_rems_certification_number):
        return None
    protocol = ProtocolVersion.objects.filter(key=ESKETAMINE_PROTOCOL).order_by("-version").first()
    document = ConsentDocument.objects.order_by("-version").first()
    patient = _esketamine_patient(patients, location)
    if protocol is None or document is None or patient is None:
        return None
    first_day = _first_day_under_way(
        data=protocol.data,
        location=location,
        local_time=ESKETAMINE_TIME,
        today=today,
        done=ESKETAMINE_SESSIONS_DONE,
        also=_rems_mix(today),
    )
    if first_day is None:
        return None
    next_monday = today + timedelta(days=7 - today.weekday())
    verify_allergies(patient, staff.nurse)
    intake = eligibility.intake_start(actor=staff.nurse, patient=patient, route="esketamine")
    for step in eligibility.INTAKE_STEP_KEYS:
        intake = eligibility.intake_save_step(
            actor=staff.nurse,
            intake=intake,
            step=step,
            answers={"systolic_bp": 124, "diastolic_bp": 78} if step == "medical" else {},
            expected_version=intake.version,
        )
    advice = eligibility.intake_evaluate(intake).advice
    eligibility.eligibility_sign(
        actor=staff.prescriber,
        intake=intake,
        password=DEMO_PASSWORD,
        decision="approve",
        expected_version=intake.version,
        override_reason=""
        if advice != "not_eligible"
        else "Outside records confirm two failed adequate trials; patient prefers nasal spray.",
    )
    eligibility.consent_sign(
        actor=staff.nurse,
        patient=patient,
        document=document,
        agreed=True,
        typed_name=f"{patient.legal_first_name} {patient.legal_last_name}",
        read_version=document.version,
    )
    course = course_create(
        actor=staff.prescriber,
        patient=patient,
        protocol=protocol,
        first_day=next_monday,
        local_time=ESKETAMINE_TIME,
        rems_patient_enrollment_id=f"PT-{patient.mrn[-6:]}",
        rems_enrolled_on=today,
    )
    TreatmentCourse.objects.filter(pk=course.pk).update(
        rems_enrolled_on=first_day - timedelta(days=10)
    )
    _move_course(
        course, list(course.planned_sessions.order_by("number")), first_day, ESKETAMINE_TIME
    )
    course.refresh_from_db()
    return course


# --- timelines -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Baseline:
    systolic: int
    diastolic: int
    heart_rate: int


def _baseline(patient: Patient) -> _Baseline:
    """The patient's usual resting values (the same from session to session)."""
    # Seeded by the MRN, not the primary key: PostgreSQL does not reuse keys, so the same
    # demo seeded twice would otherwise differ.
    rng = random.Random(f"{SESSIONS_SEED}-{patient.mrn}")
    return _Baseline(rng.randint(112, 130), rng.randint(70, 82), rng.randint(62, 80))


def _reading(rng: random.Random, at: datetime, base: _Baseline, rise: float) -> _Reading:
    """A set of vitals `rise` (0..1) of the way to the peak (+16/+11 mmHg, +8 bpm)."""
    return _Reading(
        at=at,
        systolic=base.systolic + round(16 * rise) + rng.randint(-2, 2),
        diastolic=base.diastolic + round(11 * rise) + rng.randint(-2, 2),
        heart_rate=base.heart_rate + round(8 * rise) + rng.randint(-3, 3),
        spo2=rng.choice([96, 97, 97, 98, 98, 99]),
        respiratory_rate=rng.randint(13, 17),
    )


def _side_effects(
    rng: random.Random, plan: _Plan, choices: list[tuple[str, str, str]], span: tuple[int, int]
) -> None:
    for kind, severity, note in rng.sample(choices, k=rng.choice([1, 1, 2])):
        at = plan.start + _minutes(rng.randint(*span))
        plan.side_effects.append((at, kind, severity, note))
        if severity == SideEffect.Severity.MODERATE:
            plan.interventions.append(
                (
                    at + _minutes(2),
                    {
                        "kind": Intervention.Kind.PRN_MEDICATION,
                        "medication": "Ondansetron",
                        "dose": "4 mg",
                        "route": "ODT",
                        "note": "For nausea.",
                    },
                )
            )


def _arrival(rng: random.Random, start: datetime) -> tuple[datetime, datetime]:
    checked_in = start - _minutes(rng.randint(30, 40))
    return checked_in, checked_in + _minutes(rng.randint(6, 10))


def _iv_plan(
    rng: random.Random, start: datetime, rules: SessionRules, base: _Baseline, *, critical: bool
) -> _Plan:
    """IV ketamine: vitals every interval during the infusion, BP rising about +16/+11
    towards its end and falling back in recovery; the recovery interval after the stop;
    discharge after the minimum observation from the end of the infusion."""
    t = rules.thresholds
    minutes = rules.infusion_minutes or 40
    interval = t.vitals_interval_min
    recovery = t.recovery_interval_min or interval
    observe = rules.discharge.minimum_observation_min
    checked_in, prechecks = _arrival(rng, start)
    readings = [_reading(rng, start - _minutes(rng.randint(7, 12)), base, 0)]
    events: list[tuple[datetime, str, int | None, str]] = [
        (start, DosingEvent.Kind.START, None, "")
    ]
    interventions: list[tuple[datetime, dict[str, str]]] = []
    if critical:
        # BP over the critical level at 30 min and again on the recheck 5 min later: the
        # infusion is paused, the prescriber gives labetalol, it resumes at 45 min.
        readings.append(_reading(rng, start + _minutes(10), base, 0.4))
        over = [
            (20, 158, 96, 90),
            (30, 182, 106, 96),
            (35, 186, 112, 98),
            (40, 168, 100, 92),
            (45, 154, 94, 88),
        ]
        for offset, systolic, diastolic, heart_rate in over:
            readings.append(
                _Reading(start + _minutes(offset), systolic, diastolic, heart_rate, 97, 16)
            )
        events += [
            (
                start + _minutes(35),
                DosingEvent.Kind.PAUSE,
                None,
                "BP 186/112 on the recheck: at or above the critical level.",
            ),
            (start + _minutes(45), DosingEvent.Kind.RESUME, None, ""),
        ]
        interventions.append(
            (
                start + _minutes(38),
                {
                    "kind": Intervention.Kind.PRN_MEDICATION,
                    "medication": "Labetalol",
                    "dose": "10 mg",
                    "route": "IV",
                    "note": "Given by the prescriber for BP 186/112.",
                },
            )
        )
        end = start + _minutes(minutes + 10)
        readings.append(_Reading(end, 150, 92, 86, 98, 15))
        recovery_base = _Baseline(134, 81, 78)  # falling back from 150/92
    else:
        for offset in range(interval, minutes + 1, interval):
            readings.append(_reading(rng, start + _minutes(offset), base, offset / minutes))
        end = start + _minutes(minutes)
        if readings[-1].at != end:
            readings.append(_reading(rng, end, base, 1))
        recovery_base = base
    events.append((end, DosingEvent.Kind.STOP, None, ""))
    ready = end + _minutes(observe)
    after = recovery
    while end + _minutes(after) < ready:
        fade = math.exp(-after / 12)
        readings.append(_reading(rng, end + _minutes(after), recovery_base, fade))
        after += recovery
    readings.append(_reading(rng, ready, base, 0))
    plan = _Plan(
        checked_in_at=checked_in,
        prechecks_at=prechecks,
        start=start,
        end=end,
        confirm_at=ready - _minutes(3),
        ready_at=ready,
        discharged_at=ready + _minutes(rng.randint(3, 8)),
        signed_at=ready + _minutes(rng.randint(15, 40)),
        readings=readings,
        events=events,
        interventions=interventions,
        scores=[
            (start + _minutes(15), SessionScore.Instrument.MOAAS, rng.choice([3, 4, 4])),
            (start + _minutes(minutes - 1), SessionScore.Instrument.MOAAS, 4),
            (start + _minutes(minutes - 1), SessionScore.Instrument.CADSS, rng.randint(6, 26)),
            (end + _minutes(recovery * 2), SessionScore.Instrument.MOAAS, 5),
            (ready, SessionScore.Instrument.MOAAS, 5),
        ],
    )
    if critical:
        plan.side_effects.append(
            (
                start + _minutes(32),
                SideEffect.Kind.HEADACHE,
                SideEffect.Severity.MODERATE,
                "With the BP rise; eased as BP came down.",
            )
        )
    else:
        _side_effects(rng, plan, IV_SIDE_EFFECTS, (12, minutes - 5))
    return plan


def _esketamine_plan(
    rng: random.Random, start: datetime, rules: SessionRules, base: _Baseline, devices: int
) -> _Plan:
    """Esketamine: devices 5 minutes apart, BP before dosing, at about 40 minutes and before
    discharge (the protocol's interval), discharge after the REMS minimum observation."""
    t = rules.thresholds
    observe = rules.discharge.minimum_observation_min
    gap = rules.minutes_between_devices
    checked_in, prechecks = _arrival(rng, start)
    events: list[tuple[datetime, str, int | None, str]] = [
        (start + _minutes(gap * i), DosingEvent.Kind.DEVICE, i + 1, "") for i in range(devices)
    ]
    readings = [_reading(rng, start - _minutes(rng.randint(7, 12)), base, 0)]
    peak = rng.uniform(0.7, 1.0)
    offset = t.vitals_interval_min
    while offset < observe:
        rise = peak * math.exp(-(offset - 40) / 30) if offset > 40 else peak
        readings.append(_reading(rng, start + _minutes(offset), base, rise))
        offset += t.vitals_interval_min
    ready = start + _minutes(observe)
    readings.append(_reading(rng, ready, base, 0.05))
    plan = _Plan(
        checked_in_at=checked_in,
        prechecks_at=prechecks,
        start=start,
        end=events[-1][0],
        confirm_at=ready - _minutes(3),
        ready_at=ready,
        discharged_at=ready + _minutes(rng.randint(3, 8)),
        signed_at=ready + _minutes(rng.randint(15, 40)),
        readings=readings,
        events=events,
        scores=[
            (start + _minutes(20), SessionScore.Instrument.MOAAS, rng.choice([3, 4, 4])),
            (start + _minutes(40), SessionScore.Instrument.MOAAS, 4),
            (start + _minutes(41), SessionScore.Instrument.CADSS, rng.randint(8, 30)),
            (start + _minutes(80), SessionScore.Instrument.MOAAS, 5),
            (ready, SessionScore.Instrument.MOAAS, 5),
        ],
    )
    _side_effects(rng, plan, ESKETAMINE_SIDE_EFFECTS, (10, 60))
    return plan


# --- writing a session -----------------------------------------------------------------


@dataclass(eq=False)
class _Course:
    course: TreatmentCourse
    rules: SessionRules
    chair: int
    base: _Baseline
    height_cm: Decimal | None
    concomitant: list[str]
    escort: tuple[str, str]


def _course_context(course: TreatmentCourse, chair: int) -> _Course:
    patient = course.patient
    height = (
        BodyMeasurement.objects.filter(patient=patient, height_cm__isnull=False)
        .order_by("-measured_on", "-pk")
        .values_list("height_cm", flat=True)
        .first()
    )
    classes = sorted(
        set(
            Medication.objects.filter(
                patient=patient, stopped_on__isnull=True, medication_class__in=CONCOMITANT_KEYS
            ).values_list("medication_class", flat=True)
        )
    )
    escort = (
        (patient.escort_name, patient.escort_phone)
        if patient.escort_name and patient.escort_phone
        else (patient.emergency_contact_name, patient.emergency_contact_phone)
    )
    return _Course(
        course=course,
        rules=session_rules(course.protocol),
        chair=chair,
        base=_baseline(patient),
        height_cm=height,
        concomitant=classes,
        escort=escort,
    )


def _dose(
    context: _Course, weight: Decimal, planned: PlannedSession
) -> tuple[Decimal, Decimal | None, Decimal | None]:
    """Today's dose at pre-checks, the volume drawn and the pump rate set at the start
    (IV: the rate computed for the dose, as the nurse reads it off the chart)."""
    course = context.course
    if course.protocol.route == "esketamine":
        return Decimal(esketamine_dose(dose_mg=int(planned.planned_dose_mg)).dose_mg), None, None
    sex = course.patient.sex_at_birth
    iv = iv_ketamine_dose(
        weight_kg=weight,
        mg_per_kg=course.mg_per_kg or Decimal("0.5"),
        minutes=course.infusion_minutes or 40,
        basis=WeightBasis(course.weight_basis),
        height_cm=context.height_cm,
        sex=sex if sex in ("female", "male") else None,
    )
    return iv.dose_mg, iv.drug_volume_ml, iv.rate_ml_per_h


def _late(rng: random.Random, at: datetime) -> datetime:
    """When a reading was typed in: within a minute or so of taking it."""
    return at + timedelta(seconds=rng.randint(15, 90))


def _write_session(
    rng: random.Random,
    context: _Course,
    planned: PlannedSession,
    plan: _Plan,
    staff: _Staff,
    rows: _Rows,
    *,
    cutoff: datetime | None,
    dose_change: tuple[Decimal, str] | None = None,
    lot: str,
) -> TreatmentSession:
    """Save the session as its timeline stands at `cutoff` (None: the whole of it, signed)."""

    def seen(moment: datetime) -> bool:
        return cutoff is None or moment <= cutoff

    course = context.course
    patient = course.patient
    weight = (course.weight_kg + Decimal(rng.randint(-10, 10)) / 10).quantize(Decimal("0.1"))
    dose_mg, drawn_ml, pump_rate = _dose(context, weight, planned)
    young_woman = patient.sex_at_birth == "female" and patient.age_years < 50
    session = TreatmentSession(
        planned_session=planned,
        course=course,
        patient=patient,
        location=course.location,
        route=course.protocol.route,
        scheduled_at=planned.starts_at,
        chair=context.chair,
        monitoring_provider=staff.nurse,
        checked_in_at=plan.checked_in_at,
        planned_dose_mg=planned.planned_dose_mg,
        weight_kg=weight,
        food_and_drink=rng.choice(FOOD_AND_DRINK),
        escort_name=context.escort[0],
        escort_phone=context.escort[1],
        pregnancy_test=PregnancyTest.NEGATIVE if young_woman else PregnancyTest.NOT_REQUIRED,
        medication_changes="",
        concomitant_classes=context.concomitant,
        prechecks_by=staff.nurse,
        prechecks_at=plan.prechecks_at,
        dose_mg=dose_mg,
        pump_rate_ml_per_h=pump_rate if seen(plan.start) else None,
    )
    if dose_change is not None:
        session.dose_mg, session.dose_change_reason = dose_change
        session.dose_changed_by = staff.prescriber
    predose_at = plan.readings[0].at
    steps: list[tuple[datetime, SessionStatus, User | None, str]] = [
        (plan.checked_in_at, SessionStatus.CHECKED_IN, staff.coordinator, ""),
        (predose_at, SessionStatus.PRECHECKED, staff.nurse, ""),
        (plan.start, SessionStatus.DOSING, staff.nurse, ""),
        (plan.end, SessionStatus.MONITORING, staff.nurse, ""),
        (plan.ready_at, SessionStatus.READY, None, "every discharge criterion met"),
        (plan.discharged_at, SessionStatus.DISCHARGED, staff.nurse, ""),
        (plan.signed_at, SessionStatus.SIGNED, staff.nurse, ""),
    ]
    if seen(plan.start):
        session.dosing_started_at = plan.start
        session.lot_number = lot
        session.amount_drawn_ml = drawn_ml
    if seen(plan.end):
        session.dosing_ended_at = plan.end
    if seen(plan.confirm_at):
        session.symptoms_resolved = session.escort_present = session.instructions_given = True
    if seen(plan.ready_at):
        session.ready_at = plan.ready_at

    vitals = [
        VitalSign(
            predose=r.at < plan.start,
            taken_at=r.at,
            recorded_at=_late(rng, r.at),
            recorded_by=staff.nurse,
            systolic=r.systolic,
            diastolic=r.diastolic,
            heart_rate=r.heart_rate,
            spo2=r.spo2,
            respiratory_rate=r.respiratory_rate,
        )
        for r in plan.readings
        if seen(r.at)
    ]
    scores = [
        SessionScore(
            instrument=instrument,
            score=score,
            taken_at=at,
            recorded_at=_late(rng, at),
            recorded_by=staff.nurse,
        )
        for at, instrument, score in plan.scores
        if seen(at)
    ]
    found = _alerts(context.rules, vitals, scores, plan.start if seen(plan.start) else None)
    if seen(plan.ready_at):
        _check_ready(session, vitals, scores, plan.ready_at)
    if seen(plan.discharged_at):
        assessment = _check_ready(session, vitals, scores, plan.discharged_at)
        session.discharged_at = plan.discharged_at
        session.discharged_by = staff.nurse
        session.discharge_assessment = [
            {"key": c.key, "met": c.met, "explanation": c.explanation} for c in assessment.criteria
        ]
    moves = [step for step in steps if seen(step[0])]
    session.status = moves[-1][1]
    session.version = 1 + len(moves) + len(vitals) + len(scores) + len(plan.events)
    session.save()

    previous = SessionStatus.SCHEDULED
    for at, status, actor, reason in moves:
        rows.transitions.append(
            SessionTransition(
                session=session,
                from_status=previous,
                to_status=status,
                at=at,
                actor=actor,
                reason=reason,
            )
        )
        previous = status
    for row in [*vitals, *scores]:
        row.session = session
    rows.vitals += vitals
    rows.scores += scores
    rows.events += [
        DosingEvent(
            session=session,
            kind=kind,
            at=at,
            device_number=device,
            reason=reason,
            recorded_by=staff.nurse,
            recorded_at=_late(rng, at),
        )
        for at, kind, device, reason in plan.events
        if seen(at)
    ]
    rows.side_effects += [
        SideEffect(
            session=session,
            kind=kind,
            severity=severity,
            note=note,
            taken_at=at,
            recorded_at=_late(rng, at),
            recorded_by=staff.nurse,
        )
        for at, kind, severity, note in plan.side_effects
        if seen(at)
    ]
    rows.interventions += [
        Intervention(
            session=session,
            taken_at=at,
            recorded_at=_late(rng, at),
            recorded_by=staff.nurse,
            **fields,
        )
        for at, fields in plan.interventions
        if seen(at)
    ]
    for alert in found:
        acknowledged = alert.at + _minutes(2)
        by = staff.prescriber if alert.kind == AlertKind.PREDOSE_BP_CAUTION else staff.nurse
        rows.alerts.append(
            SessionAlert(
                session=session,
                location_id=session.location_id,
                kind=str(alert.kind),
                at=alert.at,
                message=alert.message,
                source=alert.source,
                raised_at=alert.at + timedelta(seconds=30),
                acknowledged_at=acknowledged if seen(acknowledged) else None,
                acknowledged_by=by if seen(acknowledged) else None,
                action_taken=ALERT_ACTIONS[alert.kind] if seen(acknowledged) else "",
            )
        )
    return session


def _check_ready(
    session: TreatmentSession,
    vitals: list[VitalSign],
    scores: list[SessionScore],
    at: datetime,
) -> Any:
    """The discharge assessment at `at` under the session's own rules: every criterion
    must hold (a demo timeline that says otherwise is a bug here)."""
    assessment = assessment_from(
        session,
        [v for v in vitals if v.taken_at <= at],
        [s for s in scores if s.taken_at <= at],
        0,
        at,
    )
    if not assessment.ready:
        unmet = [c.explanation for c in assessment.criteria if not c.met]
        raise RuntimeError(f"Demo session {session.planned_session} not ready at {at}: {unmet}")
    return assessment


def _alerts(
    rules: SessionRules,
    vitals: list[VitalSign],
    scores: list[SessionScore],
    dosing_started_at: datetime | None,
) -> list[Any]:
    """The alerts the charting services raise for these readings (not the overdue ones:
    every reading here was on time)."""
    return reading_alerts(vitals, scores, dosing_started_at, rules.thresholds)


def _timeline(
    rng: random.Random,
    context: _Course,
    planned: PlannedSession,
    start: datetime,
    *,
    critical: bool,
) -> _Plan:
    """The session's timeline for its course's route (esketamine: today's devices)."""
    if context.course.protocol.route == "esketamine":
        step = _dose_step(context, planned)
        dose = int(step[0] if step else planned.planned_dose_mg)
        return _esketamine_plan(
            rng, start, context.rules, context.base, esketamine_dose(dose_mg=dose).devices
        )
    return _iv_plan(rng, start, context.rules, context.base, critical=critical)


# --- the whole demo --------------------------------------------------------------------


def _board(contexts: list[_Course]) -> dict[_Course, tuple[str, int]]:
    """Who is in which chair today, in which phase: the first IV courses checked in and
    dosing, the esketamine course in recovery; with fewer courses, the later phases."""
    iv = [c for c in contexts if c.course.protocol.route != "esketamine"]
    esketamine = [c for c in contexts if c.course.protocol.route == "esketamine"]
    picks = (iv[: len(BOARD) - 1] + esketamine[:1]) if esketamine else iv[: len(BOARD)]
    return dict(zip(picks, BOARD[len(BOARD) - len(picks) :], strict=True))


def _today_start(phase: str, route: str, now: datetime) -> datetime:
    """When dosing starts (or started) for a session in `phase` on the board now."""
    if phase == "prechecked":
        return now + _minutes(6)
    if phase == "dosing":
        return now - _minutes(21)
    # Recovery: esketamine just past its 2 hours (ready), IV five minutes short of ready.
    return now - _minutes(121 if route == "esketamine" else 95)


def _presession_answers(
    rng: random.Random, planned: PlannedSession, checked_in_at: datetime, rows: _Rows
) -> None:
    """Today's PHQ-9 and C-SSRS screener, answered on the phone before check-in, as the
    protocol asks before dosing (safety_limits.predose_questionnaires): no suicide risk."""
    patient = planned.course.patient
    when = checked_in_at - _minutes(rng.randint(20, 50))
    phq9 = answers_summing_to(rng, get_instrument("phq9"), rng.randint(9, 15), [8])
    rows.responses += [
        response_row(patient, "phq9", phq9, ResponseContext.PRE_SESSION, when, None),
        response_row(patient, "cssrs-screen", [0] * 6, ResponseContext.PRE_SESSION, when, None),
    ]


def _lot(rng: random.Random, route: str) -> str:
    prefix = "SPV" if route == "esketamine" else "KET"
    return f"{prefix}{rng.randrange(10**5):05d}"


def _dose_step(context: _Course, planned: PlannedSession) -> tuple[Decimal, str] | None:
    """Esketamine from the third session: 84 mg after a partial response at 56 mg."""
    if context.course.protocol.route != "esketamine" or planned.number < 3:
        return None
    if planned.planned_dose_mg != Decimal(56):
        return None
    return (
        Decimal(84),
        "Partial response at 56 mg and well tolerated: 84 mg from this session (label).",
    )


def _rems_submissions(
    rng: random.Random,
    completed: list[TreatmentSession],
    staff: _Staff,
    today: date,
    now: datetime,
) -> None:
    """Forms for sessions more than a week ago are submitted, except the latest of them
    (overdue); the week's sessions are pending."""
    esketamine = [s for s in completed if s.route == "esketamine"]
    old = [
        s for s in esketamine if _local_day(s.scheduled_at, s.location) < today - timedelta(days=7)
    ]
    for session in old[:-1]:
        form = rems_form(session)
        if not form.complete:
            missing = [f.label for f in form.fields if f.missing]
            raise RuntimeError(f"Demo REMS form incomplete: {missing}")
        day = _local_day(session.scheduled_at, session.location)
        submitted_on = min(day + timedelta(days=rng.randint(1, 3)), today)
        recorded_at = datetime.combine(submitted_on, time(16, rng.randint(0, 59)))
        recorded_at = min(timezone.make_aware(recorded_at, session.location.tz), now)
        RemsSubmission.objects.create(
            session=session,
            submitted_on=submitted_on,
            method=RemsSubmission.Method.ONLINE,
            confirmation_number=f"SPR-{rng.randrange(10**7):07d}",
            form=[{"key": f.key, "label": f.label, "value": f.value} for f in form.fields],
            recorded_by=staff.nurse,
            recorded_at=recorded_at,
        )


PendingNotes = list[tuple[int, datetime, Any]]


def sign_demo_notes(pending: PendingNotes) -> None:
    """Sign the completed sessions' notes, composed from the whole chart: run after the
    controlled-substance register is seeded, so the notes include its draws and waste."""
    sessions = TreatmentSession.objects.select_related(
        "course__protocol", "location", "planned_session", "patient"
    ).in_bulk([pk for pk, _at, _nurse in pending])
    SessionNote.objects.bulk_create(
        SessionNote(
            session=sessions[pk],
            body=note_compose(sessions[pk]),
            signed_by=nurse,
            signed_by_name=nurse.display_name,
            signature_meaning=SIGNATURE_MEANING,
            signed_at=at,
        )
        for pk, at, nurse in pending
    )


def seed_sessions(patients: Sequence[Patient], *, now: datetime) -> PendingNotes:
    """Chart the demo's treatment courses: past sessions complete, and the chair board at
    `now` (whatever the hour: the demo shows a working clinic). Runs after
    demo_treatment.seed_treatment; does nothing without courses. Returns the notes to sign
    (sign_demo_notes) once the register holds the sessions' draws."""
    courses = list(
        TreatmentCourse.objects.exclude(phase=TreatmentCourse.Phase.ENDED)
        .select_related("patient", "location", "protocol")
        .order_by("pk")
    )
    if not courses:
        return []
    rng = random.Random(SESSIONS_SEED)
    location = courses[0].location
    staff = _staff(location)
    today = timezone.localdate(now, timezone=location.tz)
    with transaction.atomic():
        iv = [c for c in courses if c.protocol.route != "esketamine"]
        esketamine = _esketamine_course(patients, location, staff, today)
        # The IV courses that _board puts in chairs today.
        iv_chairs = len(BOARD) - (1 if esketamine else 0)
        iv_on_board = [c for c in iv if c.location_id == location.pk][:iv_chairs]
        for index, course in enumerate(iv):
            _redate_course(
                course,
                timezone.localdate(now, timezone=course.location.tz),
                IV_SESSIONS_DONE[index % len(IV_SESSIONS_DONE)],
                on_board=course in iv_on_board,
            )
        ordered = iv + ([esketamine] if esketamine else [])
        contexts = [
            _course_context(course, chair=index % course.location.chair_count + 1)
            for index, course in enumerate(ordered)
        ]
        board = _board([c for c in contexts if c.course.location_id == location.pk])
        rows = _Rows()
        for index, context in enumerate(contexts):
            course = context.course
            planned = list(course.planned_sessions.order_by("number"))
            lot = _lot(rng, course.protocol.route)
            local_today = timezone.localdate(now, timezone=course.location.tz)
            past = [p for p in planned if _local_day(p.starts_at, course.location) < local_today]
            for number, session in enumerate(past):
                if number % 3 == 0:
                    lot = _lot(rng, course.protocol.route)
                start = session.starts_at + _minutes(rng.randint(25, 35))
                _write_session(
                    rng,
                    context,
                    session,
                    _timeline(
                        rng,
                        context,
                        session,
                        start,
                        critical=(index, number) == CRITICAL_EPISODE
                        and course.protocol.route != "esketamine",
                    ),
                    staff,
                    rows,
                    cutoff=None,
                    dose_change=_dose_step(context, session),
                    lot=lot,
                )
            if context not in board:
                continue
            phase, chair = board[context]
            upcoming = [p for p in planned if p not in past]
            if not upcoming:
                continue
            today_session = upcoming[0]
            start = _today_start(phase, course.protocol.route, now)
            plan = _timeline(rng, context, today_session, start, critical=False)
            today_session.starts_at = (plan.checked_in_at - _minutes(5)).replace(
                second=0, microsecond=0
            )
            today_session.save(update_fields=["starts_at"])
            context.chair = min(chair, course.location.chair_count)
            _presession_answers(rng, today_session, plan.checked_in_at, rows)
            _write_session(
                rng,
                context,
                today_session,
                plan,
                staff,
                rows,
                cutoff=now,
                dose_change=_dose_step(context, today_session),
                lot=lot,
            )
        AssessmentResponse.objects.bulk_create(rows.responses)
        VitalSign.objects.bulk_create(rows.vitals)
        SessionScore.objects.bulk_create(rows.scores)
        DosingEvent.objects.bulk_create(rows.events)
        SideEffect.objects.bulk_create(rows.side_effects)
        Intervention.objects.bulk_create(rows.interventions)
        SessionAlert.objects.bulk_create(rows.alerts)
        SessionTransition.objects.bulk_create(rows.transitions)
        signed = {
            t.session_id: t.at for t in rows.transitions if t.to_status == SessionStatus.SIGNED
        }
        # As stored (the note shows the numbers the way the chart does).
        completed = list(
            TreatmentSession.objects.filter(pk__in=signed)
            .select_related("course__protocol", "location", "planned_session", "patient")
            .order_by("scheduled_at", "pk")
        )
        pending = [(session.pk, signed[session.pk], staff.nurse) for session in completed]
        _rems_submissions(rng, completed, staff, today, now)
        return pending
