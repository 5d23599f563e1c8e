"""Writes for protocols and treatment courses."""

from __future__ import annotations

from datetime import date, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.dosing import DosingInputError, WeightBasis, iv_ketamine_dose
from ketaclinic.clinical.monitoring import thresholds_from_protocol
from ketaclinic.clinical.safety_limits import safety_limits_from_protocol
from ketaclinic.clinical.schedule import ScheduleError, plan_session_starts
from ketaclinic.eligibility.models import EligibilityDecision
from ketaclinic.eligibility.selectors import current_consent, latest_decision
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import require_patient_access
from ketaclinic.protocols.loader import load_protocol
from ketaclinic.protocols.schema import PROTOCOL_KEYS, validate_protocol
from ketaclinic.treatment.models import PlannedSession, ProtocolVersion, TreatmentCourse
from ketaclinic.treatment.protocol_data import (
    allowed_mg_per_kg,
    esketamine_start_dose_mg,
    infusion_minutes,
    max_mg_per_kg,
    schedule_rules,
    standard_mg_per_kg,
)
from ketaclinic.treatment.signals import course_ended

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User


def protocols_seed_packaged() -> list[ProtocolVersion]:
    """Version 1 of every protocol shipped with ketaclinic, where the clinic has none yet."""
    created = []
    for key in PROTOCOL_KEYS:
        if not ProtocolVersion.objects.filter(key=key).exists():
            created.append(
                ProtocolVersion.objects.create(
                    key=key,
                    version=1,
                    data=load_protocol(key),
                    change_note="As shipped with ketaclinic (clinical-reference.md sections 4-5).",
                )
            )
    return created


def protocol_version_create(
    *, actor: User, key: str, data: dict[str, Any], change_note: str
) -> ProtocolVersion:
    """Save an edited protocol as a new version of the clinic's copy."""
    if not actor.can("protocols.edit"):
        raise PermissionDenied("Only the medical director edits protocols.")
    if not change_note.strip():
        raise ValidationError("Say what changed and why.")
    current = ProtocolVersion.objects.filter(key=key).order_by("-version").first()
    if current is None:
        raise ValidationError(f"No protocol {key!r}.")
    if data.get("route") != current.route:
        raise ValidationError(
            f"A protocol keeps its route ({current.route}); make a new protocol for another route."
        )
    try:
        validate_protocol(data, filename=f"{key}.json")
        # The sections read by the clinical core, parsed as the sessions will read them.
        safety_limits_from_protocol(data)
        thresholds_from_protocol(data)
    except ValueError as error:
        raise ValidationError(str(error)) from error
    with transaction.atomic():
        latest = (
            ProtocolVersion.objects.select_for_update()
            .filter(key=key)
            .aggregate(v=Max("version"))["v"]
        )
        if latest is None:
            raise ValidationError(f"No protocol {key!r}.")
        version = ProtocolVersion.objects.create(
            key=key,
            version=latest + 1,
            # The file's own version number follows the clinic's copy.
            data={**data, "version": latest + 1},
            change_note=change_note.strip(),
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="protocol_version",
            object_id=version.pk,
            detail={"key": key, "version": version.version},
        )
    return version


# A course is planned from today up to a year ahead; a mistyped year is caught, not planned.
PLANNING_HORIZON = timedelta(days=365)


