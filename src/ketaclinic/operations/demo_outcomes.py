"""Demo outcome histories: past treatment courses with their sessions and scores, so the
outcomes pages have something true to show at any size.

Each course follows one of a few believable trajectories (clinical-reference.md sections 4
and 9): remitters, responders who keep their response, responders who relapse (some come
back for a rescue course), partial and non-responders, and dropouts who stop after two or
three sessions. Some have no baseline in the window, some miss the end-of-induction
measure, and follow-up ends anywhere from a month to half a year on. IV courses run
Monday-Wednesday-Friday (six infusions); esketamine courses twice a week for four weeks,
then weekly, at the REMS-certified locations only.

Patients already in the demo's other stories (a course, an open link, an alert, a portal
account) are left alone. Patients with the weekly histories of demo_measures get a course
long enough before that history that it is no part of it; half of the other patients up
to MEASURED_PATIENTS and a share of the rest of a large demo get one too. The charting
services refuse times in the past, so the rows are written in bulk, with the times they
would have had: each session dosed from the lot its chart records (one lot a location and
route takes in four weeks) and discharged (its full chart, vitals and signed note belong to
demo_sessions' courses only), esketamine forms submitted. The register
(demo_register.seed_register, which runs after this) stocks those lots and books each
dose's draw, administration and waste. Deterministic from its own seed and `now`;
decisions never depend on database keys (PostgreSQL does not reuse them).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Min

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record_events
from ketaclinic.charting.models import (
    RemsSubmission,
    SessionScore,
    SessionStatus,
    TreatmentSession,
    VitalSign,
)
from ketaclinic.clinical.scoring import get_instrument
from ketaclinic.eligibility.models import (
    ConsentDocument,
    ConsentSignature,
    EligibilityDecision,
    IntakeEvaluation,
)
from ketaclinic.measures.models import AssessmentResponse, ResponseContext, SafetyAlert
from ketaclinic.measures.models import SelfReportRequest as LinkRequest
from ketaclinic.operations.demo_measures import MEASURED_PATIENTS, answers_summing_to, response_row
from ketaclinic.operations.demo_rows import Statistics, instances_insert, rows_insert
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment, AppointmentStatus, Resource, ResourceKind
from ketaclinic.scheduling.selectors import appointment_types_for
from ketaclinic.treatment.models import PlannedSession, ProtocolVersion, TreatmentCourse

OUTCOMES_SEED = 20261203
LOTS_SEED = 20261204
CHART_SEED = 20261205
# The sessions of one location and route in the same four weeks draw from one lot.
LOT_PERIOD_DAYS = 28
LOT_EPOCH = date(2000, 1, 3)  # a Monday
# Ketamine stock strength (clinical.dosing's default; the register's 100 mg/mL vials).
STOCK_MG_PER_ML = Decimal("100")
# Share of the patients beyond the measured histories who had a course (a large demo).
LARGE_SHARE = 0.04
MEASURED_SHARE = 0.5
BATCH = 500
# (archetype, weight): remitter, responder, relapse, partial, non-responder, dropout.
ARCHETYPES = (
    ("remitter", 22),
    ("responder", 20),
    ("relapse", 18),
    ("partial", 15),
    ("non", 13),
    ("dropout", 12),
)
IV_DAYS = (0, 2, 4, 7, 9, 11)
ESKETAMINE_DAYS = (0, 3, 7, 10, 14, 17, 21, 24, 28, 35, 42, 49)
# A network-scale history (ketaclinic demo --sessions): courses start up to three years
# back, and those who respond keep coming for maintenance every 10 to 28 days.
NETWORK_YEARS_BACK = 3
MAINTENANCE_DAYS = (10, 28)
# Starting times of a chair's sessions in a network-scale history (local time).
# A chair's sessions start two and a half hours apart (an esketamine visit is booked for
# 150 minutes), so no two bookings of a chair overlap.
CHAIR_SLOTS = (time(8, 0), time(10, 30), time(13, 0), time(15, 30))


@dataclass
class Network:
    """How large the history is to be: about `sessions` charted sessions in all.

    Each course is given maintenance sessions so that what is left of the target is
    spread over the courses still to come; a course that ends early (a dropout, a
    non-responder, a recent start) leaves more for the others."""

    sessions: int
    made: int = 0

    def maintenance(self, courses_left: int) -> int:
        """The maintenance sessions of the next course that helps: the sessions still to
        make over the courses still to come (which also have their inductions, while the
        dropouts and non-responders get none, so the two roughly balance)."""
        left = self.sessions - self.made
        return max(0, round(left / max(courses_left, 1)))


class _Chairs:
    """Gives each session of a network-scale history a chair and a starting time, filling
    a location's chairs slot by slot through the day (the default demo keeps its fixed
    times)."""

    def __init__(self) -> None:
        self.taken: dict[tuple[int, date], int] = {}

    def place(self, location: Location, day: date) -> tuple[time, int]:
        key = (location.pk, day)
        index = self.taken.get(key, 0)
        self.taken[key] = index + 1
        chairs = max(location.chair_count, 1)
        return CHAIR_SLOTS[(index // chairs) % len(CHAIR_SLOTS)], 1 + index % chairs


@dataclass
class _Staff:
    nurse: User
    prescriber: User


class _Lots:
    """The lot each history session's chart records: one for a location's sessions of one
    route in four weeks (a delivery's worth), never one the demo already uses."""

    def __init__(self, taken: set[str]) -> None:
        self.rng = random.Random(LOTS_SEED)
        self.taken = set(taken)
        self.chosen: dict[tuple[int, str, int], str] = {}

    def of(self, location: Location, route: str, at: datetime) -> str:
        day = at.astimezone(location.tz).date()
        key = (location.pk, route, (day - LOT_EPOCH).days // LOT_PERIOD_DAYS)
        if key not in self.chosen:
            prefix = "SPV" if route == "esketamine" else "KET"
            while True:
                lot = f"{prefix}{self.rng.randrange(10**5):05d}"
                if lot not in self.taken:
                    break
            self.taken.add(lot)
            self.chosen[key] = lot
        return self.chosen[key]


@dataclass
class _Rows:
    intakes: list[IntakeEvaluation]
    decisions: list[EligibilityDecision]
    consents: list[ConsentSignature]
    courses: list[TreatmentCourse]
    planned: list[list[tuple[datetime, Decimal, int | None]]]
    responses: list[list[AssessmentResponse]]


def _staff(location: Location) -> _Staff:
    def first(role: Role) -> User:
        here = User.objects.filter(role=role, locations=location, is_active=True).order_by("pk")
        return here.first() or User.objects.filter(role=Role.MEDICAL_DIRECTOR).order_by("pk")[0]

    return _Staff(first(Role.NURSE), first(Role.PRESCRIBER))


def _fraction(rng: random.Random, archetype: str, week: float, relapse_week: float) -> float:
    """The score as a fraction of baseline `week` weeks after the first dose."""
    ends = {
        "remitter": 0.18,
        "responder": 0.4,
        "relapse": 0.35,
        "partial": 0.65,
        "non": 0.95,
        "dropout": 0.9,
    }
    end = ends[archetype] + rng.uniform(-0.08, 0.08)
    # Most of the change comes during the induction (the first two to four weeks).
    progress = min(1.0, max(0.0, week) / 2.5)
    value = 1 - (1 - end) * progress
    if archetype == "relapse" and week >= relapse_week:
        back = min(1.0, (week - relapse_week + 1) / 3)
        value = value + (rng.uniform(0.8, 1.0) - value) * back
    return value


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz)


def _course(
    rng: random.Random,
    *,
    patient: Patient,
    location: Location,
    protocol: ProtocolVersion,
    staff: _Staff,
    first_day: date,
    archetype: str,
    now: datetime,
    document: ConsentDocument,
    rows: _Rows,
    maintenance: int = 0,
    chairs: _Chairs | None = None,
) -> date | None:
    """One course's rows; returns the day a rescue course could start (relapsers only).
    `maintenance` more sessions follow the induction of a course that helped (a
    network-scale history), each placed on a chair by `chairs` when given."""
    tz = location.tz
    esketamine = protocol.route == "esketamine"
    at = time(13, 0) if esketamine else time(9, 30)
    days = list(ESKETAMINE_DAYS[:8] if esketamine else IV_DAYS)
    if archetype == "dropout":
        days = days[: rng.choice([2, 3])]
    elif archetype in ("remitter", "responder"):
        if esketamine:
            days += list(ESKETAMINE_DAYS[8 : 8 + rng.randint(0, 4)])
        else:
            boosters, day = rng.randint(0, 3), days[-1]
            for _ in range(boosters):
                day += rng.randint(21, 42)
                days.append(day)
    if maintenance and archetype in ("remitter", "responder", "relapse", "partial"):
        day = days[-1]
        for _ in range(maintenance):
            day += rng.randint(*MAINTENANCE_DAYS)
            days.append(day)
    follow_weeks = rng.choice([4, 6, 8, 10, 12, 16, 20, 26, 30])
    if archetype == "dropout":
        follow_weeks = rng.choice([0, 1])
    last_allowed = now - timedelta(days=1)
    placed: list[tuple[datetime, int | None]] = []
    for d in days:
        when = first_day + timedelta(days=d)
        while chairs and when.weekday() >= 5:  # a network's sessions fall on weekdays
            when += timedelta(days=1)
        start_at, chair = chairs.place(location, when) if chairs else (at, None)
        placed.append((_local(when, start_at, tz), chair))
    placed = [(s, chair) for s, chair in placed if s < last_allowed]
    starts = [s for s, _ in placed]
    if not starts:
        return None
    dose = Decimal("56") if esketamine else Decimal(rng.randrange(280, 520, 5)) / 10
    signed = _local(first_day - timedelta(days=rng.randint(7, 12)), time(11, 0), tz)
    rows.intakes.append(
        IntakeEvaluation(
            patient=patient,
            route=protocol.route,
            facts={},
            completed_steps=[],
            status=IntakeEvaluation.Status.SIGNED,
            created_by=staff.nurse,
            created_at=signed - timedelta(hours=2),
            updated_at=signed - timedelta(hours=1),
        )
    )
    name = staff.prescriber.get_full_name() or staff.prescriber.username
    rows.decisions.append(
        EligibilityDecision(
            patient=patient,
            route=protocol.route,
            advice="eligible",
            findings=[],
            facts={},
            decision=EligibilityDecision.Decision.APPROVE,
            signature_meaning="I have reviewed the intake and approve treatment.",
            signed_by=staff.prescriber,
            signed_by_name=name,
            signed_at=signed,
        )
    )
    rows.consents.append(
        ConsentSignature(
            patient=patient,
            document=document,
            typed_name=f"{patient.legal_first_name} {patient.legal_last_name}",
            signed_via=ConsentSignature.Via.CLINIC,
            entered_by=staff.nurse,
            signed_at=signed + timedelta(minutes=20),
        )
    )
    ongoing = (now - starts[-1]).days < 30 and archetype != "dropout"
    reasons = {
        "dropout": "Stopped attending after the first sessions.",
        "non": "No response after the induction series.",
        "partial": "Partial response; other treatment options discussed.",
    }
    rows.courses.append(
        TreatmentCourse(
            patient=patient,
            protocol=protocol,
            location=location,
            prescriber=staff.prescriber,
            phase=TreatmentCourse.Phase.MAINTENANCE if ongoing else TreatmentCourse.Phase.ENDED,
            weight_basis="" if esketamine else "actual",
            weight_kg=Decimal("72.0"),
            basis_weight_kg=Decimal("72.0"),
            mg_per_kg=None if esketamine else Decimal("0.50"),
            infusion_minutes=None if esketamine else 40,
            planned_dose_mg=dose,
            rems_patient_enrollment_id=f"PT-{patient.mrn[-6:]}" if esketamine else "",
            rems_enrolled_on=first_day - timedelta(days=10) if esketamine else None,
            ended_reason="" if ongoing else reasons.get(archetype, "Course completed."),
            created_at=signed + timedelta(minutes=40),
        )
    )
    rows.planned.append([(s, dose, chair) for s, chair in placed])
    # Scores: PHQ-9 weekly (a few weeks skipped), MADRS at baseline and after induction.
    phq9, madrs = get_instrument("phq9"), get_instrument("madrs")
    base_phq = rng.randint(14, 25)
    base_madrs = rng.randint(24, 40)
    relapse_week = rng.uniform(6, 18)
    first = starts[0]
    responses: list[AssessmentResponse] = []
    no_baseline = rng.random() < 0.08
    baseline_at = first - timedelta(days=rng.randint(22, 40) if no_baseline else rng.randint(1, 5))
    baseline_at = baseline_at.replace(hour=10)
    responses.append(
        response_row(
            patient,
            "phq9",
            answers_summing_to(rng, phq9, base_phq, [8]),
            ResponseContext.BASELINE,
            baseline_at,
            None,
        )
    )
    responses.append(
        response_row(
            patient,
            "madrs",
            answers_summing_to(rng, madrs, base_madrs),
            ResponseContext.BASELINE,
            baseline_at + timedelta(minutes=30),
            staff.prescriber,
        )
    )
    skip_eoi = rng.random() < 0.1
    induction_end = starts[min(len(starts), 8 if esketamine else 6) - 1]
    for week in range(1, follow_weeks + 1):
        when = first + timedelta(days=7 * week - 1, hours=rng.randint(0, 5))
        if when >= now or rng.random() < 0.12:
            continue
        if skip_eoi and induction_end <= when <= induction_end + timedelta(days=14):
            continue
        total = round(
            base_phq * _fraction(rng, archetype, week, relapse_week) + rng.uniform(-1.5, 1.5)
        )
        context = ResponseContext.PRE_SESSION if when < starts[-1] else ResponseContext.FOLLOW_UP
        responses.append(
            response_row(
                patient,
                "phq9",
                answers_summing_to(rng, phq9, max(0, min(27, total)), [8]),
                context,
                when,
                None,
            )
        )
    madrs_at = induction_end + timedelta(days=2, hours=1)
    if archetype != "dropout" and not skip_eoi and madrs_at < now:
        weeks = (madrs_at - first).days / 7
        total = round(base_madrs * _fraction(rng, archetype, weeks, relapse_week))
        responses.append(
            response_row(
                patient,
                "madrs",
                answers_summing_to(rng, madrs, max(0, min(60, total))),
                ResponseContext.FOLLOW_UP,
                madrs_at,
                staff.prescriber,
            )
        )
    rows.responses.append(responses)
    if archetype == "relapse":
        return (first + timedelta(days=int(relapse_week * 7) + rng.randint(14, 35))).date()
    return None


def _write(rows: _Rows, staff_by_location: dict[int, _Staff], lots: _Lots, chart: _Chart) -> int:
    """Bulk-write one batch: decisions, consents, courses, planned and charted sessions
    (with the lot drawn from, their bookings, vital signs and in-session scores, and an
    audit entry each), REMS submissions for esketamine, and the scores (linked to the
    course). Returns how many sessions it wrote."""
    IntakeEvaluation.objects.bulk_create(rows.intakes)
    for decision, intake in zip(rows.decisions, rows.intakes, strict=True):
        decision.intake = intake
    EligibilityDecision.objects.bulk_create(rows.decisions)
    ConsentSignature.objects.bulk_create(rows.consents)
    for course, decision, consent in zip(rows.courses, rows.decisions, rows.consents, strict=True):
        course.eligibility_decision = decision
        course.consent = consent
    TreatmentCourse.objects.bulk_create(rows.courses)
    planned = []
    chairs = []
    for course, starts in zip(rows.courses, rows.planned, strict=True):
        for n, (start, dose, chair) in enumerate(starts, 1):
            planned.append(
                PlannedSession(course=course, number=n, starts_at=start, planned_dose_mg=dose)
            )
            chairs.append(chair or 1 + n % max(course.location.chair_count, 1))
    instances_insert(PlannedSession, planned)
    sessions = []
    for p, chair in zip(planned, chairs, strict=True):
        course = p.course
        esketamine = course.protocol.route == "esketamine"
        start = p.starts_at + timedelta(minutes=30)
        end = start + timedelta(minutes=10 if esketamine else 40)
        discharged = end + timedelta(minutes=115 if esketamine else 50)
        route = course.protocol.route
        sessions.append(
            TreatmentSession(
                planned_session=p,
                course=course,
                patient_id=course.patient_id,
                location_id=course.location_id,
                route=route,
                status=SessionStatus.DISCHARGED,
                scheduled_at=p.starts_at,
                chair=chair,
                monitoring_provider=staff_by_location[course.location_id].nurse,
                checked_in_at=p.starts_at - timedelta(minutes=5),
                planned_dose_mg=p.planned_dose_mg,
                dose_mg=p.planned_dose_mg,
                lot_number=lots.of(course.location, route, start),
                # IV: the dose's volume of the 100 mg/mL stock, to 0.01 mL, as charted.
                amount_drawn_ml=None
                if esketamine
                else (p.planned_dose_mg / STOCK_MG_PER_ML).quantize(Decimal("0.01"), ROUND_HALF_UP),
                dosing_started_at=start,
                dosing_ended_at=end,
                ready_at=discharged - timedelta(minutes=5),
                symptoms_resolved=True,
                escort_present=True,
                instructions_given=True,
                discharged_at=discharged,
                discharged_by=staff_by_location[course.location_id].nurse,
            )
        )
    instances_insert(TreatmentSession, sessions)
    chart.statistics.grew()  # before the rows that name these sessions
    chart.write(sessions)
    forms = []
    for session in sessions:
        nurse = session.monitoring_provider
        if session.route == "esketamine":
            forms.append(
                RemsSubmission(
                    session=session,
                    submitted_on=(session.discharged_at + timedelta(days=2)).date(),
                    method=RemsSubmission.Method.ONLINE,
                    confirmation_number=f"DEMO-{session.scheduled_at:%y%m%d}-{session.chair}",
                    form={"demo_history": True},
                    recorded_by=nurse,
                    recorded_at=session.discharged_at + timedelta(days=2),
                )
            )
    RemsSubmission.objects.bulk_create(forms)
    responses = []
    for course, batch in zip(rows.courses, rows.responses, strict=True):
        for response in batch:
            if response.completed_at >= course.created_at:
                response.course = course
            responses.append(response)
    instances_insert(AssessmentResponse, responses)
    return len(sessions)


VITAL_FIELDS = (
    "session_id",
    "predose",
    "taken_at",
    "recorded_at",
    "recorded_by_id",
    "confirmed",
    "systolic",
    "diastolic",
    "heart_rate",
    "spo2",
    "respiratory_rate",
    "strike_reason",
)
SCORE_FIELDS = (
    "session_id",
    "instrument",
    "score",
    "taken_at",
    "recorded_at",
    "recorded_by_id",
    "confirmed",
    "strike_reason",
)


BOOKING_FIELDS = (
    "location_id",
    "appointment_type_id",
    "patient_id",
    "provider_id",
    "resource_id",
    "telehealth",
    "starts_at",
    "ends_at",
    "status",
    "planned_session_id",
    "note",
    "video_room",
    "booked_by_id",
    "booked_at",
    "status_reason",
)


class _Chart:
    """What a history session's chart holds besides its dose: about ten vital-sign
    readings (before, during and after dosing, blood pressure rising a little with the dose
    as ketamine's does), MOAA/S and CADSS-6 scores, the audit entry of its writing and,
    with `bookings`, the chair booking it was given. From its own seed, so the rest of the
    demo stays as it was."""

    def __init__(self, *, bookings: bool) -> None:
        self.rng = random.Random(CHART_SEED)
        self.bookings = bookings
        self.types: dict[tuple[int, str], Any] = {}
        self.chairs: dict[tuple[int, int], int] = dict(
            ((r.location_id, r.number), r.pk)
            for r in Resource.objects.filter(kind=ResourceKind.CHAIR)
        )
        self.cadss6 = SessionScore.score_range("cadss6")
        self.statistics = Statistics()

    def booking_type(self, location: Location, route: str) -> Any:
        key = (location.pk, route)
        if key not in self.types:
            self.types[key] = next(
                (t for t in appointment_types_for(location) if t.treatment_route == route), None
            )
        return self.types[key]

    def write(self, sessions: list[TreatmentSession]) -> None:
        rng = self.rng
        vitals: list[tuple] = []
        scores: list[tuple] = []
        bookings: list[tuple] = []
        for session in sessions:
            nurse = session.monitoring_provider
            start, end = session.dosing_started_at, session.dosing_ended_at
            # Uneventful sessions: below the shipped protocols' pre-dose caution (140/90)
            # and in-session alert levels, so no alert is owed that the history lacks.
            systolic, diastolic = rng.randint(106, 128), rng.randint(64, 80)
            pulse, spo2, breaths = rng.randint(62, 84), rng.randint(96, 99), rng.randint(12, 16)
            times = [session.checked_in_at + timedelta(minutes=8)]
            step = (end - start) / 4
            times += [start + step * i for i in range(1, 5)]
            times += [end + timedelta(minutes=15 * i) for i in range(1, 5)]
            times.append(session.ready_at)
            peak = rng.randint(6, 22)
            for taken in times:
                during = start < taken <= end + timedelta(minutes=20)
                rise = peak if during else 0
                vitals.append(
                    (
                        session.pk,
                        taken < start,
                        taken,
                        taken + timedelta(seconds=rng.randint(15, 100)),
                        nurse.pk,
                        [],
                        systolic + rise + rng.randint(-4, 4),
                        diastolic + rise // 2 + rng.randint(-3, 3),
                        pulse + rise // 3 + rng.randint(-4, 4),
                        min(100, spo2 + rng.randint(-1, 1)),
                        breaths + rng.randint(-1, 1),
                        "",
                    )
                )
            low, high = self.cadss6
            for taken, instrument, score in (
                (end, SessionScore.Instrument.MOAAS, rng.choice([4, 5, 5, 5])),
                (end, SessionScore.Instrument.CADSS6, rng.randint(low + 2, min(high, low + 12))),
                (session.ready_at, SessionScore.Instrument.MOAAS, 5),
                (session.ready_at, SessionScore.Instrument.CADSS6, rng.randint(low, low + 1)),
            ):
                scores.append(
                    (
                        session.pk,
                        instrument,
                        score,
                        taken,
                        taken + timedelta(seconds=rng.randint(15, 100)),
                        nurse.pk,
                        [],
                        "",
                    )
                )
            kind = self.booking_type(session.course.location, session.route)
            if self.bookings and kind is not None:
                bookings.append(
                    (
                        session.location_id,
                        kind.pk,
                        session.patient_id,
                        None,  # the chair is booked; the nurse watches several at once
                        self.chairs.get((session.location_id, session.chair)),
                        False,
                        session.scheduled_at,
                        session.scheduled_at + timedelta(minutes=kind.duration_minutes),
                        AppointmentStatus.BOOKED,
                        session.planned_session.pk,
                        "",
                        secrets.token_urlsafe(18),  # as the model's default (a video room)
                        nurse.pk,
                        session.course.created_at,
                        "",
                    )
                )
        rows_insert(VitalSign, VITAL_FIELDS, vitals)
        rows_insert(SessionScore, SCORE_FIELDS, scores)
        rows_insert(Appointment, BOOKING_FIELDS, bookings)
        audit_record_events(
            actor=None,
            events=[
                AuditEvent(
                    action=AuditAction.SEED,
                    patient_id=session.patient_id,
                    object_type="treatment session",
                    object_id=session.pk,
                    detail={"demo_history": True, "scheduled_at": session.scheduled_at},
                )
                for session in sessions
            ],
        )


def _candidates(rng: random.Random, others_share: float) -> list[tuple[Patient, bool]]:
    """(patient, has the weekly history) for the patients who get a course, by MRN:
    MEASURED_SHARE of the measured patients, `others_share` of the rest."""
    busy = (
        set(TreatmentCourse.objects.values_list("patient_id", flat=True))
        | set(User.objects.filter(patient__isnull=False).values_list("patient_id", flat=True))
        | set(SafetyAlert.objects.values_list("patient_id", flat=True))
        | set(LinkRequest.objects.values_list("patient_id", flat=True))
    )
    measured = set(Patient.objects.order_by("pk").values_list("pk", flat=True)[:MEASURED_PATIENTS])
    chosen = []
    # Only what a course's rows read: a network's history chooses most of 100,000.
    patients = Patient.objects.only(
        "pk", "mrn", "legal_first_name", "legal_last_name", "primary_location_id"
    ).order_by("mrn")
    for patient in patients.iterator(chunk_size=2000):
        share = MEASURED_SHARE if patient.pk in measured else others_share
        if rng.random() < share and patient.pk not in busy:
            chosen.append((patient, patient.pk in measured))
    return chosen


def seed_outcomes(
    *,
    now: datetime,
    network: Network | None = None,
    progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Past courses with sessions and scores for the outcomes pages; returns how many.
    Runs after every other story has chosen its patients, and before the register, which
    books these sessions' draws (seed_demo). With `network`, most patients get a course
    and the courses that help go on with maintenance sessions up to about
    `network.sessions` sessions in all; progress(n) is called with the sessions of each
    batch written."""
    rng = random.Random(OUTCOMES_SEED)
    document = ConsentDocument.objects.order_by("-version").first()
    latest: dict[str, ProtocolVersion] = {}
    for version in ProtocolVersion.objects.order_by("key", "-version"):
        latest.setdefault(version.key, version)
    if document is None or "iv-ketamine-standard" not in latest:
        return 0
    locations = {loc.pk: loc for loc in Location.objects.all()}
    staff = {pk: _staff(loc) for pk, loc in locations.items()}
    histories = dict(
        AssessmentResponse.objects.values_list("patient_id").annotate(first=Min("completed_at"))
    )
    # Bookings only where chairs and times are placed without overlaps (a network's
    # history); the default demo's histories start at fixed times.
    chart = _Chart(bookings=network is not None)
    chairs = _Chairs() if network else None
    if network:
        network.made = TreatmentSession.objects.count()
        others = max(Patient.objects.count() - MEASURED_PATIENTS, 1)
        # About 15 sessions a course (dropouts and non-responders stop after a few).
        others_share = min(1.0, max(LARGE_SHARE, network.sessions / 15 / others))
        years_back = 365 * NETWORK_YEARS_BACK
    else:
        others_share, years_back = LARGE_SHARE, 720
    chosen = _candidates(rng, others_share)
    lots = _Lots(
        set(TreatmentSession.objects.exclude(lot_number="").values_list("lot_number", flat=True))
    )
    made = 0
    for start in range(0, len(chosen), BATCH):
        rows = _Rows([], [], [], [], [], [])
        for patient, measured in chosen[start : start + BATCH]:
            location = locations[patient.primary_location_id]
            certified = location.spravato_rems_certified and bool(
                location.spravato_rems_certification_number
            )
            if certified and rng.random() < 0.25:
                key = "esketamine-trd" if rng.random() < 0.85 else "esketamine-mdd-si"
            else:
                key = "iv-ketamine-standard" if rng.random() < 0.7 else "iv-ketamine-titration"
            protocol = latest.get(key) or latest["iv-ketamine-standard"]
            today = now.astimezone(location.tz).date()
            if measured and patient.pk in histories:
                before = histories[patient.pk].astimezone(location.tz).date()
                first_day = before - timedelta(days=rng.randint(420, 560))
            else:
                first_day = today - timedelta(days=rng.randint(45, years_back))
            first_day += timedelta(days=(7 - first_day.weekday()) % 7)  # a Monday
            archetype = rng.choices([a for a, _ in ARCHETYPES], [w for _, w in ARCHETYPES])[0]
            # The courses still to come in this history: those chosen and their rescues.
            left = round((len(chosen) - start - len(rows.courses)) * 1.1)
            maintenance = network.maintenance(left) if network else 0
            courses_before = len(rows.planned)
            rescue = _course(
                rng,
                patient=patient,
                location=location,
                protocol=protocol,
                staff=staff[location.pk],
                first_day=first_day,
                archetype=archetype,
                now=now,
                document=document,
                rows=rows,
                maintenance=maintenance,
                chairs=chairs,
            )
            if rescue is not None and rng.random() < 0.4 and rescue < today - timedelta(days=45):
                if measured and patient.pk in histories:
                    limit = histories[patient.pk].astimezone(location.tz).date()
                    if rescue + timedelta(days=370) >= limit:
                        continue
                rescue += timedelta(days=(7 - rescue.weekday()) % 7)
                # The first course's scores stop where the rescue course's baseline starts.
                cut = _local(rescue - timedelta(days=6), time(0, 0), location.tz)
                rows.responses[-1] = [r for r in rows.responses[-1] if r.completed_at < cut]
                _course(
                    rng,
                    patient=patient,
                    location=location,
                    protocol=latest["iv-ketamine-standard"],
                    staff=staff[location.pk],
                    first_day=rescue,
                    archetype=rng.choice(["remitter", "responder", "partial"]),
                    now=now,
                    document=document,
                    rows=rows,
                    maintenance=maintenance,
                    chairs=chairs,
                )
            if network:
                network.made += sum(len(p) for p in rows.planned[courses_before:])
        with transaction.atomic():
            written = _write(rows, staff, lots, chart)
        progress(written)
        made += len(rows.courses)
    return made
