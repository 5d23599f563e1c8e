"""Import a FHIR Bundle of patients with their conditions, medications, allergies and
questionnaire responses (for example another system's Patient $everything).

Every resource is validated with fhir.resources' R4B models first; a Bundle with any problem
changes nothing and every problem is listed. Patients registered already (the same name and
date of birth) are reported and not created twice, and their resources are left out. Then
everything is written in one transaction, through the same services the pages use, so each
record is checked, audited and (for a suicide-risk answer) alerted as it would be if typed
in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as ModelError

from ketaclinic.accounts.models import User
from ketaclinic.fhir import codes, mapping
from ketaclinic.instruments.schema import INSTRUMENT_KEYS
from ketaclinic.measures.models import ResponseContext
from ketaclinic.measures.services import response_import
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Allergy, Diagnosis, Medication, Patient
from ketaclinic.patients.services import (
    allergy_add,
    diagnosis_add,
    medication_add,
    patient_register,
)

IMPORTED_TYPES = (
    "Patient",
    "Condition",
    "MedicationStatement",
    "AllergyIntolerance",
    "QuestionnaireResponse",
)
SEX = {v: k for k, v in mapping.GENDER.items()}
DIAGNOSIS_STATUS = {v: k for k, v in mapping.CONDITION_STATUS.items()} | {"inactive": "resolved"}
SEVERITY = {"mild": "mild", "moderate": "moderate", "severe": "severe"}


@dataclass
class BundleReport:
    patients: int = 0
    conditions: int = 0
    medications: int = 0
    allergies: int = 0
    responses: int = 0
    duplicates: list[str] = field(default_factory=list)
    not_imported: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    created: list[Patient] = field(default_factory=list)


def _entries(data: bytes | str) -> list[tuple[str, dict[str, Any]]]:
    try:
        bundle = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValidationError(f"The file is not JSON ({error}).") from error
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValidationError("The file is not a FHIR Bundle (resourceType must be Bundle).")
    out = []
    for number, entry in enumerate(bundle.get("entry") or [], 1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or "resourceType" not in resource:
            raise ValidationError(f"Entry {number} holds no resource.")
        key = entry.get("fullUrl") or ""
        out.append((key, resource))
    if not out:
        raise ValidationError("The Bundle has no entries.")
    return out


def _validated(number: int, resource: dict[str, Any], problems: list[str]) -> bool:
    kind = resource["resourceType"]
    try:
        model = get_fhir_model_class(kind)
    except KeyError:
        problems.append(f"Entry {number}: {kind} is not a FHIR R4 resource type.")
        return False
    try:
        model.model_validate(resource)
    except (ModelError, ValueError) as error:
        first = str(error).splitlines()
        problems.append(f"Entry {number} ({kind}): {' '.join(first[:3])[:300]}")
        return False
    return True


def _patient_key(resource: dict[str, Any]) -> str:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference


def _patient_from(resource: dict[str, Any], location: Location) -> Patient:
    names = resource.get("name") or []
    official = next(
        (n for n in names if n.get("use") in {"official", None}), names[0] if names else {}
    )
    usual = next((n for n in names if n.get("use") == "usual"), {})
    phones = [t["value"] for t in resource.get("telecom", []) if t.get("system") == "phone"]
    emails = [t["value"] for t in resource.get("telecom", []) if t.get("system") == "email"]
    address = (resource.get("address") or [{}])[0]
    lines = address.get("line") or []
    contact = (resource.get("contact") or [{}])[0]
    contact_phone = [t["value"] for t in contact.get("telecom", []) if t.get("system") == "phone"]
    relationship = (contact.get("relationship") or [{}])[0].get("text", "")
    return Patient(
        legal_first_name=" ".join(official.get("given") or []),
        legal_last_name=official.get("family", ""),
        preferred_name=" ".join(usual.get("given") or []),
        date_of_birth=date.fromisoformat(resource.get("birthDate", ""))
        if resource.get("birthDate")
        else None,
        sex_at_birth=SEX.get(resource.get("gender", "unknown"), "unknown"),
        phone=phones[0] if phones else "",
        email=emails[0] if emails else "",
        address_line1=lines[0] if lines else "",
        address_line2=lines[1] if len(lines) > 1 else "",
        city=address.get("city", ""),
        state=address.get("state", ""),
        postal_code=address.get("postalCode", ""),
        emergency_contact_name=(contact.get("name") or {}).get("text", ""),
        emergency_contact_relationship="" if relationship == "Emergency contact" else relationship,
        emergency_contact_phone=contact_phone[0] if contact_phone else "",
        primary_location=location,
    )


def _code(concept: dict[str, Any] | None, system: str) -> str:
    for coding in (concept or {}).get("coding", []):
        if coding.get("system") == system:
            return coding.get("code", "")
    return ""


def _text(concept: dict[str, Any]) -> str:
    """What a CodeableConcept says: its text, else its first coding's display."""
    return concept.get("text") or next(
        (c.get("display", "") for c in concept.get("coding", [])), ""
    )


