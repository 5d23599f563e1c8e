"""Reads for treatment sessions, in a fixed number of queries whatever the data size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Max, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ketaclinic.charting.models import (
    ACTIVE_STATUSES,
    RemsSubmission,
    SessionAlert,
    SessionScore,
    SessionStatus,
    TreatmentSession,
    VitalSign,
)
from ketaclinic.charting.rules import session_rules
from ketaclinic.clinical.monitoring import (
    AlertKind,
    DischargeAssessment,
    MonitoringAlert,
    MonitoringThresholds,
    SedationReading,
    assess_discharge,
    evaluate_readings,
    next_reading_due,
    predose_check,
)
from ketaclinic.clinical.rems import (
    CONCOMITANT_CLASSES,
    BloodPressure,
    FormStatus,
    RemsFacts,
    RemsForm,
    build_rems_form,
    rems_due_date,
    rems_form_status,
)
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.treatment.models import PlannedSession

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.organization.models import Location
    from ketaclinic.patients.models import Patient


def sessions_visible_to(user: User) -> QuerySet[TreatmentSession]:
    return TreatmentSession.objects.filter(patient_scope(user, via="patient"))


def session_get_for_user(user: User, patient: Patient, session_id: int) -> TreatmentSession:
    """The patient's session, or 404 (the patient was already checked against the user)."""
    session = (
        TreatmentSession.objects.filter(pk=session_id, patient=patient)
        .select_related(
            "course__protocol", "location", "planned_session", "patient", "monitoring_provider"
        )
        .first()
    )
    if session is None:
        raise Http404("No such session for this patient.")
    return session


def planned_get_for_patient(patient: Patient, planned_id: int) -> PlannedSession:
    planned = (
        PlannedSession.objects.filter(pk=planned_id, course__patient=patient)
        .select_related("course__protocol", "course__location", "course__patient")
        .first()
    )
    if planned is None:
        raise Http404("No such planned session for this patient.")
    return planned


def patient_sessions(patient: Patient) -> list[PlannedSession]:
    """Every planned session of the patient's courses with its treatment session, if any,
    and its live calendar booking in `bookings` (a list of at most one)."""
    from ketaclinic.scheduling.models import Appointment, AppointmentStatus

    return list(
        PlannedSession.objects.filter(course__patient=patient)
        .select_related("course__protocol", "course__location", "treatment_session")
        .prefetch_related(
            Prefetch(
                "appointments",
                queryset=Appointment.objects.filter(status=AppointmentStatus.BOOKED).select_related(
                    "resource"
                ),
                to_attr="bookings",
            )
        )
        .order_by("starts_at", "pk")
    )


def reading_alerts(
    vitals: list[VitalSign],
    scores: list[SessionScore],
    dosing_started_at: datetime | None,
    thresholds: MonitoringThresholds,
) -> list[MonitoringAlert]:
    """The protocol's alerts for a session's stored readings: in-session vitals and MOAA/S
    after dosing starts, and the pre-dose check of the latest pre-dose BP (not overdue
    readings, which depend on the clock)."""
    sedation = [
        SedationReading(at=s.taken_at, moaas=s.score)
        for s in scores
        if s.instrument == SessionScore.Instrument.MOAAS
        and dosing_started_at is not None
        and s.taken_at >= dosing_started_at
    ]
    found = evaluate_readings(
        [v.as_reading() for v in vitals if not v.predose], sedation, thresholds
    )
    predose = [v for v in vitals if v.predose and v.systolic is not None]
    if predose:
        latest = max(predose, key=lambda v: (v.taken_at, v.pk))
        alert = predose_check(latest.as_reading(), thresholds)
        if alert is not None:
            found.append(alert)
    return found


def observation_start(session: TreatmentSession) -> datetime | None:
    """Where the protocol counts the minimum observation from."""
    criteria = session_rules(session.course.protocol).discharge
    if criteria.observation_from == "end_of_infusion":
        return session.dosing_ended_at
    return session.dosing_started_at


