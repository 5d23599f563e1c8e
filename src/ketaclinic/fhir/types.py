"""Which tables serve which FHIR resource types, who may read them, and how they are searched.

A resource type is served from one or more sources (Observation: vital signs, body
measurements, questionnaire scores, chair scores). A source is a queryset with its patient
scope, the capability a reader needs, the fields searches filter on, and the mapping that
turns one row into resources. The read API, the searches and the bulk export all walk the
same sources, so they cannot disagree about what a caller may see.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from ketaclinic.accounts.models import User
from ketaclinic.charting.models import SessionNote, SessionScore, TreatmentSession, VitalSign
from ketaclinic.eligibility.models import ConsentSignature
from ketaclinic.fhir import mapping
from ketaclinic.fhir.codes import INSTRUMENT_CODES, VITAL_SIGNS
from ketaclinic.fhir.mapping import Resource
from ketaclinic.instruments.loader import load_definition
from ketaclinic.instruments.schema import INSTRUMENT_KEYS
from ketaclinic.measures.models import AssessmentResponse
from ketaclinic.organization.models import Location, Organization
from ketaclinic.patients.models import Allergy, BodyMeasurement, Diagnosis, Medication, Patient
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.scheduling.models import Appointment


@functools.cache
def _definition(key: str) -> dict[str, Any]:
    return load_definition(key)


def _title(key: str) -> str:
    return _definition(key)["title"] if key in INSTRUMENT_KEYS else key


@dataclass(frozen=True)
class Source:
    """One table that yields resources of a type.

    `patient_path` is the lookup from a row to its patient ("" for the Patient table itself,
    None for resources outside any patient's record). `id_prefix` marks the resource ids of
    this source when a type has several ("vs-12-hr" is reading 12's heart rate).
    """

    resource_type: str
    capability: str
    queryset: Callable[[], QuerySet[Any]]
    build: Callable[[Any], list[Resource]]
    patient_path: str | None = "patient"
    id_prefix: str = ""
    date_field: str | None = None
    updated_field: str | None = None
    codes: frozenset[str] = frozenset()
    code_filter: Callable[[set[str]], Q] | None = None
    categories: frozenset[str] = frozenset()
    extra_filter: Callable[[User], Q] | None = None

    def patient_lookup(self) -> str:
        return f"{self.patient_path}_id" if self.patient_path else "pk"

    def scoped(self, user: User) -> QuerySet[Any]:
        """The rows this user may read (the pages' rules), or none without the capability."""
        queryset = self.queryset()
        if not user.can(self.capability):
            return queryset.none()
        if self.patient_path is not None:
            queryset = queryset.filter(patient_scope(user, via=self.patient_path))
        if self.extra_filter is not None:
            queryset = queryset.filter(self.extra_filter(user))
        return queryset

    def pk_of(self, resource_id: str) -> int | None:
        """The row's key in a resource id of this source, or None when the id is not one."""
        if self.id_prefix:
            match = re.fullmatch(
                rf"{re.escape(self.id_prefix)}(\d{{1,18}})(-[a-z0-9]+)?", resource_id
            )
        else:
            match = re.fullmatch(r"(\d{1,18})", resource_id)
        return int(match.group(1)) if match else None


@dataclass(frozen=True)
class ResourceType:
    name: str
    sources: tuple[Source, ...]
    search_params: frozenset[str] = field(default_factory=frozenset)

    @property
    def pages_in_sql(self) -> bool:
        """One table, a resource a row (no id prefix): searches page in the database."""
        return len(self.sources) == 1 and not self.sources[0].id_prefix

    @property
    def in_patient_compartment(self) -> bool:
        return any(source.patient_path is not None for source in self.sources)


def _one(build: Callable[[Any], Resource | None]) -> Callable[[Any], list[Resource]]:
    def wrapped(row: Any) -> list[Resource]:
        resource = build(row)
        return [resource] if resource is not None else []

    return wrapped


def _staff_locations(user: User) -> Q:
    if user.sees_all_locations:
        return Q()
    return Q(pk__in=user.locations.values("pk"))


def _practitioners_of(user: User) -> Q:
    if user.sees_all_locations:
        return Q()
    return Q(locations__in=user.locations.values("pk"))


def _vital_codes(codes: set[str]) -> Q:
    wanted = Q(pk__in=[])
    for key, column in (
        ("blood_pressure", "systolic"),
        ("systolic", "systolic"),
        ("diastolic", "diastolic"),
        ("heart_rate", "heart_rate"),
        ("respiratory_rate", "respiratory_rate"),
        ("spo2", "spo2"),
        ("spo2_pulse_oximetry", "spo2"),
    ):
        if VITAL_SIGNS[key][0] in codes:
            wanted |= Q(**{f"{column}__isnull": False})
    if VITAL_SIGNS["blood_pressure"][0] in codes:
        wanted |= Q(diastolic__isnull=False)
    return wanted


def _instrument_codes(codes: set[str]) -> Q:
    keys = [
        key
        for key, (panel, _d, total, _t, items) in INSTRUMENT_CODES.items()
        if codes & {panel, total, *items}
    ]
    keys += [key for key in INSTRUMENT_KEYS if f"{key}-total" in codes]
    return Q(instrument_key__in=keys)


def _session_score_codes(codes: set[str]) -> Q:
    return Q(instrument__in=codes)


def _response(row: AssessmentResponse) -> list[Resource]:
    return mapping.assessment(row, _title(row.instrument_key))


def _questionnaire_response(row: AssessmentResponse) -> list[Resource]:
    return [mapping.questionnaire_response(row, _definition(row.instrument_key))]


def _session_score(row: SessionScore) -> list[Resource]:
    return [mapping.session_score(row, row.get_instrument_display())]


def _nkda(row: Patient) -> list[Resource]:
    return [mapping.no_known_drug_allergy(row)] if row.nkda_verified_at else []


def _sessions() -> QuerySet[TreatmentSession]:
    return TreatmentSession.objects.select_related("location", "course").order_by("pk")


VITAL_CODES = frozenset(
    VITAL_SIGNS[key][0]
    for key in (
        "blood_pressure",
        "systolic",
        "diastolic",
        "heart_rate",
        "respiratory_rate",
        "spo2",
        "spo2_pulse_oximetry",
    )
)
BODY_CODES = frozenset(VITAL_SIGNS[key][0] for key in ("weight", "height", "bmi"))
SCORE_CODES = frozenset(
    {
        code
        for panel, _d, total, _t, items in INSTRUMENT_CODES.values()
        for code in (panel, total, *items)
    }
    | {f"{key}-total" for key in INSTRUMENT_KEYS}
)

COMMON = frozenset({"_id", "_lastUpdated", "_count", "_offset"})
CLINICAL = COMMON | {"patient", "subject"}

TYPES: dict[str, ResourceType] = {
    t.name: t
    for t in (
        ResourceType(
            "Patient",
            (
                Source(
                    "Patient",
                    "patient.view_chart",
                    lambda: Patient.objects.select_related("primary_location").order_by("pk"),
                    _one(mapping.patient),
                    patient_path="",
                    date_field=None,
                    updated_field="updated_at",
                ),
            ),
            COMMON | {"identifier", "name", "family", "given", "birthdate", "gender"},
        ),
        ResourceType(
            "Practitioner",
            (
                Source(
                    "Practitioner",
                    "patient.search",
                    lambda: (
                        User.objects.filter(role__in=["nurse", "prescriber", "medical_director"])
                        .distinct()
                        .order_by("pk")
                    ),
                    _one(mapping.practitioner),
                    patient_path=None,
                    extra_filter=_practitioners_of,
                ),
            ),
            COMMON | {"name"},
        ),
        ResourceType(
            "Location",
            (
                Source(
                    "Location",
                    "patient.search",
                    lambda: Location.objects.order_by("pk"),
                    _one(mapping.location),
                    patient_path=None,
                    extra_filter=_staff_locations,
                ),
            ),
            COMMON | {"name"},
        ),
        ResourceType(
            "Group",
            (
                Source(
                    "Group",
                    "patient.search",
                    lambda: Location.objects.order_by("pk"),
                    _one(mapping.group),
                    patient_path=None,
                    extra_filter=_staff_locations,
                ),
            ),
            COMMON,
        ),
        ResourceType(
            "Organization",
            (
                Source(
                    "Organization",
                    "patient.search",
                    lambda: Organization.objects.order_by("pk"),
                    _one(mapping.organization),
                    patient_path=None,
                ),
            ),
            COMMON | {"name"},
        ),
        ResourceType(
            "Condition",
            (
                Source(
                    "Condition",
                    "patient.view_chart",
                    lambda: Diagnosis.objects.order_by("pk"),
                    _one(mapping.condition),
                    updated_field="recorded_at",
                    code_filter=lambda codes: Q(icd10_code__in=codes),
                    categories=frozenset({"problem-list-item"}),
                ),
            ),
            CLINICAL | {"code", "category"},
        ),
        ResourceType(
            "AllergyIntolerance",
            (
                Source(
                    "AllergyIntolerance",
                    "patient.view_chart",
                    lambda: Allergy.objects.order_by("pk"),
                    _one(mapping.allergy),
                    updated_field="recorded_at",
                ),
                Source(
                    "AllergyIntolerance",
                    "patient.view_chart",
                    lambda: Patient.objects.filter(nkda_verified_at__isnull=False).order_by("pk"),
                    _nkda,
                    patient_path="",
                    id_prefix="nkda-",
                    updated_field="nkda_verified_at",
                ),
            ),
            CLINICAL,
        ),
        ResourceType(
            "MedicationStatement",
            (
                Source(
                    "MedicationStatement",
                    "patient.view_chart",
                    lambda: Medication.objects.order_by("pk"),
                    _one(mapping.medication_statement),
                    updated_field="recorded_at",
                ),
            ),
            CLINICAL,
        ),
        ResourceType(
            "Observation",
            (
                Source(
                    "Observation",
                    "sessions.view",
                    lambda: VitalSign.objects.select_related("session").order_by("pk"),
                    mapping.vital_signs,
                    patient_path="session__patient",
                    id_prefix="vs-",
                    date_field="taken_at",
                    updated_field="recorded_at",
                    codes=VITAL_CODES,
                    code_filter=_vital_codes,
                    categories=frozenset({"vital-signs"}),
                ),
                Source(
                    "Observation",
                    "patient.view_chart",
                    lambda: BodyMeasurement.objects.order_by("pk"),
                    mapping.body_measurements,
                    id_prefix="body-",
                    date_field="measured_on",
                    updated_field="recorded_at",
                    codes=BODY_CODES,
                    code_filter=lambda codes: (
                        Q()
                        if codes & {VITAL_SIGNS["weight"][0], VITAL_SIGNS["bmi"][0]}
                        else Q(height_cm__isnull=False)
                    ),
                    categories=frozenset({"vital-signs"}),
                ),
                Source(
                    "Observation",
                    "measures.view_scores",
                    lambda: AssessmentResponse.objects.order_by("pk"),
                    _response,
                    id_prefix="qr-",
                    date_field="completed_at",
                    updated_field="completed_at",
                    codes=SCORE_CODES,
                    code_filter=_instrument_codes,
                    categories=frozenset({"survey"}),
                ),
                Source(
                    "Observation",
                    "sessions.view",
                    lambda: SessionScore.objects.select_related("session").order_by("pk"),
                    _session_score,
                    patient_path="session__patient",
                    id_prefix="score-",
                    date_field="taken_at",
                    updated_field="recorded_at",
                    codes=frozenset(SessionScore.Instrument.values),
                    code_filter=_session_score_codes,
                    categories=frozenset({"survey"}),
                ),
            ),
            CLINICAL | {"code", "category", "date"},
        ),
        ResourceType(
            "Questionnaire",
            (),
            COMMON,
        ),
        ResourceType(
            "QuestionnaireResponse",
            (
                Source(
                    "QuestionnaireResponse",
                    "measures.view_scores",
                    lambda: AssessmentResponse.objects.order_by("pk"),
                    _questionnaire_response,
                    date_field="completed_at",
                    updated_field="completed_at",
                ),
            ),
            CLINICAL | {"authored"},
        ),
        ResourceType(
            "Encounter",
            (
                Source(
                    "Encounter",
                    "sessions.view",
                    _sessions,
                    _one(mapping.encounter),
                    date_field="scheduled_at",
                ),
            ),
            CLINICAL | {"date"},
        ),
        ResourceType(
            "MedicationAdministration",
            (
                Source(
                    "MedicationAdministration",
                    "sessions.view",
                    lambda: _sessions().filter(
                        dose_mg__isnull=False, dosing_started_at__isnull=False
                    ),
                    _one(mapping.medication_administration),
                    date_field="dosing_started_at",
                ),
            ),
            CLINICAL | {"date"},
        ),
        ResourceType(
            "Provenance",
            (
                Source(
                    "Provenance",
                    "sessions.view",
                    lambda: SessionNote.objects.select_related("session").order_by("pk"),
                    lambda note: [mapping.provenance(note)],
                    patient_path="session__patient",
                    id_prefix="note-",
                    updated_field="signed_at",
                ),
            ),
            CLINICAL,
        ),
        ResourceType(
            "Appointment",
            (
                Source(
                    "Appointment",
                    "scheduling.view_calendar",
                    lambda: Appointment.objects.select_related("appointment_type").order_by("pk"),
                    _one(mapping.appointment),
                    date_field="starts_at",
                    updated_field="booked_at",
                ),
            ),
            CLINICAL | {"date"},
        ),
        ResourceType(
            "Consent",
            (
                Source(
                    "Consent",
                    "treatment.view",
                    lambda: ConsentSignature.objects.select_related("document").order_by("pk"),
                    _one(mapping.consent),
                    date_field="signed_at",
                    updated_field="signed_at",
                ),
            ),
            CLINICAL,
        ),
    )
}


def questionnaires() -> list[Resource]:
    """Every instrument as a Questionnaire (clinic data, not patient data)."""
    return [mapping.questionnaire(_definition(key)) for key in INSTRUMENT_KEYS]


def source_for_id(resource_type: ResourceType, resource_id: str) -> tuple[Source, int] | None:
    """The source and row key a resource id belongs to, or None when it cannot be one."""
    for source in resource_type.sources:
        pk = source.pk_of(resource_id)
        if pk is not None:
            return source, pk
    return None