def _extension(resource: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in resource.get("extension", []) if e.get("url") == url), None)


def _condition(resource: dict[str, Any]) -> Diagnosis:
    concept = resource.get("code") or {}
    status = _code(resource.get("clinicalStatus"), codes.CONDITION_CLINICAL) or "active"
    onset = resource.get("onsetDateTime", "")
    return Diagnosis(
        icd10_code=_code(concept, codes.ICD10_CM),
        description=_text(concept)[:200],
        onset_date=date.fromisoformat(onset[:10]) if onset else None,
        status=DIAGNOSIS_STATUS.get(status, "active"),
        is_primary=bool(_extension(resource, codes.EXTENSION_BASE + "primary-diagnosis")),
    )


def _medication(resource: dict[str, Any]) -> Medication:
    concept = resource.get("medicationCodeableConcept") or {}
    period = resource.get("effectivePeriod") or {}
    dosage = (resource.get("dosage") or [{}])[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0].get("doseQuantity") or {}).get("value")
    medication_class = (_extension(resource, mapping.EXT_MEDICATION_CLASS) or {}).get(
        "valueCode", "other"
    )
    trial = {
        e["url"]: next(v for k, v in e.items() if k.startswith("value"))
        for e in (_extension(resource, mapping.EXT_TRIAL) or {}).get("extension", [])
    }
    return Medication(
        name=_text(concept)[:120],
        medication_class=medication_class,
        dose_mg_per_day=Decimal(str(dose)) if dose is not None else None,
        directions=dosage.get("text", "")[:200],
        started_on=date.fromisoformat(period["start"][:10]) if period.get("start") else None,
        stopped_on=date.fromisoformat(period["end"][:10]) if period.get("end") else None,
        is_current=resource.get("status") in {"active", "intended", "on-hold"},
        weeks_at_dose=trial.get("weeksAtDose"),
        adherence=trial.get("adherence", ""),
        trial_outcome=trial.get("outcome", ""),
        in_current_episode=trial.get("inCurrentEpisode", True),
    )


def _allergy(resource: dict[str, Any]) -> Allergy | None:
    concept = resource.get("code") or {}
    if _code(concept, codes.SNOMED_CT) == "409137002":
        return None  # "no known drug allergies": a statement, verified here again by staff
    reaction = (resource.get("reaction") or [{}])[0]
    return Allergy(
        substance=_text(concept)[:120],
        reaction=" ".join(m.get("text", "") for m in reaction.get("manifestation", []))[:200],
        severity=SEVERITY.get(reaction.get("severity", ""), "unknown"),
    )


def _response(resource: dict[str, Any]) -> tuple[str, list[int], str, datetime, bool]:
    url = resource.get("questionnaire", "")
    key = url.removeprefix(codes.QUESTIONNAIRE_BASE)
    if key not in INSTRUMENT_KEYS:
        raise ValidationError(f"The questionnaire {url!r} is not one of ketaclinic's instruments.")
    answers = []
    for item in resource.get("item", []):
        answer = (item.get("answer") or [{}])[0]
        value = answer.get("valueCoding", {}).get("code", answer.get("valueInteger"))
        try:
            answers.append(int(value))
        except (TypeError, ValueError) as error:
            raise ValidationError(
                f"Item {item.get('linkId')} has no whole-number answer."
            ) from error
    context = (_extension(resource, mapping.EXT_RESPONSE_CONTEXT) or {}).get(
        "valueCode", ResponseContext.values[0]
    )
    authored = datetime.fromisoformat(resource["authored"].replace("Z", "+00:00"))
    by_patient = (resource.get("author") or {}).get("reference", "").startswith("Patient/")
    return key, answers, context, authored, by_patient