def assessment_from(
    session: TreatmentSession,
    vitals: list[VitalSign],
    scores: list[SessionScore],
    open_alerts: int,
    now: datetime,
) -> DischargeAssessment:
    """Discharge readiness from already-loaded readings (the board loads them in bulk)."""
    criteria = session_rules(session.course.protocol).discharge
    baseline = [v for v in vitals if v.predose and v.systolic is not None]
    after = [v for v in vitals if not v.predose]
    moaas = [
        s.score
        for s in sorted(scores, key=lambda s: (s.taken_at, s.pk))
        if s.instrument == SessionScore.Instrument.MOAAS
        and session.dosing_started_at is not None
        and s.taken_at >= session.dosing_started_at
    ]
    return assess_discharge(
        criteria=criteria,
        now=now,
        observation_start=observation_start(session),
        latest_moaas=moaas[-1] if moaas else None,
        baseline=max(baseline, key=lambda v: (v.taken_at, v.pk)).as_reading() if baseline else None,
        latest=max(after, key=lambda v: (v.taken_at, v.pk)).as_reading() if after else None,
        open_alerts=open_alerts,
        escort_confirmed=session.escort_present,
        instructions_given=session.instructions_given,
        symptoms_resolved=session.symptoms_resolved,
    )


def discharge_assessment(session: TreatmentSession, now: datetime) -> DischargeAssessment:
    return assessment_from(
        session,
        list(session.vital_signs.all()),
        list(session.scores.all()),
        session.alerts.filter(acknowledged_at__isnull=True).count(),
        now,
    )


def dosing_blockers(session: TreatmentSession) -> list[str]:
    """What stops dosing now, in the clinic's words; empty when dosing may start."""
    rules = session_rules(session.course.protocol)
    problems: list[str] = []
    if session.prechecks_at is None:
        problems.append("Record the pre-checks (weight, food and drink, escort, medications).")
    if rules.discharge.require_escort and not (session.escort_name and session.escort_phone):
        problems.append("Confirm the escort or ride home (name and phone).")
    if session.pregnancy_test == "positive":
        problems.append("The pregnancy test is positive: do not dose.")
    elif rules.pregnancy_test_each_session and session.pregnancy_test != "negative":
        problems.append("This protocol needs a negative pregnancy test before dosing.")
    if session.dose_mg is None:
        problems.append("Today's dose is not set.")
    predose = [v for v in session.vital_signs.all() if v.predose and v.systolic is not None]
    if not predose:
        problems.append("Take the pre-dose vital signs.")
    else:
        latest = max(predose, key=lambda v: (v.taken_at, v.pk))
        alert = predose_check(latest.as_reading(), rules.thresholds)
        if alert is not None and alert.kind == AlertKind.PREDOSE_BP_HOLD:
            problems.append(alert.message)
    open_predose = SessionAlert.objects.filter(
        session=session,
        acknowledged_at__isnull=True,
        kind=AlertKind.PREDOSE_BP_CAUTION,
    ).exists()
    if open_predose:
        problems.append(
            "The pre-dose BP is at or above the caution level: a prescriber must acknowledge it."
        )
    if session.is_esketamine:
        problems += esketamine_gate(session.course, session.location)
    return problems


def esketamine_gate(course: Any, location: Any) -> list[str]:
    """Spravato REMS: no esketamine session for a patient not enrolled or at a setting not
    certified (clinical-reference.md section 6)."""
    problems = []
    if not course.rems_patient_enrollment_id:
        problems.append("The patient is not enrolled in the Spravato REMS.")
    if not location.spravato_rems_certified:
        problems.append(f"{location.short_name} is not a REMS-certified setting.")
    return problems


def presession_questionnaires(session: TreatmentSession) -> list[tuple[str, Any]]:
    """The protocol's before-each-session questionnaires, each with today's response (or
    None): the pre-checks show what is done and what still needs sending."""
    from ketaclinic.clinical.scoring import get_instrument
    from ketaclinic.measures.models import AssessmentResponse

    keys = [
        entry["instrument"]
        for entry in session.course.protocol.data.get("measurement_schedule", [])
        if entry.get("when") == "before_each_session"
    ]
    start, _end = day_bounds(session.location, session.treatment_date)
    latest: dict[str, Any] = {}
    for response in AssessmentResponse.objects.filter(
        patient=session.patient, instrument_key__in=keys, completed_at__gte=start
    ).order_by("completed_at"):
        latest[response.instrument_key] = response
    return [(get_instrument(key).title, latest.get(key)) for key in keys]


