"""Writes to the patient registry. Each is one transaction with a permission check and
an audit entry; validation comes from the model's validators (full_clean)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone

from ketaclinic.accounts.roles import CARE_TEAM_ROLES
from ketaclinic.accounts.selectors import locations_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record, audit_record_events
from ketaclinic.clinical.codes import format_mrn, normalize_icd10_cm
from ketaclinic.patients.importing import ImportCheck, import_check
from ketaclinic.patients.models import (
    NO_KNOWN_DRUG_ALLERGY_SNOMED_CT,
    Allergy,
    BodyMeasurement,
    CareTeamAssignment,
    Diagnosis,
    Medication,
    MrnSequence,
    Patient,
    PatientImport,
    SubstanceUse,
)
from ketaclinic.patients.selectors import patients_visible_to

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.organization.models import Location

# Patients written per INSERT by an import; the progress callback is told after each.
IMPORT_BATCH = 500


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


def patient_register(*, actor: User, patient: Patient) -> Patient:
    """Register a new patient (an unsaved Patient built from a validated form)."""
    _require(actor, "patient.register")
    _require_location(actor, patient.primary_location)
    with transaction.atomic():
        patient.mrn = mrn_allocate()[0]
        patient.derive_fields()
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
        current.derive_fields()
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


def _import_check(
    actor: User, text: str, default_location: Location | None, **kw: Any
) -> ImportCheck:
    return import_check(
        text, locations=list(locations_for(actor)), default_location=default_location, **kw
    )


def patients_import_check(
    *,
    actor: User,
    file_name: str,
    text: str,
    default_location: Location | None = None,
    max_rows: int | None = None,
    keep: bool = True,
    progress: Callable[[int], None] | None = None,
) -> tuple[PatientImport | None, ImportCheck]:
    """Check a file of patients (its text: patients.importing.decode) and save no
    patient. When it passes and `keep`, keep it for confirmation (patients_import_run),
    once: the same file checked again by the same person is the same waiting import. The
    registered patients it names as duplicates are audited as seen."""
    _require(actor, "patient.import")
    if default_location is not None:
        _require_location(actor, default_location)
    check = _import_check(actor, text, default_location, max_rows=max_rows, progress=progress)
    events = _duplicates_seen(check, file_name)
    staged = None
    with transaction.atomic():
        if keep and check.importable:
            digest = hashlib.sha256(text.encode()).hexdigest()
            staged = PatientImport.objects.filter(
                uploaded_by=actor,
                sha256=digest,
                default_location=default_location,
                status=PatientImport.Status.CHECKED,
            ).first() or PatientImport.objects.create(
                file_name=file_name[:255],
                content=text,
                sha256=digest,
                default_location=default_location,
                rows=check.rows,
                duplicates=len(check.duplicates),
                uploaded_by=actor,
            )
        events.append(
            AuditEvent(
                AuditAction.CREATE if staged else AuditAction.VIEW,
                object_type="patient_import",
                object_id=staged.pk if staged else "",
                detail={
                    "file": file_name,
                    "rows": check.rows,
                    "new": len(check.new),
                    "problems": len(check.problems),
                    "duplicates": len(check.duplicates),
                },
            )
        )
        audit_record_events(actor=actor, events=events)
    return staged, check


def _duplicates_seen(check: ImportCheck, file_name: str) -> list[AuditEvent]:
    """The registered patients a check names (as duplicates), as seen by the importer."""
    return [
        AuditEvent(
            AuditAction.VIEW,
            patient_id=duplicate.existing.pk,
            object_type="patient",
            object_id=duplicate.existing.pk,
            detail={"page": "import check", "file": file_name, "line": duplicate.line},
        )
        for duplicate in check.duplicates
        if duplicate.existing is not None
    ]


def patients_import_review(*, actor: User, import_id: int) -> tuple[PatientImport, ImportCheck]:
    """A waiting import's file checked again as of now, for its confirmation page (audited
    like the first check). A finished import has no file left: an empty check."""
    _require(actor, "patient.import")
    staged = PatientImport.objects.select_related("default_location", "uploaded_by").get(
        pk=import_id
    )
    if staged.status != PatientImport.Status.CHECKED:
        return staged, ImportCheck()
    check = _import_check(actor, staged.content, staged.default_location)
    events = _duplicates_seen(check, staged.file_name)
    events.append(
        AuditEvent(
            AuditAction.VIEW,
            object_type="patient_import",
            object_id=staged.pk,
            detail={"new": len(check.new), "problems": len(check.problems)},
        )
    )
    audit_record_events(actor=actor, events=events)
    return staged, check


def _finished(staged: PatientImport) -> str:
    when = (
        timezone.localtime(staged.finished_at).strftime("%Y-%m-%d %H:%M %Z")
        if staged.finished_at
        else ""
    )
    who = staged.finished_by.username if staged.finished_by else ""
    status = staged.get_status_display().lower()
    return f"This file was {status} on {when} by {who}: nothing was done now."


def patients_import_run(
    *, actor: User, import_id: int, progress: Callable[[str, int], None] | None = None
) -> tuple[PatientImport, ImportCheck]:
    """Register every new patient of a checked file, all or none: the file is checked again
    first (someone may have registered one of its patients meanwhile: that line becomes a
    duplicate; a problem refuses the whole import). `progress(phase, n)` is told of n more
    lines checked ("checking") and of n more patients written ("importing"). The file's
    text is cleared once imported."""
    _require(actor, "patient.import")
    with transaction.atomic():
        staged = (
            PatientImport.objects.select_for_update(of=("self",))
            .select_related("default_location")
            .get(pk=import_id)
        )
        if staged.status != PatientImport.Status.CHECKED:
            raise ValidationError(_finished(staged))
        checked = (lambda n: progress("checking", n)) if progress else None
        check = _import_check(actor, staged.content, staged.default_location, progress=checked)
        if check.problems:
            first = check.problems[0]
            raise ValidationError(
                f"The file no longer passes its check (line {first.line}: {first.message}; "
                f"{len(check.problems)} problem(s) in all). Nothing was imported: check it again."
            )
        if not check.new:
            raise ValidationError(
                "Every patient in this file is registered already. Nothing was imported."
            )
        for location in {patient.primary_location for _, patient in check.new}:
            _require_location(actor, location)
        patients = [patient for _, patient in check.new]
        for patient, mrn in zip(patients, mrn_allocate(len(patients)), strict=True):
            patient.mrn = mrn
        for at in range(0, len(patients), IMPORT_BATCH):
            batch = patients[at : at + IMPORT_BATCH]
            Patient.objects.bulk_create(batch)
            if progress is not None:
                progress("importing", len(batch))
        staged.status = PatientImport.Status.IMPORTED
        staged.content = ""
        staged.imported = len(patients)
        staged.duplicates = len(check.duplicates)
        staged.duplicate_lines = [duplicate.line for duplicate in check.duplicates]
        staged.finished_by = actor
        staged.finished_at = timezone.now()
        staged.save()
        events = [
            AuditEvent(
                AuditAction.CREATE,
                patient_id=patient.pk,
                object_type="patient",
                object_id=patient.pk,
                detail={"mrn": patient.mrn, "import": staged.pk, "line": line},
            )
            for line, patient in check.new
        ]
        events.append(
            AuditEvent(
                AuditAction.UPDATE,
                object_type="patient_import",
                object_id=staged.pk,
                detail={"imported": staged.imported, "duplicates": staged.duplicates},
            )
        )
        audit_record_events(actor=actor, events=events)
    return staged, check


def patients_import_discard(*, actor: User, import_id: int) -> PatientImport:
    """Give up a checked file: its text is cleared, nothing is imported."""
    _require(actor, "patient.import")
    with transaction.atomic():
        staged = PatientImport.objects.select_for_update(of=("self",)).get(pk=import_id)
        if staged.status != PatientImport.Status.CHECKED:
            raise ValidationError(_finished(staged))
        staged.status = PatientImport.Status.DISCARDED
        staged.content = ""
        staged.finished_by = actor
        staged.finished_at = timezone.now()
        staged.save()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="patient_import",
            object_id=staged.pk,
            detail={"discarded": True},
        )
    return staged


def care_team_assign(*, actor: User, patient: Patient, clinician: User) -> CareTeamAssignment:
    """Assign a therapist to a patient of one of the therapist's locations."""
    require_patient_access(actor, patient, "care_team.assign")
    if clinician.role not in CARE_TEAM_ROLES or not clinician.is_active:
        raise ValidationError("Only an active therapist's account can be assigned.")
    if not clinician.locations.filter(pk=patient.primary_location_id).exists():
        raise ValidationError(
            f"{clinician.display_name} does not work at {patient.primary_location}."
        )
    with transaction.atomic():
        open_assignment = (
            CareTeamAssignment.objects.select_for_update()
            .filter(patient=patient, clinician=clinician, ended_at__isnull=True)
            .first()
        )
        if open_assignment is not None:
            raise ValidationError(f"{clinician.display_name} is already on the care team.")
        assignment = CareTeamAssignment.objects.create(
            patient=patient, clinician=clinician, assigned_by=actor
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="care_team_assignment",
            object_id=assignment.pk,
            detail={"clinician_id": clinician.pk},
        )
    return assignment


def care_team_end(*, actor: User, assignment: CareTeamAssignment) -> CareTeamAssignment:
    """End an assignment: the therapist no longer sees the patient. The row stays."""
    require_patient_access(actor, assignment.patient, "care_team.assign")
    with transaction.atomic():
        assignment = CareTeamAssignment.objects.select_for_update().get(pk=assignment.pk)
        if assignment.ended_at is not None:
            raise ValidationError("This assignment has already ended.")
        assignment.ended_at = timezone.now()
        assignment.ended_by = actor
        assignment.save(update_fields=["ended_at", "ended_by"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=assignment.patient_id,
            object_type="care_team_assignment",
            object_id=assignment.pk,
            detail={"ended": True, "clinician_id": assignment.clinician_id},
        )
    return assignment