def course_create(
    *,
    actor: User,
    patient: Patient,
    protocol: ProtocolVersion,
    first_day: date,
    local_time: time,
    mg_per_kg: Decimal | None = None,
    rems_patient_enrollment_id: str = "",
    rems_enrolled_on: date | None = None,
) -> TreatmentCourse:
    """Create a course from a protocol version for an eligible, consented patient, with its
    planned sessions (dates in the location's time zone, per the protocol's schedule rules)
    and planned doses (clinical.dosing, on the protocol's weight basis; mg/kg one of the
    protocol's steps). Clinical-reference.md sections 3-4."""
    require_patient_access(actor, patient, "treatment.plan_course")
    route = protocol.route
    location = patient.primary_location
    today = timezone.localdate(timezone=location.tz)
    if first_day < today:
        raise ValidationError(
            f"The first session cannot be in the past ({first_day:%b} {first_day.day}, "
            f"{first_day.year}): a course is planned from today on."
        )
    if first_day > today + PLANNING_HORIZON:
        raise ValidationError("The first session must be within a year of today.")
    if route == "esketamine":
        if not location.spravato_rems_certified:
            raise ValidationError(f"{location.name} is not Spravato REMS certified.")
        if not rems_patient_enrollment_id.strip() or rems_enrolled_on is None:
            raise ValidationError("Esketamine needs the patient's REMS enrollment id and date.")
        if rems_enrolled_on > min(today, first_day):
            raise ValidationError("REMS enrollment must be recorded before the first treatment.")
    measurement = patient.measurements.exclude(weight_kg__isnull=True).first()
    if measurement is None:
        raise ValidationError("Record the patient's weight before planning doses.")
    height = (
        patient.measurements.exclude(height_cm__isnull=True)
        .values_list("height_cm", flat=True)
        .first()
    )
    data = protocol.data
    weight_basis = data.get("weight_basis") or WeightBasis.ACTUAL
    try:
        if route == "iv_ketamine":
            mg_per_kg = mg_per_kg or standard_mg_per_kg(data)
            steps = allowed_mg_per_kg(data)
            if steps and mg_per_kg not in steps:
                raise ValidationError(
                    f"This protocol doses {', '.join(f'{step:g}' for step in steps)} mg/kg."
                )
            maximum = max_mg_per_kg(data)
            if maximum is not None and mg_per_kg > maximum:
                raise ValidationError(
                    f"{mg_per_kg:g} mg/kg is above this protocol's maximum of {maximum:g} mg/kg."
                )
            minutes = infusion_minutes(data)
            dose = iv_ketamine_dose(
                weight_kg=measurement.weight_kg,
                mg_per_kg=mg_per_kg,
                minutes=minutes,
                basis=WeightBasis(weight_basis),
                height_cm=height,
                sex=patient.sex_at_birth if patient.sex_at_birth in ("female", "male") else None,
                max_mg_per_kg=maximum,
            )
            planned_dose, basis_kg = dose.dose_mg, dose.basis_weight_kg
        else:
            minutes = None
            mg_per_kg = None
            planned_dose = Decimal(esketamine_start_dose_mg(data, age_years=patient.age_years))
            basis_kg = measurement.weight_kg
        starts = plan_session_starts(
            first_day=first_day,
            local_time=local_time,
            tz=location.timezone,
            rules=schedule_rules(data),
        )
    except (DosingInputError, ScheduleError) as error:
        raise ValidationError(str(error)) from error
    with transaction.atomic():
        # One planning at a time per patient: a double click cannot make two courses.
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        decision = latest_decision(patient, route)
        if decision is None or decision.decision != EligibilityDecision.Decision.APPROVE:
            raise ValidationError(
                "A prescriber must sign an approving eligibility decision for "
                "this route before a course can start."
            )
        consent = current_consent(patient)
        if consent is None:
            raise ValidationError(
                "The patient has no witnessed consent on the current consent document."
            )
        for what, signed_at in (
            ("the signed eligibility decision", decision.signed_at),
            ("the patient's consent", consent.signed_at),
        ):
            signed_on = timezone.localdate(signed_at, location.tz)
            if starts and timezone.localdate(starts[0], location.tz) < signed_on:
                raise ValidationError(
                    f"The first session ({first_day:%b} {first_day.day}) is before {what} "
                    f"({signed_on:%b} {signed_on.day}, {signed_on.year})."
                )
        active = (
            TreatmentCourse.objects.filter(patient=patient, protocol__data__route=route)
            .exclude(phase=TreatmentCourse.Phase.ENDED)
            .first()
        )
        if active is not None:
            raise ValidationError(
                f"The patient already has an active {route.replace('_', ' ')} "
                "course; end it before planning a new one."
            )
        course = TreatmentCourse.objects.create(
            patient=patient,
            protocol=protocol,
            eligibility_decision=decision,
            consent=consent,
            location=location,
            prescriber=actor,
            weight_basis=weight_basis if route == "iv_ketamine" else "",
            weight_kg=measurement.weight_kg,
            basis_weight_kg=basis_kg,
            mg_per_kg=mg_per_kg,
            infusion_minutes=minutes,
            planned_dose_mg=planned_dose,
            rems_patient_enrollment_id=rems_patient_enrollment_id.strip(),
            rems_enrolled_on=rems_enrolled_on,
        )
        PlannedSession.objects.bulk_create(
            PlannedSession(course=course, number=n, starts_at=start, planned_dose_mg=planned_dose)
            for n, start in enumerate(starts, start=1)
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="treatment_course",
            object_id=course.pk,
            detail={"protocol": protocol.key, "version": protocol.version, "sessions": len(starts)},
        )
    return course


def course_set_phase(*, actor: User, course: TreatmentCourse, phase: str) -> TreatmentCourse:
    """Move a course on (induction -> evaluation -> maintenance -> taper; maintenance may
    return to evaluation). Ending takes course_end, with its reason."""
    require_patient_access(actor, course.patient, "treatment.plan_course")
    allowed = {
        TreatmentCourse.Phase.INDUCTION: {TreatmentCourse.Phase.EVALUATION},
        TreatmentCourse.Phase.EVALUATION: {
            TreatmentCourse.Phase.MAINTENANCE,
            TreatmentCourse.Phase.TAPER,
        },
        TreatmentCourse.Phase.MAINTENANCE: {
            TreatmentCourse.Phase.EVALUATION,
            TreatmentCourse.Phase.TAPER,
        },
        TreatmentCourse.Phase.TAPER: {TreatmentCourse.Phase.MAINTENANCE},
    }.get(TreatmentCourse.Phase(course.phase), set())
    if phase not in allowed:
        raise ValidationError(
            f"A course in {course.get_phase_display().lower()} cannot move to {phase}."
        )
    with transaction.atomic():
        TreatmentCourse.objects.filter(pk=course.pk).update(phase=phase)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=course.patient_id,
            object_type="treatment_course",
            object_id=course.pk,
            detail={"phase": phase},
        )
    course.refresh_from_db()
    return course


def course_end(*, actor: User, course: TreatmentCourse, reason: str) -> TreatmentCourse:
    """End a course, with the reason. Its planned sessions not yet started are cancelled
    with that reason, and their bookings with them (signals.course_ended; refused while a
    session of the course is in the chair)."""
    require_patient_access(actor, course.patient, "treatment.plan_course")
    reason = reason.strip()
    if not reason:
        raise ValidationError("Give the reason the course ends.")
    with transaction.atomic():
        locked = TreatmentCourse.objects.select_for_update().get(pk=course.pk)
        if locked.phase == TreatmentCourse.Phase.ENDED:
            raise ValidationError("This course has already ended.")
        TreatmentCourse.objects.filter(pk=course.pk).update(
            phase=TreatmentCourse.Phase.ENDED, ended_reason=reason
        )
        locked.refresh_from_db()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=course.patient_id,
            object_type="treatment_course",
            object_id=course.pk,
            detail={"phase": "ended"},
        )
        course_ended.send(sender=TreatmentCourse, course=locked, actor=actor, reason=reason)
    course.refresh_from_db()
    return course