def session_draws(session: TreatmentSession) -> list[Any]:
    """The register's draws for this session, each with `unaccounted_ml` and the volume the
    dose needs (`dose_ml`, from the container's strength)."""
    from ketaclinic.register.models import EntryKind, LedgerEntry
    from ketaclinic.register.services import draw_unaccounted_ml

    draws = list(
        LedgerEntry.objects.filter(
            session=session, kind=EntryKind.DRAW, reversed_by__isnull=True
        ).select_related("container__product", "actor")
    )
    for draw in draws:
        draw.unaccounted_ml = draw_unaccounted_ml(draw)
        strength = draw.container.product.strength_mg_per_ml
        dose_ml = (session.dose_mg or 0) / strength if strength else 0
        draw.dose_ml = min(draw.amount_ml, dose_ml).quantize(Decimal("0.001"))
    return draws


def witness_candidates(session: TreatmentSession, actor: Any) -> list[Any]:
    """Clinical staff who may witness a waste at the session's location (not the actor)."""
    from ketaclinic.accounts.models import User
    from ketaclinic.accounts.roles import CAPABILITIES

    roles = [str(role) for role in CAPABILITIES["register.witness"][1]]
    return list(
        User.objects.filter(role__in=roles, is_active=True)
        .filter(Q(locations=session.location) | Q(role__in=["medical_director"]))
        .exclude(pk=actor.pk)
        .distinct()
        .order_by("last_name", "first_name")
    )


# --- the chart -------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionChart:
    vitals: list[VitalSign]
    scores: list[SessionScore]
    alerts: list[SessionAlert]
    open_alerts: list[SessionAlert]
    events: list[Any]
    side_effects: list[Any]
    interventions: list[Any]
    adverse_events: list[Any]
    transitions: list[Any]
    assessment: DischargeAssessment | None
    next_due: datetime | None
    overdue: bool


def session_chart(session: TreatmentSession, now: datetime) -> SessionChart:
    vitals = list(session.vital_signs.select_related("recorded_by"))
    scores = list(session.scores.select_related("recorded_by"))
    alerts = list(session.alerts.select_related("acknowledged_by"))
    open_alerts = [a for a in alerts if a.is_open]
    assessment = None
    if session.dosing_started_at is not None:
        assessment = assessment_from(session, vitals, scores, len(open_alerts), now)
    due, overdue = None, False
    if session.status in (SessionStatus.DOSING, SessionStatus.MONITORING, SessionStatus.READY):
        due, overdue = next_reading_due(
            dosing_started_at=session.dosing_started_at,
            last_reading_at=max((v.taken_at for v in vitals if not v.predose), default=None),
            now=now,
            t=session_rules(session.course.protocol).thresholds,
            dosing_ended_at=session.dosing_ended_at,
        )
    return SessionChart(
        vitals=vitals,
        scores=scores,
        alerts=alerts,
        open_alerts=open_alerts,
        events=list(session.dosing_events.select_related("recorded_by")),
        side_effects=list(session.side_effects.all()),
        interventions=list(session.interventions.all()),
        adverse_events=list(session.adverse_events.all()),
        transitions=list(session.transitions.select_related("actor")),
        assessment=assessment,
        next_due=due,
        overdue=overdue,
    )


def _local(value: datetime | None, session: TreatmentSession) -> str:
    return timezone.localtime(value, session.location.tz).strftime("%H:%M") if value else "--"


def _register_lines(session: TreatmentSession) -> list[str]:
    from ketaclinic.register.models import LedgerEntry

    entries = LedgerEntry.objects.filter(session=session).select_related("container", "witness")
    return [
        f"  {_local(e.occurred_at, session)} {e.get_kind_display()} {e.amount_ml} mL "
        f"({e.amount_mg} mg), {e.container.label} lot {e.container.lot_number}, "
        f"{e.actor_name}" + (f", witness {e.witness.display_name}" if e.witness else "")
        for e in entries
    ]


