"""A therapist sees only the patients assigned to them, at their locations."""

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from ketaclinic.accounts.roles import Role
from ketaclinic.audit.models import AuditEntry
from ketaclinic.patients.models import CareTeamAssignment
from ketaclinic.patients.selectors import patients_visible_to
from ketaclinic.patients.services import care_team_assign, care_team_end

pytestmark = pytest.mark.django_db


def test_a_therapist_sees_only_their_assigned_patients(
    clinic: dict[str, Any], make_patient: Any
) -> None:
    unassigned = make_patient(clinic["slc"], "Alan", "Turing")
    therapist = clinic["therapist"]
    assert list(patients_visible_to(therapist)) == [clinic["patient_slc"]]
    # The nurse of the same location sees both.
    assert set(patients_visible_to(clinic["nurse"])) == {clinic["patient_slc"], unassigned}


def test_assigning_and_ending_changes_what_the_therapist_sees(
    client: Client, clinic: dict[str, Any], make_patient: Any
) -> None:
    other = make_patient(clinic["slc"], "Alan", "Turing")
    therapist = clinic["therapist"]
    client.force_login(therapist)
    assert client.get(f"/patients/{other.pk}/").status_code == 404
    assignment = care_team_assign(actor=clinic["coordinator"], patient=other, clinician=therapist)
    assert client.get(f"/patients/{other.pk}/").status_code == 200
    care_team_end(actor=clinic["coordinator"], assignment=assignment)
    assert client.get(f"/patients/{other.pk}/").status_code == 404
    # Ended, not deleted, and both changes are in the audit log.
    assert CareTeamAssignment.objects.filter(patient=other).count() == 1
    assert (
        AuditEntry.objects.filter(patient_id=other.pk, object_type="care_team_assignment").count()
        == 2
    )


def test_only_a_therapist_of_the_location_can_be_assigned(
    clinic: dict[str, Any], make_user: Any
) -> None:
    boise_therapist = make_user(Role.THERAPIST, [clinic["boise"]])
    with pytest.raises(ValidationError, match="does not work at"):
        care_team_assign(
            actor=clinic["director"], patient=clinic["patient_slc"], clinician=boise_therapist
        )
    with pytest.raises(ValidationError, match="therapist"):
        care_team_assign(
            actor=clinic["director"], patient=clinic["patient_slc"], clinician=clinic["nurse"]
        )
    with pytest.raises(ValidationError, match="already on the care team"):
        care_team_assign(
            actor=clinic["director"],
            patient=clinic["patient_slc"],
            clinician=clinic["therapist"],
        )
    with pytest.raises(PermissionDenied):
        care_team_assign(
            actor=clinic["admin"], patient=clinic["patient_slc"], clinician=clinic["therapist"]
        )
    assert CareTeamAssignment.objects.count() == 1


def test_a_therapist_cannot_reach_the_register_or_the_chair(clinic: dict[str, Any]) -> None:
    therapist = clinic["therapist"]
    for capability in (
        "register.view",
        "register.draw",
        "sessions.record",
        "sessions.view",
        "sessions.prescribe",
        "treatment.plan_course",
    ):
        assert not therapist.can(capability), capability
    assert therapist.can("therapy.write_notes") and therapist.can("scheduling.book")
