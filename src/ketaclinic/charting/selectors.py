"""Reads for treatment sessions, in a fixed number of queries whatever the data size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Max, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import CAPABILITIES
from ketaclinic.charting.models import (
    ACTIVE_STATUSES,
    ENDED_DOSED_STATUSES,
    RemsFormOwed,
    RemsSubmission,
    SessionAlert,
    SessionInChair,
    SessionScore,
    SessionStatus,
    TreatmentSession,
    VitalSign,
)
from ketaclinic.charting.rules import SessionRules, session_rules
from ketaclinic.clinical.dosing import (
    DosingInputError,
    EsketamineDose,
    WeightBasis,
    basis_weight_kg,
    esketamine_dose,
)
from ketaclinic.clinical.infusion import (
    Administered,
    InfusionStep,
    IvPreparation,
    iv_administered,
    iv_preparation,
    minutes_running,
)
from ketaclinic.clinical.monitoring import (
    AlertKind,
    DischargeAssessment,
    MonitoringAlert,
    MonitoringThresholds,
    RecheckPrompt,
    SedationReading,
    assess_discharge,
    bp_recheck_prompt,
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
from ketaclinic.clinical.safety_limits import QuestionnaireRule
from ketaclinic.clinical.scoring import get_instrument
from ketaclinic.measures.models import AssessmentResponse
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import BodyMeasurement
from ketaclinic.patients.selectors import allergy_status, patient_scope
from ketaclinic.register.models import EntryKind, LedgerEntry
from ketaclinic.register.services import draw_unaccounted_ml
from ketaclinic.scheduling.models import Appointment, AppointmentStatus
from ketaclinic.treatment.models import PlannedSession, ProtocolVersion
from ketaclinic.treatment.protocol_data import infusion_minutes

if TYPE_CHECKING:
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


def patient_sessions(patient: Patient) -> QuerySet[PlannedSession]:
    """The planned sessions of the patient's courses with its treatment session, if any,
    and its live calendar booking in `bookings` (a list of at most one), in order; the tab
    shows them a page at a time (the prefetch reads the page's bookings only)."""
    return (
        PlannedSession.objects.filter(course__patient=patient)
        .select_related("course__location", "treatment_session")
        # The tab shows statuses, not the chart's JSON; and each protocol version is read
        # (and its JSON decoded) once, not once a row.
        .defer(
            "treatment_session__discharge_assessment",
            "treatment_session__concomitant_classes",
        )
        .prefetch_related(
            "course__protocol",
            Prefetch(
                "appointments",
                queryset=Appointment.objects.filter(status=AppointmentStatus.BOOKED).select_related(
                    "resource"
                ),
                to_attr="bookings",
            ),
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
    """Discharge readiness now, from the readings that count (not those struck through)."""
    return assessment_from(
        session,
        list(session.vital_signs.counted()),
        list(session.scores.counted()),
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
    if not allergy_status(session.patient).is_recorded:
        problems.append(
            "Allergies are not recorded: record the patient's allergies, or verify 'no known "
            "drug allergies' with the patient, on the History tab."
        )
    problems += [
        check.problem for check in presession_questionnaires(session, rules) if check.blocks
    ]
    predose = [v for v in session.vital_signs.counted() if v.predose and v.systolic is not None]
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


# --- today's dose: one source of truth ---------------------------------------------------


@dataclass(frozen=True)
class TodaysDose:
    """Today's dose decision and every figure derived from it: the chart, the dosing panel,
    the note and the register's accounting all read this, never a copy saved earlier.

    IV: the weight-based calculation (the course's mg/kg x today's basis weight), the
    current dose (that, or the prescriber's change), its mg/kg, the preparation (volume of
    stock, bag, pump rate and minutes) and, once the pump has run, what was given.
    Esketamine: the devices for the dose and how many were given.
    """

    route: str
    planned_mg: Decimal
    dose_mg: Decimal | None
    changed_by: str
    change_reason: str
    calculated_mg: Decimal | None = None
    calculation: str = ""
    basis_weight_kg: Decimal | None = None
    weight_basis: str = ""
    mg_per_kg: Decimal | None = None
    preparation: IvPreparation | None = None
    pump_rate_ml_per_h: Decimal | None = None
    administered: Administered | None = None
    devices: EsketamineDose | None = None
    devices_given: int = 0
    problem: str = ""

    @property
    def given_mg(self) -> Decimal | None:
        """What the patient has received so far (None before dosing)."""
        if self.administered is not None:
            return self.administered.mg
        if self.devices is not None and self.devices_given:
            return self.dose_mg_per_device * self.devices_given
        return None

    @property
    def dose_mg_per_device(self) -> Decimal:
        if self.devices is None or not self.devices.devices:
            return Decimal(0)
        return Decimal(self.devices.dose_mg) / self.devices.devices

    def given_stock_ml(self, stock_mg_per_ml: Decimal) -> Decimal:
        """What was given as a volume of stock of that strength, to 0.001 mL (rounded down:
        the register never books more given than the pump or the devices gave)."""
        if (
            self.administered is not None
            and self.preparation is not None
            and self.preparation.stock_mg_per_ml == stock_mg_per_ml
        ):
            return self.administered.stock_ml
        given = self.given_mg or Decimal(0)
        return (given / stock_mg_per_ml).quantize(Decimal("0.001"), rounding="ROUND_DOWN")


def _basis_weight(session: TreatmentSession, weight_kg: Decimal) -> tuple[Decimal, str]:
    course = session.course
    basis = WeightBasis(course.weight_basis or WeightBasis.ACTUAL)
    height = None
    if basis is not WeightBasis.ACTUAL:
        height = (
            BodyMeasurement.objects.filter(patient=session.patient, height_cm__isnull=False)
            .order_by("-measured_on", "-pk")
            .values_list("height_cm", flat=True)
            .first()
        )
    sex = session.patient.sex_at_birth
    return (
        basis_weight_kg(
            weight_kg=weight_kg,
            basis=basis,
            height_cm=height,
            sex=sex if sex in ("female", "male") else None,
        ),
        basis.value,
    )


def todays_dose(
    session: TreatmentSession,
    *,
    now: datetime | None = None,
    weight_kg: Decimal | None = None,
    events: list[Any] | None = None,
    stock_mg_per_ml: Decimal | None = None,
) -> TodaysDose:
    """Today's dose and its figures (TodaysDose), from the session's current dose decision.
    `weight_kg` overrides the weight recorded at pre-checks (the pre-checks being saved);
    `stock_mg_per_ml` the protocol's stock (the container actually drawn from)."""
    course = session.course
    rules = session_rules(course.protocol)
    events = list(session.dosing_events.all()) if events is None else events
    common = {
        "route": session.route,
        "planned_mg": session.planned_dose_mg,
        "changed_by": session.dose_changed_by.display_name if session.dose_changed_by_id else "",
        "change_reason": session.dose_change_reason,
    }
    if session.is_esketamine:
        dose = session.dose_mg or session.planned_dose_mg
        try:
            devices = esketamine_dose(dose_mg=int(dose))
        except DosingInputError as error:
            return TodaysDose(dose_mg=session.dose_mg, problem=str(error), **common)
        return TodaysDose(
            dose_mg=session.dose_mg,
            devices=devices,
            devices_given=sum(1 for e in events if e.kind == "device"),
            **common,
        )
    weight = weight_kg or session.weight_kg or course.weight_kg
    mg_per_kg_planned = course.mg_per_kg
    try:
        basis_kg, basis = _basis_weight(session, weight)
    except DosingInputError as error:
        return TodaysDose(dose_mg=session.dose_mg, problem=str(error), **common)
    calculated = (basis_kg * mg_per_kg_planned).quantize(Decimal("0.1"), rounding="ROUND_HALF_UP")
    calculation = (
        f"{mg_per_kg_planned.normalize():f} mg/kg x {basis_kg.normalize():f} kg "
        f"({basis} weight) = {calculated} mg"
    )
    dose = session.dose_mg if weight_kg is None or session.dose_changed_by_id else calculated
    preparation = administered = None
    if dose is not None and dose > 0:
        preparation = iv_preparation(
            dose_mg=dose,
            minutes=course.infusion_minutes or infusion_minutes(course.protocol.data),
            bag_ml=rules.bag_ml,
            stock_mg_per_ml=stock_mg_per_ml or rules.stock_mg_per_ml,
        )
    rate = session.pump_rate_ml_per_h or (preparation.rate_ml_per_h if preparation else None)
    if preparation is not None and session.dosing_started_at is not None and rate is not None:
        run = minutes_running(
            [InfusionStep(e.kind, e.at) for e in events if e.kind != "device"],
            until=session.dosing_ended_at or now or timezone.now(),
        )
        administered = iv_administered(
            preparation=preparation,
            drawn_ml=session.amount_drawn_ml,
            rate_ml_per_h=rate,
            minutes=run,
        )
    return TodaysDose(
        dose_mg=dose,
        calculated_mg=calculated,
        calculation=calculation,
        basis_weight_kg=basis_kg,
        weight_basis=basis,
        mg_per_kg=(dose / basis_kg).quantize(Decimal("0.01")) if dose else None,
        preparation=preparation,
        pump_rate_ml_per_h=rate,
        administered=administered,
        **common,
    )


def esketamine_gate(course: Any, location: Any) -> list[str]:
    """Spravato REMS: no esketamine session for a patient not enrolled or at a setting not
    certified (clinical-reference.md section 6)."""
    problems = []
    if not course.rems_patient_enrollment_id:
        problems.append("The patient is not enrolled in the Spravato REMS.")
    if not location.spravato_rems_certified:
        problems.append(f"{location.short_name} is not a REMS-certified setting.")
    return problems


@dataclass(frozen=True)
class QuestionnaireCheck:
    """A questionnaire the protocol wants before dosing, with the latest answer in time."""

    title: str
    rule: QuestionnaireRule
    response: Any  # measures.AssessmentResponse or None
    since: date

    @property
    def blocks(self) -> bool:
        return self.rule.hard_stop and self.response is None

    @property
    def window_text(self) -> str:
        if self.rule.within_days == 0:
            return "today"
        return f"within {self.rule.within_days} day{'s' if self.rule.within_days > 1 else ''}"

    @property
    def problem(self) -> str:
        return (
            f"{self.title} is not done {self.window_text}: this protocol needs it before "
            "dosing. Send the questionnaire link or enter it with the patient."
        )


def presession_questionnaires(
    session: TreatmentSession, rules: SessionRules | None = None
) -> list[QuestionnaireCheck]:
    """The protocol's pre-dose questionnaires (safety_limits.predose_questionnaires), each
    with the patient's latest answer within its window before the treatment day: the
    pre-checks show what is done, and a hard stop blocks dosing until it is."""
    rules = rules or session_rules(session.course.protocol)
    checks = rules.limits.questionnaires
    if not checks:
        return []
    day = session.treatment_date
    earliest = day - timedelta(days=max(rule.within_days for rule in checks))
    start, _end = day_bounds(session.location, earliest)
    latest: dict[str, Any] = {}
    for response in AssessmentResponse.objects.filter(
        patient=session.patient,
        instrument_key__in=[rule.instrument for rule in checks],
        completed_at__gte=start,
    ).order_by("completed_at"):
        latest[response.instrument_key] = response
    result = []
    for rule in checks:
        since = day - timedelta(days=rule.within_days)
        response = latest.get(rule.instrument)
        if (
            response is not None
            and timezone.localtime(response.completed_at, session.location.tz).date() < since
        ):
            response = None
        result.append(
            QuestionnaireCheck(
                title=get_instrument(rule.instrument).title,
                rule=rule,
                response=response,
                since=since,
            )
        )
    return result


def session_draws(session: TreatmentSession, dose: TodaysDose | None = None) -> list[Any]:
    """The register's draws for this session, each with `unaccounted_ml` and `given_ml`,
    what the patient received as a volume of the container's stock (todays_dose: the minutes
    the pump ran, or the devices given), never more than was drawn."""
    draws = list(
        LedgerEntry.objects.filter(
            session=session, kind=EntryKind.DRAW, reversed_by__isnull=True
        ).select_related("container__product", "actor")
    )
    for draw in draws:
        draw.unaccounted_ml = draw_unaccounted_ml(draw)
        strength = draw.container.product.strength_mg_per_ml
        given = todays_dose(session, stock_mg_per_ml=strength) if dose is None else dose
        draw.given_ml = min(draw.amount_ml, given.given_stock_ml(strength))
        draw.wasted_ml = draw.amount_ml - draw.given_ml
    return draws


def witness_candidates(session: TreatmentSession, actor: Any) -> list[Any]:
    """Clinical staff who may witness a waste at the session's location (not the actor)."""
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
    """Everything charted on a session. `vitals`, `scores` and the observations include the
    entries struck through (shown crossed out); the rules read only those that count."""

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
    dose: TodaysDose
    recheck: RecheckPrompt | None

    @property
    def counted_vitals(self) -> list[VitalSign]:
        return [v for v in self.vitals if not v.is_struck]

    @property
    def struck(self) -> list[Any]:
        """Every entry struck through, in time order (the chart's corrections)."""
        entries = [
            *self.vitals,
            *self.scores,
            *self.side_effects,
            *self.interventions,
            *self.adverse_events,
        ]
        return sorted((e for e in entries if e.is_struck), key=lambda e: (e.taken_at, e.pk))


def session_chart(session: TreatmentSession, now: datetime) -> SessionChart:
    vitals = list(session.vital_signs.select_related("recorded_by", "struck_by"))
    scores = list(session.scores.select_related("recorded_by", "struck_by"))
    counted_vitals = [v for v in vitals if not v.is_struck]
    counted_scores = [s for s in scores if not s.is_struck]
    alerts = list(session.alerts.select_related("acknowledged_by"))
    open_alerts = [a for a in alerts if a.is_open]
    events = list(session.dosing_events.select_related("recorded_by"))
    t = session_rules(session.course.protocol).thresholds
    in_session = session.status in (
        SessionStatus.DOSING,
        SessionStatus.MONITORING,
        SessionStatus.READY,
    )
    assessment = None
    if session.dosing_started_at is not None and session.discharged_at is None:
        assessment = assessment_from(session, counted_vitals, counted_scores, len(open_alerts), now)
    due, overdue = None, False
    if in_session:
        due, overdue = next_reading_due(
            dosing_started_at=session.dosing_started_at,
            last_reading_at=max(
                (v.taken_at for v in counted_vitals if not v.predose), default=None
            ),
            now=now,
            t=t,
            dosing_ended_at=session.dosing_ended_at,
        )
    recheck = None
    if session.is_open:
        recheck = bp_recheck_prompt([v.as_reading() for v in counted_vitals], t, now)
    return SessionChart(
        vitals=vitals,
        scores=scores,
        alerts=alerts,
        open_alerts=open_alerts,
        events=events,
        side_effects=list(session.side_effects.all()),
        interventions=list(session.interventions.all()),
        adverse_events=list(session.adverse_events.all()),
        transitions=list(session.transitions.select_related("actor")),
        assessment=assessment,
        next_due=due,
        overdue=overdue,
        dose=todays_dose(session, now=now, events=events),
        recheck=recheck,
    )


def _local(value: datetime | None, session: TreatmentSession) -> str:
    return timezone.localtime(value, session.location.tz).strftime("%H:%M") if value else "--"


def _register_lines(session: TreatmentSession) -> list[str]:
    entries = LedgerEntry.objects.filter(session=session).select_related("container", "witness")
    return [
        f"  {_local(e.occurred_at, session)} {e.get_kind_display()} {e.amount_ml} mL "
        f"({e.amount_mg} mg), {e.container.label} lot {e.container.lot_number}, "
        f"{e.actor_name}" + (f", witness {e.witness.display_name}" if e.witness else "")
        for e in entries
    ]


def _struck_text(entry: Any, session: TreatmentSession) -> str:
    if not entry.is_struck:
        return ""
    who = entry.struck_by.display_name if entry.struck_by_id else "--"
    return (
        f" [STRUCK THROUGH {_local(entry.struck_at, session)} by {who}: {entry.strike_reason};"
        " not counted]"
    )


def _dose_line(session: TreatmentSession, dose: TodaysDose) -> str:
    text = f"Dose: {dose.dose_mg} mg (planned {dose.planned_mg} mg"
    if dose.calculation:
        text += f"; calculated {dose.calculation}"
    text += ")"
    if dose.change_reason:
        text += f", changed by {dose.changed_by}: {dose.change_reason}"
    if dose.mg_per_kg is not None:
        text += f"; {dose.mg_per_kg} mg/kg"
    if dose.preparation is not None:
        text += f"; {dose.preparation.text}"
    if session.lot_number:
        text += f"; lot {session.lot_number}"
    if session.amount_drawn_ml:
        text += f"; {session.amount_drawn_ml} mL drawn"
    if session.pump_rate_ml_per_h:
        text += f"; pump set at {session.pump_rate_ml_per_h} mL/h"
    return text + "."


def _given_line(dose: TodaysDose) -> str:
    if dose.administered is not None:
        given = dose.administered
        return (
            f"Given: {given.mg} mg ({given.percent_of_bag}% of the bag; the pump ran "
            f"{given.minutes_running.quantize(Decimal('0.1'))} min)."
        )
    if dose.devices is not None and dose.devices_given:
        return (
            f"Given: {dose.devices_given} of {dose.devices.devices} devices "
            f"({dose.given_mg.normalize():f} mg)."
        )
    return ""


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
        _dose_line(session, chart.dose),
        f"Dosing: {_local(session.dosing_started_at, session)} to "
        f"{_local(session.dosing_ended_at, session)}.",
    ]
    given = _given_line(chart.dose)
    if given:
        lines.append(given)
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
        confirmed = " [unusual value confirmed]" if v.confirmed else ""
        lines.append(
            f"  {_local(v.taken_at, session)}{pre} BP {v.bp_text or '--'}, HR "
            f"{v.heart_rate or '--'}, SpO2 {v.spo2 or '--'}, RR {v.respiratory_rate or '--'}"
            f"{late}{confirmed}{_struck_text(v, session)}"
        )
    if chart.scores:
        lines += ["", "Sedation and dissociation:"]
        lines += [
            f"  {_local(s.taken_at, session)} {s.get_instrument_display()}: {s.score}"
            f"{_struck_text(s, session)}"
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
            lines += [
                f"  {_local(e.taken_at, session)} {text(e)}{_struck_text(e, session)}"
                for e in items
            ]
    if chart.struck:
        lines += ["", "Corrections (struck through as entered in error; kept, not counted):"]
        lines += [
            f"  {_local(e.taken_at, session)} {e._meta.verbose_name}: {e}{_struck_text(e, session)}"
            for e in chart.struck
        ]
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
    counted = list(session.vital_signs.counted())
    vitals = [v for v in counted if v.systolic is not None]
    first_device = session.dosing_started_at
    predose = [v for v in vitals if first_device is None or v.taken_at < first_device]
    after = [v for v in vitals if first_device is not None and v.taken_at >= first_device]

    def bp(v: VitalSign) -> BloodPressure:
        return BloodPressure(at=v.taken_at, systolic=v.systolic or 0, diastolic=v.diastolic or 0)

    scores = list(session.scores.counted())
    effects = list(session.side_effects.counted())
    adverse = list(session.adverse_events.counted())
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
        or any(v.spo2 is not None and v.spo2 < spo2_floor for v in counted),
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


REMS_PAGE_SIZE = 50


def rems_sessions_owed() -> QuerySet[TreatmentSession]:
    """Sessions whose REMS form is owed: esketamine, dosed, and ended (the rule that
    charting/triggers.py keeps RemsFormOwed by)."""
    return TreatmentSession.objects.filter(
        route="esketamine", status__in=ENDED_DOSED_STATUSES, dosing_started_at__isnull=False
    )


def _rems_overdue_condition(locations: list[Any], today: date | None) -> Q:
    """Sessions (not yet submitted) whose form is overdue.

    rems_form_status: OVERDUE when today (the location's own date) is after the treatment
    date plus the protocol's `rems_form_due_days`. The treatment date of a dosed session is
    the date of `dosing_started_at` in the location's time zone, so "overdue" is exactly
    "dosing started before local midnight at the start of (today - due_days)", one instant
    per location and number of days."""
    by_days: dict[int, list[int]] = {}
    for version in ProtocolVersion.objects.only("pk", "data"):
        by_days.setdefault(session_rules(version).rems_form_due_days, []).append(version.pk)
    condition = Q(pk__in=[])
    for location in locations:
        tz = location.tz
        local_today = today or timezone.localdate(timezone=tz)
        for days, versions in by_days.items():
            cutoff = datetime.combine(local_today - timedelta(days=days), time.min, tzinfo=tz)
            term = Q(location_id=location.pk, dosing_started_at__lt=cutoff)
            if len(by_days) > 1:
                term &= Q(course__protocol_id__in=versions)
            condition |= term
    return condition


@dataclass(frozen=True)
class RemsPage:
    """One page of the worklist, without counting every row (the count would grow with
    the sessions): whether there is a page before and after this one."""

    rows: list[RemsRow]
    number: int
    has_previous: bool
    has_next: bool

    def __iter__(self) -> Any:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * REMS_PAGE_SIZE + 1 if self.rows else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * REMS_PAGE_SIZE + len(self.rows)


def rems_worklist(
    user: User,
    *,
    location_id: int | None,
    today: date | None = None,
    status: str = "",
    page: int = 1,
    per_page: int = REMS_PAGE_SIZE,
) -> RemsPage:
    """One page of the esketamine sessions that ended, with their form's status (pending,
    submitted, overdue), newest first. `today` defaults to each location's own date.

    Filtering, ordering and paging happen in the database (a fixed number of queries and
    rows whatever the number of sessions); the status of each row shown is then worked
    out by clinical.rems.rems_form_status, the same rule the condition encodes."""
    sessions = rems_sessions_owed().filter(patient_scope(user, via="patient"))
    if location_id is not None:
        sessions = sessions.filter(location_id=location_id)
    if status == FormStatus.SUBMITTED:
        sessions = sessions.filter(rems_submission__isnull=False)
    elif status in (FormStatus.PENDING, FormStatus.OVERDUE):
        locations = Location.objects.all()
        owed = RemsFormOwed.objects.all()
        if location_id is not None:
            locations = locations.filter(pk=location_id)
            owed = owed.filter(location_id=location_id)
        overdue = _rems_overdue_condition(list(locations), today)
        # Only the forms still owed are read (the database keeps them, RemsFormOwed), not
        # every esketamine session of the past; the rule is checked again on each.
        sessions = sessions.filter(pk__in=owed.values("session_id"), rems_submission__isnull=True)
        sessions = (
            sessions.filter(overdue) if status == FormStatus.OVERDUE else sessions.exclude(overdue)
        )
    page = max(page, 1)
    found = list(
        sessions.select_related("patient", "location", "rems_submission", "course")
        # What the list shows; the stored form and the chart's own JSON are not read.
        .defer("rems_submission__form", "discharge_assessment", "concomitant_classes")
        .order_by("-scheduled_at", "-pk")[(page - 1) * per_page : page * per_page + 1]
    )
    due_days = {
        version.pk: session_rules(version).rems_form_due_days
        for version in ProtocolVersion.objects.filter(
            pk__in={s.course.protocol_id for s in found[:per_page]}
        )
    }
    rows = []
    for session in found[:per_page]:
        day = session.treatment_date
        days = due_days[session.course.protocol_id]
        submission = getattr(session, "rems_submission", None)
        row_status = rems_form_status(
            treatment_date=day,
            submitted_on=submission.submitted_on if submission else None,
            today=today or timezone.localdate(timezone=session.location.tz),
            due_days=days,
        )
        rows.append(RemsRow(session=session, status=row_status, due_on=rems_due_date(day, days)))
    return RemsPage(rows=rows, number=page, has_previous=page > 1, has_next=len(found) > per_page)


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
    recheck: RecheckPrompt | None = None

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
        .filter(
            Q(scheduled_at__gte=start, scheduled_at__lt=end)
            # The open ones of earlier days through the table the database keeps of them:
            # read by status, SQLite walked the location's past sessions.
            | Q(
                pk__in=SessionInChair.objects.filter(location_id=location.pk).values("session_id"),
                status__in=ACTIVE_STATUSES,
            )
        )
        .select_related("patient", "course__protocol", "location", "planned_session")
        .annotate(
            last_vitals_at=Max(
                "vital_signs__taken_at",
                filter=Q(vital_signs__predose=False, vital_signs__struck_at__isnull=True),
            )
        )
        .prefetch_related(
            # Only what counts: an entry struck through is not read by the rules.
            Prefetch("vital_signs", queryset=VitalSign.objects.counted()),
            Prefetch("scores", queryset=SessionScore.objects.counted()),
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
        recheck = None
        if session.is_open:
            recheck = bp_recheck_prompt([v.as_reading() for v in vitals], rules.thresholds, now)
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
                recheck=recheck,
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