def note_compose(session: TreatmentSession) -> str:
    """The session note, composed from the chart (the signer adds their own comment)."""
    chart = session_chart(session, timezone.now())
    patient = session.patient
    tz = session.location.tz
    day = timezone.localtime(session.scheduled_at, tz).strftime("%Y-%m-%d")
    lines = [
        f"{session.course.protocol.name}: session {session.planned_session.number}, {day}, "
        f"{session.location.name}" + (f", chair {session.chair}" if session.chair else ""),
        f"Patient: {patient.legal_first_name} {patient.legal_last_name} (MRN {patient.mrn})",
        "",
        "Pre-checks: "
        + (
            f"weight {session.weight_kg} kg; food and drink: {session.food_and_drink}; "
            f"escort {session.escort_name} {session.escort_phone}; "
            f"pregnancy test {session.get_pregnancy_test_display().lower()}; "
            f"medication changes: {session.medication_changes or 'none'}."
            if session.prechecks_at
            else "not recorded."
        ),
        f"Dose: {session.dose_mg} mg (planned {session.planned_dose_mg} mg)"
        + (
            f", changed by the prescriber: {session.dose_change_reason}"
            if session.dose_change_reason
            else ""
        )
        + (f"; lot {session.lot_number}" if session.lot_number else "")
        + (f"; {session.amount_drawn_ml} mL drawn" if session.amount_drawn_ml else "")
        + (f"; pump {session.pump_rate_ml_per_h} mL/h" if session.pump_rate_ml_per_h else "")
        + ".",
        f"Dosing: {_local(session.dosing_started_at, session)} to "
        f"{_local(session.dosing_ended_at, session)}.",
    ]
    for event in chart.events:
        reason = f" ({event.reason})" if event.reason else ""
        device = f" {event.device_number}" if event.device_number else ""
        lines.append(f"  {_local(event.at, session)} {event.get_kind_display()}{device}{reason}")
    register_lines = _register_lines(session)
    if register_lines:
        lines += ["", "Controlled substance (register):", *register_lines]
    lines += ["", "Vital signs (time, BP mmHg, HR bpm, SpO2 %, RR /min):"]
    for v in chart.vitals:
        late = " [entered late]" if v.is_late else ""
        pre = " pre-dose" if v.predose else ""
        lines.append(
            f"  {_local(v.taken_at, session)}{pre} BP {v.bp_text or '--'}, HR "
            f"{v.heart_rate or '--'}, SpO2 {v.spo2 or '--'}, RR {v.respiratory_rate or '--'}"
            f"{late}"
        )
    if chart.scores:
        lines += ["", "Sedation and dissociation:"]
        lines += [
            f"  {_local(s.taken_at, session)} {s.get_instrument_display()}: {s.score}"
            for s in chart.scores
        ]
    for title, items, text in (
        (
            "Side effects",
            chart.side_effects,
            lambda e: (
                f"{e.get_kind_display()} "
                f"({e.get_severity_display().lower()}){': ' + e.note if e.note else ''}"
            ),
        ),
        (
            "Interventions",
            chart.interventions,
            lambda e: f"{e.get_kind_display()} {e.medication} {e.dose} {e.route} {e.note}".strip(),
        ),
        (
            "Adverse events",
            chart.adverse_events,
            lambda e: (
                f"{e.description} "
                f"({e.get_severity_display().lower()}, "
                f"{'serious' if e.serious else 'not serious'}, "
                f"{e.get_outcome_display().lower()})"
            ),
        ),
    ):
        if items:
            lines += ["", f"{title}:"]
            lines += [f"  {_local(e.taken_at, session)} {text(e)}" for e in items]
    if chart.alerts:
        lines += ["", "Alerts:"]
        for a in chart.alerts:
            ack = (
                f" Acknowledged {_local(a.acknowledged_at, session)} by "
                f"{a.acknowledged_by.display_name}: {a.action_taken}"
                if a.acknowledged_at
                else " NOT ACKNOWLEDGED"
            )
            lines.append(f"  {_local(a.at, session)} {a.message}{ack}")
    lines.append("")
    if session.discharged_at:
        lines.append(
            f"Discharged {_local(session.discharged_at, session)} by "
            f"{session.discharged_by.display_name if session.discharged_by else '--'}"
            + (
                f"; criteria overridden by {session.discharge_override_by.display_name}: "
                f"{session.discharge_override_reason}"
                if session.discharge_override_by_id
                else "; every discharge criterion met"
            )
            + "."
        )
        lines += [
            f"  {'met' if c['met'] else 'NOT met'}: {c['explanation']}"
            for c in session.discharge_assessment
        ]
    if session.end_reason:
        lines.append(f"Ended early: {session.end_reason}")
    return "\n".join(lines)


# --- REMS ------------------------------------------------------------------------------


