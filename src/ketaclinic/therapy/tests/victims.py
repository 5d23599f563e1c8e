"""One of each therapy record of a patient, for the break-in walk
(patients/tests/test_access.py): a signed therapy note and a psychotherapy note, written by
a therapist of the patient's own location who is on the patient's care team."""

from typing import Any

from django.utils import timezone

from ketaclinic.accounts.roles import Role
from ketaclinic.accounts.services import user_create
from ketaclinic.patients.models import CareTeamAssignment
from ketaclinic.therapy import services

PASSWORD = "walk-therapist-password"


def victim_records(patient: Any, director: Any, clinic: dict[str, Any]) -> dict[str, int]:
    therapist = user_create(
        username=f"walk-therapist-{patient.pk}",
        password=PASSWORD,
        role=Role.THERAPIST,
        first_name="Walk",
        last_name="Therapist",
        locations=[patient.primary_location],
        check_password=False,
    )
    CareTeamAssignment.objects.create(patient=patient, clinician=therapist, assigned_by=director)
    today = timezone.localdate(timezone=patient.primary_location.tz)
    note = services.therapy_note_create(
        actor=therapist,
        patient=patient,
        kind="integration",
        session_date=today,
        answers={"experience": "x", "themes": "x", "goals": "x", "plan": "x"},
        risk_check="none",
    )
    services.therapy_note_sign(actor=therapist, note=note, password=PASSWORD)
    private = services.psychotherapy_note_add(
        actor=therapist, patient=patient, session_date=today, body="x"
    )
    return {"therapy_note_id": note.pk, "psychotherapy_note_id": private.pk}
