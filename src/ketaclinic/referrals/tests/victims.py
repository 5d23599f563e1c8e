"""For the break-in walk (patients/tests/test_access.py): one of each of referrals' patient
records, keyed by the URL kwarg that names it."""

from __future__ import annotations

from typing import Any

from ketaclinic.referrals import services


def victim_records(patient: Any, director: Any, clinic: Any) -> dict[str, int]:
    """A referral of `patient` to a resource of the patient's location's directory, made by
    the director; the resource's id too (its edit page is scoped to that location)."""
    resource = services.resource_create(
        actor=director,
        location=patient.primary_location,
        data={"kind": "therapist", "name": "Walk Counseling", "phone": "(801) 555-0199"},
    )
    referral = services.referral_create(
        actor=director,
        patient=patient,
        resource=resource,
        reason="Walk: a referral no one else may see.",
        urgency="routine",
    )
    return {"referral_id": referral.pk, "resource_id": resource.pk}