def rems_facts(session: TreatmentSession) -> RemsFacts:
    patient = session.patient
    location = session.location
    course = session.course
    vitals = [v for v in session.vital_signs.all() if v.systolic is not None]
    first_device = session.dosing_started_at
    predose = [v for v in vitals if first_device is None or v.taken_at < first_device]
    after = [v for v in vitals if first_device is not None and v.taken_at >= first_device]

    def bp(v: VitalSign) -> BloodPressure:
        return BloodPressure(at=v.taken_at, systolic=v.systolic or 0, diastolic=v.diastolic or 0)

    scores = list(session.scores.all())
    effects = list(session.side_effects.all())
    adverse = list(session.adverse_events.all())
    spo2_floor = session_rules(course.protocol).thresholds.spo2_floor
    first_treatment = (
        not TreatmentSession.objects.filter(
            patient=patient,
            route=session.route,
            dosing_started_at__lt=session.dosing_started_at or session.scheduled_at,
        )
        .exclude(pk=session.pk)
        .exists()
    )
    completion = [c for c in session.discharge_assessment if c.get("key") == "vitals_near_baseline"]
    serious = [e for e in adverse if e.serious]
    return RemsFacts(
        patient_name=f"{patient.legal_first_name} {patient.legal_last_name}",
        patient_date_of_birth=patient.date_of_birth,
        patient_sex=patient.get_sex_at_birth_display(),
        patient_rems_id=course.rems_patient_enrollment_id,
        patient_enrolled=bool(course.rems_patient_enrollment_id),
        first_treatment=first_treatment,
        concomitant_classes=frozenset(
            c for c in session.concomitant_classes if c in dict(CONCOMITANT_CLASSES)
        ),
        monitoring_provider=(
            session.monitoring_provider.display_name if session.monitoring_provider else ""
        ),
        setting_name=location.name,
        setting_address=location.full_address,
        setting_rems_id=location.spravato_rems_certification_number,
        treatment_date=session.treatment_date,
        dose_mg=int(session.dose_mg or session.planned_dose_mg),
        lot_numbers=tuple(n for n in [session.lot_number] if n),
        first_device_at=first_device,
        monitoring_ended_at=session.discharged_at,
        ready_to_leave_at=session.ready_at,
        predose_bp=bp(predose[-1]) if predose else None,
        session_bps=tuple(bp(v) for v in after),
        # Before dosing: dosing only starts below the hold level and with any caution
        # acknowledged by a prescriber. At completion: the discharge check of vital signs.
        vitals_acceptable_before_dosing=True if predose and first_device else None,
        vitals_acceptable_at_completion=completion[0]["met"] if completion else None,
        sedation=any(s.instrument == SessionScore.Instrument.MOAAS and s.score < 5 for s in scores),
        dissociation=any(
            s.instrument != SessionScore.Instrument.MOAAS and s.score > 0 for s in scores
        )
        or any(e.kind == "dissociation_distress" for e in effects),
        respiratory_depression=any(e.kind == "respiratory_depression" for e in effects)
        or any(v.spo2 is not None and v.spo2 < spo2_floor for v in session.vital_signs.all()),
        serious_adverse_event=bool(serious),
        adverse_event_description="; ".join(e.description for e in serious),
    )


def rems_form(session: TreatmentSession) -> RemsForm:
    return build_rems_form(rems_facts(session), tz=session.location.tz)


@dataclass(frozen=True)
class RemsRow:
    session: TreatmentSession
    status: FormStatus
    due_on: date


def rems_worklist(
    user: User, *, location_id: int | None, today: date | None = None, status: str = ""
) -> list[RemsRow]:
    """Esketamine sessions that ended, with their form's status (pending, submitted,
    overdue), newest first. `today` defaults to each location's own date."""
    sessions = (
        sessions_visible_to(user)
        .filter(
            route="esketamine",
            status__in=(
                SessionStatus.DISCHARGED,
                SessionStatus.SIGNED,
                SessionStatus.STOPPED_EARLY,
            ),
            dosing_started_at__isnull=False,
        )
        .select_related("patient", "location", "rems_submission", "course__protocol")
        .order_by("-scheduled_at", "-pk")
    )
    if location_id is not None:
        sessions = sessions.filter(location_id=location_id)
    rows = []
    for session in sessions:
        day = session.treatment_date
        days = session_rules(session.course.protocol).rems_form_due_days
        submission = getattr(session, "rems_submission", None)
        row_status = rems_form_status(
            treatment_date=day,
            submitted_on=submission.submitted_on if submission else None,
            today=today or timezone.localdate(timezone=session.location.tz),
            due_days=days,
        )
        if status and row_status != status:
            continue
        rows.append(RemsRow(session=session, status=row_status, due_on=rems_due_date(day, days)))
    return rows


