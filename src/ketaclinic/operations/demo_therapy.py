"""The demo's psychotherapy: the SLC therapist's care team (the portal's demo patient and
the first SLC patients with a treatment course), then their sessions and notes."""

from __future__ import annotations

from datetime import datetime

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.patients.models import CareTeamAssignment, Patient

# How many SLC patients with a treatment course the demo therapist cares for.
CARE_TEAM_PATIENTS = 6


def seed_care_team() -> list[Patient]:
    """Assign the SLC therapist to the portal's demo patient and the first SLC patients
    with a treatment course. Returns them."""
    therapist = User.objects.filter(role=Role.THERAPIST, username="therapist").first()
    if therapist is None:
        return []
    director = User.objects.filter(role=Role.MEDICAL_DIRECTOR).order_by("pk").first()
    location_ids = list(therapist.locations.values_list("pk", flat=True))
    portal_patient_ids = list(
        User.objects.filter(username="patient").values_list("patient_id", flat=True)
    )
    treated = list(
        Patient.objects.filter(
            primary_location_id__in=location_ids, treatment_courses__isnull=False
        )
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)[:CARE_TEAM_PATIENTS]
    )
    chosen = list(
        Patient.objects.filter(
            pk__in=set(treated) | set(portal_patient_ids), primary_location_id__in=location_ids
        ).order_by("pk")
    )
    CareTeamAssignment.objects.bulk_create(
        CareTeamAssignment(patient=p, clinician=therapist, assigned_by=director or therapist)
        for p in chosen
    )
    return chosen


def seed_therapy(*, now: datetime) -> None:
    """The demo's therapy stories, dated relative to `now`."""
    seed_care_team()
