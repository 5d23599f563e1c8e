"""Reads of patient data. Each returns querysets whose query count does not grow with rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from django.db.models import Model, Q, QuerySet, Value, prefetch_related_objects
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.roles import CARE_TEAM_ROLES
from ketaclinic.clinical.codes import MRN_DIGITS, format_mrn
from ketaclinic.clinical.search import parse_patient_query
from ketaclinic.patients.models import (
    NO_KNOWN_DRUG_ALLERGY_SNOMED_CT,
    Allergy,
    CareTeamAssignment,
    Patient,
)

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User

M = TypeVar("M", bound=Model)


def patient_scope(user: User, *, via: str = "") -> Q:
    """Which patients a user may see, as a condition on Patient (via="") or on records that
    point to a patient (via="patient").

    Staff see their locations' patients (therapists: only those assigned to them; directors
    and admins: all, with no condition, so
    lists never drag the whole patient table into a subquery); a patient user sees only
    their own record; anyone else sees nothing.
    """
    prefix = f"{via}__" if via else ""
    nothing = Q(pk__in=[])
    if not user.is_authenticated or not user.is_active:
        return nothing
    if user.role == "patient":
        if not user.patient_id:
            return nothing
        return Q(**{f"{via}_id" if via else "pk": user.patient_id})
    if user.sees_all_locations:
        return Q()
    if user.role in CARE_TEAM_ROLES:
        # A therapist: only the patients assigned to them, and only at their locations.
        location_ids = list(user.locations.values_list("pk", flat=True))
        assigned = CareTeamAssignment.objects.filter(clinician=user, ended_at__isnull=True)
        return Q(
            **{
                f"{prefix}primary_location_id__in": location_ids,
                f"{prefix}pk__in": assigned.values("patient_id"),
            }
        )
    if user.is_clinic_staff:
        # Resolve the ids first: an equality on one location lets the database walk the
        # (location, name) index in order instead of sorting every matching row.
        location_ids = list(user.locations.values_list("pk", flat=True))
        if len(location_ids) == 1:
            return Q(**{f"{prefix}primary_location_id": location_ids[0]})
        return Q(**{f"{prefix}primary_location_id__in": location_ids})
    return nothing


def patients_visible_to(user: User) -> QuerySet[Patient]:
    """The patients `user` may see (see patient_scope)."""
    return Patient.objects.select_related("primary_location").filter(patient_scope(user))


def patient_get_for_user(user: User, patient_id: int) -> Patient:
    """The patient, or 404 when it does not exist or the user may not see it.

    404 (not 403) so that probing ids reveals nothing about other locations' patients.
    """
    # The NKDA verifier joins in, so the chart head's allergy status costs no extra query.
    patient = (
        patients_visible_to(user).select_related("nkda_verified_by").filter(pk=patient_id).first()
    )
    if patient is None:
        raise Http404("No such patient")
    return patient


def _range_prefix(field: str, prefix: str) -> Q:
    # A range on the normalised key uses the index on both SQLite and PostgreSQL.
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + "\uffff"})


def _mrns_for_digits(digits: str) -> list[str]:
    if len(digits) == MRN_DIGITS + 1:
        return [f"KC-{digits[:MRN_DIGITS]}-{digits[MRN_DIGITS]}"]
    if 0 < len(digits) <= MRN_DIGITS and int(digits) > 0:
        return [format_mrn(int(digits))]
    return []


def patient_search(
    user: User, *, text: str = "", location_id: int | None = None
) -> QuerySet[Patient]:
    """Patients matching a search box entry: an MRN (with or without prefix and check
    digit), a date of birth, or the start of last, first or preferred names."""
    patients = patients_visible_to(user)
    if location_id is not None:
        patients = patients.filter(primary_location_id=location_id)
    query = parse_patient_query(text)
    if query.mrn is not None:
        return patients.filter(mrn__in=_mrns_for_digits(query.mrn))
    if query.birth_date is not None:
        return patients.filter(date_of_birth=query.birth_date)
    if not query.name_words:
        return patients.order_by("last_name_key", "first_name_key", "id")
    for word in query.name_words:
        patients = patients.filter(
            _range_prefix("last_name_key", word)
            | _range_prefix("first_name_key", word)
            | _range_prefix("preferred_name_key", word)
        )
    # Sorted by an expression no index serves, so that the database reads the matches
    # through the three name indexes and sorts them, rather than walking the whole name
    # index in order and filtering: PostgreSQL chose the walk at 100,000 patients and read
    # 79,000 of them for a prefix late in the alphabet (70 ms, against 11 ms).
    return patients.order_by(Coalesce("last_name_key", Value("")), "first_name_key", "id")


def patient_chart(patient: Patient) -> dict[str, object]:
    """Everything the chart overview shows, in a fixed number of queries."""
    measurements = list(patient.measurements.all()[:12])
    # Fetched once onto the patient: the status and the chart head read the same rows.
    prefetch_related_objects([patient], "allergies")
    status = allergy_status(patient)
    return {
        "latest_measurement": measurements[0] if measurements else None,
        "measurements": measurements,
        "diagnoses": list(patient.diagnoses.all()),
        "medications": list(patient.medications.all()),
        "allergies": list(status.allergies),
        "allergy_status": status,
        "substance_use": list(patient.substance_use.all()),
    }


class AllergyState(StrEnum):
    NOT_RECORDED = "not_recorded"  # nobody has documented the allergy status yet
    NKDA = "nkda"  # a clinician verified: no known drug allergies
    ALLERGIES = "allergies"  # at least one allergy on file


@dataclass(frozen=True)
class AllergyStatus:
    """What the chart says about a patient's allergies, in one of three states.

    `verified_by`/`verified_at` are set only for NKDA; `allergies` only for ALLERGIES.
    """

    state: AllergyState
    allergies: tuple[Allergy, ...]
    verified_by: User | None
    verified_at: datetime | None
    label: str  # short, for a badge: "Allergies not recorded", "NKDA (verified ...)"

    @property
    def is_recorded(self) -> bool:
        """True once the status is documented (NKDA or an allergy), as a session needs."""
        return self.state != AllergyState.NOT_RECORDED

    @property
    def is_nkda(self) -> bool:
        return self.state == AllergyState.NKDA

    @property
    def snomed_ct_code(self) -> str:
        """SNOMED CT 409137002 for NKDA (the FHIR AllergyIntolerance negation code), else ""."""
        return NO_KNOWN_DRUG_ALLERGY_SNOMED_CT if self.is_nkda else ""


def _verifier_name(user: User | None) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.username


def allergy_status(patient: Patient) -> AllergyStatus:
    """The patient's allergy status: allergies on file, verified NKDA, or not recorded.

    An allergy on file always wins over an NKDA statement (a known allergy is what matters
    at the chair). No query when the patient was fetched through `with_allergy_status`
    (or with select_related("nkda_verified_by", "primary_location") and
    prefetch_related("allergies")); otherwise one for the allergies and one for the verifier.
    """
    allergies = tuple(patient.allergies.all())
    if allergies:
        return AllergyStatus(
            state=AllergyState.ALLERGIES,
            allergies=allergies,
            verified_by=None,
            verified_at=None,
            label="Allergies: " + ", ".join(a.substance for a in allergies),
        )
    verified_at = patient.nkda_verified_at
    if verified_at is None:
        return AllergyStatus(
            state=AllergyState.NOT_RECORDED,
            allergies=(),
            verified_by=None,
            verified_at=None,
            label="Allergies not recorded",
        )
    verified_by = patient.nkda_verified_by
    local_date = timezone.localtime(verified_at, patient.primary_location.tz)
    who = _verifier_name(verified_by)
    return AllergyStatus(
        state=AllergyState.NKDA,
        allergies=(),
        verified_by=verified_by,
        verified_at=verified_at,
        label=f"NKDA (verified {who + ', ' if who else ''}{local_date:%m/%d/%Y})",
    )


def with_allergy_status(queryset: QuerySet[M], *, via: str = "") -> QuerySet[M]:
    """`queryset` fetching what allergy_status reads, in one extra query for all rows.

    via="" for patients; via="patient" (or "course__patient", ...) for records pointing
    to a patient, as in patient_scope.
    """
    prefix = f"{via}__" if via else ""
    return queryset.select_related(
        f"{prefix}nkda_verified_by", f"{prefix}primary_location"
    ).prefetch_related(f"{prefix}allergies")