def bundle_import(*, actor: User, data: bytes | str, location: Location) -> BundleReport:
    """Validate the whole Bundle, then import it all or nothing (ValidationError lists every
    problem)."""
    if not actor.can("fhir.export"):
        raise PermissionDenied("Your role may not import FHIR Bundles.")
    entries = _entries(data)
    report = BundleReport()
    for number, (_key, resource) in enumerate(entries, 1):
        _validated(number, resource, report.problems)
    if report.problems:
        raise ValidationError(report.problems)
    patients: dict[str, Patient | None] = {}
    with transaction.atomic():
        for number, (key, resource) in enumerate(entries, 1):
            if resource["resourceType"] != "Patient":
                continue
            candidate = _patient_from(resource, location)
            candidate.derive_fields()
            existing = Patient.objects.filter(
                first_name_key=candidate.first_name_key,
                last_name_key=candidate.last_name_key,
                date_of_birth=candidate.date_of_birth,
            ).first()
            refs = {key, f"Patient/{resource.get('id', '')}"}
            if existing is not None:
                report.duplicates.append(
                    f"{candidate.legal_first_name} {candidate.legal_last_name}, born "
                    f"{candidate.date_of_birth}, is registered already as {existing.mrn}."
                )
                patients.update(dict.fromkeys(refs))
                continue
            try:
                created = patient_register(actor=actor, patient=candidate)
            except ValidationError as error:
                report.problems.append(f"Entry {number} (Patient): {_named(error)}")
                continue
            report.created.append(created)
            report.patients += 1
            patients.update(dict.fromkeys(refs, created))
        for number, (_key, resource) in enumerate(entries, 1):
            kind = resource["resourceType"]
            if kind == "Patient":
                continue
            if kind not in IMPORTED_TYPES:
                report.not_imported[kind] = report.not_imported.get(kind, 0) + 1
                continue
            reference = _patient_key(resource)
            if reference not in patients:
                report.problems.append(
                    f"Entry {number} ({kind}) refers to {reference or 'no patient'}, "
                    "which is not in the Bundle."
                )
                continue
            patient = patients[reference]
            if patient is None:
                continue  # a duplicate's record stays with the patient registered already
            try:
                _import_one(actor, patient, resource, report)
            except ValidationError as error:
                report.problems.append(f"Entry {number} ({kind}): {_named(error)}")
        if report.problems:
            raise ValidationError(report.problems)
    return report


def _named(error: ValidationError) -> str:
    """The problems with the field each is about ("state: This field cannot be blank.")."""
    if not hasattr(error, "error_dict"):
        return "; ".join(error.messages)
    return "; ".join(
        f"{name.replace('_', ' ')}: {message}" if name != "__all__" else message
        for name, messages in error.message_dict.items()
        for message in messages
    )


def _import_one(
    actor: User, patient: Patient, resource: dict[str, Any], report: BundleReport
) -> None:
    kind = resource["resourceType"]
    if kind == "Condition":
        diagnosis_add(actor=actor, patient=patient, diagnosis=_condition(resource))
        report.conditions += 1
    elif kind == "MedicationStatement":
        medication_add(actor=actor, patient=patient, medication=_medication(resource))
        report.medications += 1
    elif kind == "AllergyIntolerance":
        allergy = _allergy(resource)
        if allergy is None:
            report.not_imported["AllergyIntolerance (no known drug allergies)"] = (
                report.not_imported.get("AllergyIntolerance (no known drug allergies)", 0) + 1
            )
            return
        allergy_add(actor=actor, patient=patient, allergy=allergy)
        report.allergies += 1
    elif kind == "QuestionnaireResponse":
        key, answers, context, authored, by_patient = _response(resource)
        response_import(
            actor=actor,
            patient=patient,
            instrument_key=key,
            answers=answers,
            context=context,
            completed_at=authored,
            completed_by_patient=by_patient,
        )
        report.responses += 1
