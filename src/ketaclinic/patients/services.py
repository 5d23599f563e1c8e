"""Writes to the patient registry. Each is one transaction with a permission check and
an audit entry; validation comes from the model's validators (full_clean)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.codes import format_mrn, normalize_icd10_cm, normalize_us_phone
from ketaclinic.clinical.search import name_key
from ketaclinic.patients.models import (
    NO_KNOWN_DRUG_ALLERGY_SNOMED_CT,
    Allergy,
    BodyMeasurement,
    Diagnosis,
    Medication,
    MrnSequence,
    Patient,
    SubstanceUse,
)
from ketaclinic.patients.selectors import patients_visible_to

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.organization.models import Location

PHONE_FIELDS = ("phone", "emergency_contact_phone", "escort_phone")


class StaleEditError(Exception):
    """Someone else saved the record after this form was opened."""


def _require(actor: User, capability: str) -> None:
    if not actor.can(capability):
        raise PermissionDenied(f"Your role may not do this ({capability}).")


def require_patient_access(actor: User, patient: Patient, capability: str) -> None:
    """Every write about a patient: the role holds the capability and sees the patient."""
    _require(actor, capability)
    if not patients_visible_to(actor).filter(pk=patient.pk).exists():
        raise PermissionDenied("This patient is not at one of your locations.")


def _require_location(actor: User, location: Location) -> None:
    if not actor.sees_all_locations and not actor.locations.filter(pk=location.pk).exists():
        raise PermissionDenied("You can only register patients at your own locations.")


def mrn_allocate(count: int = 1) -> list[str]:
    """Take `count` new medical record numbers; the counter row is locked meanwhile."""
    with transaction.atomic():
        sequence, _ = MrnSequence.objects.select_for_update().get_or_create(pk=1)
        first = sequence.last_number + 1
        sequence.last_number += count
        sequence.save(update_fields=["last_number"])
    return [format_mrn(n) for n in range(first, first + count)]


def patient_prepare(patient: Patient) -> None:
    """Derived fields: search keys and phone numbers in one format."""
    patient.first_name_key = name_key(patient.legal_first_name)
    patient.last_name_key = name_key(patient.legal_last_name)
    patient.preferred_name_key = name_key(patient.preferred_name)
    for field in PHONE_FIELDS:
        value = getattr(patient, field)
        if value:
            setattr(patient, field, normalize_us_phone(value) or value)


def patient_register(*, actor: User, patient: Patient) -> Patient:
    """Register a new patient (an unsaved Patient built from a validated form)."""
    _require(actor, "patient.register")
    _require_location(actor, patient.primary_location)
    with transaction.atomic():
        patient.mrn = mrn_allocate()[0]
        patient_prepare(patient)
        patient.full_clean()
        patient.save()
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="patient",
            object_id=patient.pk,
            detail={"mrn": patient.mrn},
        )
    return patient


def patient_update_demographics(
    *, actor: User, patient: Patient, changes: dict[str, Any], expected_version: int
) -> Patient:
    """Apply changed demographic fields, refusing when the record changed since the
    editor opened it (expected_version), so nobody silently overwrites a colleague."""
    require_patient_access(actor, patient, "patient.register")
    if "primary_location" in changes:
        _require_location(actor, changes["primary_location"])
    with transaction.atomic():
        current = Patient.objects.select_for_update().get(pk=patient.pk)
        if current.version != expected_version:
            raise StaleEditError(
                "Someone else saved this patient while you were editing. "
                "Your changes were not saved: reload the record and enter them again."
            )
        for field, value in changes.items():
            setattr(current, field, value)
        patient_prepare(current)
        current.full_clean()
        changed = sorted(changes)
        current.version = models.F("version") + 1
        current.updated_at = timezone.now()
        current.save()
        current.refresh_from_db()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=current.pk,
            object_type="patient",
            object_id=current.pk,
            detail={"fields": changed},
        )
    return current


def _add_history_item(
    *, actor: User, patient: Patient, item: models.Model, capability: str, object_type: str
) -> Any:
    require_patient_access(actor, patient, capability)
    item.patient = patient  # type: ignore[attr-defined]
    item.recorded_by = actor  # type: ignore[attr-defined]
    item.full_clean()
    with transaction.atomic():
        item.save()
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type=object_type,
            object_id=item.pk,
        )
    return item


def diagnosis_add(*, actor: User, patient: Patient, diagnosis: Diagnosis) -> Diagnosis:
    """Record a diagnosis with its ICD-10-CM code (normalised: f332 -> F33.2)."""
    diagnosis.icd10_code = normalize_icd10_cm(diagnosis.icd10_code)
    return _add_history_item(
        actor=actor,
        patient=patient,
        item=diagnosis,
        capability="patient.edit_clinical_history",
        object_type="diagnosis",
    )


def medication_add(*, actor: User, patient: Patient, medication: Medication) -> Medication:
    """Record a medication; for an antidepressant, the trial's dose, weeks, adherence and
    outcome (clinical-reference.md section 3)."""
    if (
        medication.stopped_on
        and medication.started_on
        and medication.stopped_on < medication.started_on
    ):
        raise ValidationError({"stopped_on": "A medication cannot stop before it started."})
    if medication.stopped_on:
        medication.is_current = False
    return _add_history_item(
        actor=actor,
        patient=patient,
        item=medication,
        capability="patient.edit_clinical_history",
        object_type="medication",
    )


def allergy_add(*, actor: User, patient: Patient, allergy: Allergy) -> Allergy:
    """Record an allergy. It ends a "no known drug allergies" statement in the same
    transaction: the patient now has a known allergy."""
    require_patient_access(actor, patient, "patient.edit_clinical_history")
    allergy.patient = patient
    allergy.recorded_by = actor
    allergy.full_clean()
    with transaction.atomic():
        # Locked like patient_nkda_verify, so an NKDA statement cannot slip in beside it.
        current = (
            Patient.objects.select_for_update().only("pk", "nkda_verified_at").get(pk=patient.pk)
        )
        allergy.save()
        detail: dict[str, Any] = {}
        if current.nkda_verified_at is not None:
            Patient.objects.filter(pk=patient.pk).update(
                nkda_verified_by=None, nkda_verified_at=None
            )
            detail["nkda_ended"] = current.nkda_verified_at.isoformat()
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="allergy",
            object_id=allergy.pk,
            detail=detail,
        )
    patient.nkda_verified_by = None
    patient.nkda_verified_at = None
    _forget_prefetched_allergies(patient)
    return allergy


def patient_nkda_verify(*, actor: User, patient: Patient) -> Patient:
    """State "no known drug allergies" (NKDA), verified with the patient by `actor` now.

    An explicit, audited statement, distinct from "allergies not recorded"; it may be made
    again later (e.g. at intake) and is refused while an allergy is on file. Coded as
    SNOMED CT 409137002 "No known drug allergy", the negation HL7 FHIR AllergyIntolerance
    and US Core use.
    """
    require_patient_access(actor, patient, "patient.edit_clinical_history")
    with transaction.atomic():
        current = (
            Patient.objects.select_for_update().only("pk", "nkda_verified_at").get(pk=patient.pk)
        )
        if Allergy.objects.filter(patient_id=patient.pk).exists():
            raise ValidationError(
                "This patient has an allergy on file, so “no known drug allergies” "
                "cannot be verified. Nothing was saved."
            )
        verified_at = timezone.now()
        Patient.objects.filter(pk=patient.pk).update(
            nkda_verified_by=actor, nkda_verified_at=verified_at
        )
        previous = current.nkda_verified_at
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=patient.pk,
            object_type="patient",
            object_id=patient.pk,
            detail={
                "fields": ["nkda_verified_at", "nkda_verified_by"],
                "statement": "no known drug allergies",
                "snomed_ct": NO_KNOWN_DRUG_ALLERGY_SNOMED_CT,
                "previously_verified_at": previous.isoformat() if previous else None,
            },
        )
    patient.nkda_verified_by = actor
    patient.nkda_verified_at = verified_at
    _forget_prefetched_allergies(patient)
    return patient


def _forget_prefetched_allergies(patient: Patient) -> None:
    # A list prefetched before the write would make allergy_status read stale rows.
    getattr(patient, "_prefetched_objects_cache", {}).pop("allergies", None)


def substance_use_add(*, actor: User, patient: Patient, entry: SubstanceUse) -> SubstanceUse:
    return _add_history_item(
        actor=actor,
        patient=patient,
        item=entry,
        capability="patient.edit_clinical_history",
        object_type="substance_use",
    )


def measurement_record(
    *, actor: User, patient: Patient, measurement: BodyMeasurement
) -> BodyMeasurement:
    """Record weight (and height when measured); BMI is derived, never typed."""
    return _add_history_item(
        actor=actor,
        patient=patient,
        item=measurement,
        capability="patient.record_measurements",
        object_type="body_measurement",
    )