def rems_submission_of(session: TreatmentSession) -> RemsSubmission | None:
    return RemsSubmission.objects.filter(session=session).first()


# --- the chair board -------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    chair: int | None
    planned: PlannedSession | None
    session: TreatmentSession | None
    phase: str
    minutes_since_dosing: int | None
    next_due: datetime | None
    overdue: bool
    open_alerts: list[SessionAlert]
    assessment: DischargeAssessment | None

    @property
    def unmet_count(self) -> int:
        if self.assessment is None:
            return 0
        return sum(1 for c in self.assessment.criteria if not c.met)

    @property
    def patient(self) -> Any:
        if self.session is not None:
            return self.session.patient
        return self.planned.course.patient if self.planned else None


def day_bounds(location: Location, day: date) -> tuple[datetime, datetime]:
    tz = location.tz
    start = datetime.combine(day, time.min, tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)


def board_sessions(location: Location, day: date) -> list[TreatmentSession]:
    """The day's sessions at the location with their readings and open alerts, plus every
    session still open from an earlier day (a patient is never dropped off the board)."""
    start, end = day_bounds(location, day)
    return list(
        TreatmentSession.objects.filter(location=location)
        .filter(Q(scheduled_at__gte=start, scheduled_at__lt=end) | Q(status__in=ACTIVE_STATUSES))
        .select_related("patient", "course__protocol", "location", "planned_session")
        .annotate(last_vitals_at=Max("vital_signs__taken_at", filter=Q(vital_signs__predose=False)))
        .prefetch_related(
            "vital_signs",
            "scores",
            Prefetch(
                "alerts",
                queryset=SessionAlert.objects.filter(acknowledged_at__isnull=True),
                to_attr="open_alert_list",
            ),
        )
        .order_by("scheduled_at", "pk")
    )


def board_rows(
    location: Location,
    day: date,
    now: datetime,
    sessions: list[TreatmentSession] | None = None,
) -> list[BoardRow]:
    """The chair board: sessions in chairs first, then the day's others and those waiting."""
    if sessions is None:
        sessions = board_sessions(location, day)
    start, end = day_bounds(location, day)
    waiting = list(
        PlannedSession.objects.filter(
            course__location=location,
            starts_at__gte=start,
            starts_at__lt=end,
            treatment_session__isnull=True,
        )
        .exclude(course__phase="ended")
        .select_related("course__patient", "course__protocol")
        .order_by("starts_at", "pk")
    )
    rows: list[BoardRow] = []
    for session in sessions:
        rules = session_rules(session.course.protocol)
        vitals = list(session.vital_signs.all())
        scores = list(session.scores.all())
        alerts = session.open_alert_list
        in_session = session.status in (
            SessionStatus.DOSING,
            SessionStatus.MONITORING,
            SessionStatus.READY,
        )
        due, overdue = (None, False)
        assessment = None
        if in_session:
            due, overdue = next_reading_due(
                dosing_started_at=session.dosing_started_at,
                last_reading_at=session.last_vitals_at,
                now=now,
                t=rules.thresholds,
                dosing_ended_at=session.dosing_ended_at,
            )
            assessment = assessment_from(session, vitals, scores, len(alerts), now)
        minutes = None
        if session.dosing_started_at and session.discharged_at is None and in_session:
            minutes = int((now - session.dosing_started_at).total_seconds() // 60)
        phase = session.get_status_display()
        if session.status == SessionStatus.MONITORING and assessment and assessment.ready:
            phase = SessionStatus.READY.label
        rows.append(
            BoardRow(
                chair=session.chair,
                planned=session.planned_session,
                session=session,
                phase=phase,
                minutes_since_dosing=minutes,
                next_due=due,
                overdue=overdue,
                open_alerts=alerts,
                assessment=assessment,
            )
        )
    rows += [
        BoardRow(
            chair=None,
            planned=planned,
            session=None,
            phase=SessionStatus.SCHEDULED.label,
            minutes_since_dosing=None,
            next_due=None,
            overdue=False,
            open_alerts=[],
            assessment=None,
        )
        for planned in waiting
    ]
    # Chairs in use first, by chair; then the rest by time.
    return sorted(
        rows,
        key=lambda r: (
            r.chair is None or not (r.session and r.session.is_open),
            r.chair or 0,
            (r.session.scheduled_at if r.session else r.planned.starts_at),  # type: ignore[union-attr]
        ),
    )
