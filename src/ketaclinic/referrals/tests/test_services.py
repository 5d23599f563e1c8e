"""Referral writes: reasons required, moves as data, append-only history, the 988 line
fixed, and the one-step crisis referral all or nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from ketaclinic.audit.models import AuditEntry
from ketaclinic.measures.services import AlreadyAcknowledgedError, alert_acknowledge
from ketaclinic.referrals import services
from ketaclinic.referrals.models import Referral, ReferralEvent, ReferralResource
from ketaclinic.referrals.tests.conftest import raise_alert

pytestmark = pytest.mark.django_db


def _refer(clinic: dict[str, Any], resource: Any, **kwargs: Any) -> Referral:
    fields = {"reason": "Weekly psychotherapy alongside ketamine.", "urgency": "routine"}
    return services.referral_create(
        actor=clinic["nurse"],
        patient=clinic["patient_slc"],
        resource=resource,
        **{**fields, **kwargs},
    )


def test_a_referral_without_a_reason_is_refused_and_nothing_saved(
    clinic: Any, directory: Any
) -> None:
    with pytest.raises(ValidationError, match="reason"):
        _refer(clinic, directory["therapist"], reason="   ")
    assert not Referral.objects.exists() and not ReferralEvent.objects.exists()


def test_a_referral_needs_one_recipient_of_the_patients_location(
    clinic: Any, directory: Any
) -> None:
    with pytest.raises(ValidationError, match="outside provider"):
        _refer(clinic, None)
    with pytest.raises(ValidationError, match="not in this patient's location"):
        _refer(clinic, directory["boise"])
    with pytest.raises(ValidationError, match="Choose how urgent"):
        _refer(clinic, directory["therapist"], urgency="whenever")
    outside = _refer(clinic, None, outside_provider="Dr. Outside, PhD")
    assert outside.recipient_name == "Dr. Outside, PhD"
    assert Referral.objects.count() == 1


def test_the_referral_moves_through_its_states_with_an_event_each(
    clinic: Any, directory: Any
) -> None:
    referral = _refer(clinic, directory["therapist"])
    assert referral.state == "sent"
    for state in ["contacted", "accepted", "closed"]:
        referral = services.referral_change_status(
            actor=clinic["coordinator"], referral=referral, to_state=state, note=f"now {state}"
        )
    assert referral.state == "closed"
    events = list(referral.events.order_by("at", "id"))
    assert [(e.from_state, e.to_state) for e in events] == [
        ("", "sent"),
        ("sent", "contacted"),
        ("contacted", "accepted"),
        ("accepted", "closed"),
    ]
    assert events[1].by == clinic["coordinator"] and events[1].note == "now contacted"
    with pytest.raises(PermissionError):
        events[1].save()
    with pytest.raises(PermissionError):
        events[1].delete()
    with pytest.raises(PermissionError):
        referral.events.update(note="rewritten")
    with pytest.raises(PermissionError):
        referral.events.all().delete()
    assert (
        AuditEntry.objects.filter(object_type="referral", object_id=str(referral.pk)).count() == 4
    )


def test_an_invalid_transition_is_refused_with_a_clear_message(clinic: Any, directory: Any) -> None:
    referral = _refer(clinic, directory["therapist"])
    with pytest.raises(ValidationError, match="A sent referral cannot be marked accepted"):
        services.referral_change_status(
            actor=clinic["nurse"], referral=referral, to_state="accepted"
        )
    referral.refresh_from_db()
    assert referral.state == "sent" and referral.events.count() == 1


def test_roles_and_locations_are_checked(clinic: Any, directory: Any) -> None:
    with pytest.raises(PermissionDenied):
        services.referral_create(
            actor=clinic["admin"],
            patient=clinic["patient_slc"],
            resource=directory["therapist"],
            reason="x",
            urgency="routine",
        )
    with pytest.raises(PermissionDenied):
        services.referral_create(
            actor=clinic["nurse_boise"],
            patient=clinic["patient_slc"],
            resource=directory["national"],
            reason="x",
            urgency="routine",
        )
    with pytest.raises(PermissionDenied):
        services.resource_create(
            actor=clinic["nurse"],
            location=clinic["slc"],
            data={"kind": "other", "name": "X", "phone": "1"},
        )
    with pytest.raises(PermissionDenied):
        services.resource_create(
            actor=clinic["coordinator"],
            location=clinic["boise"],
            data={"kind": "other", "name": "X", "phone": "1"},
        )
    assert not Referral.objects.exists()


def test_the_988_line_is_one_row_and_cannot_be_changed(clinic: Any, directory: Any) -> None:
    assert services.national_crisis_resource() == directory["national"]
    assert ReferralResource.objects.filter(national=True).count() == 1
    with pytest.raises(PermissionDenied, match="988"):
        services.resource_update(
            actor=clinic["director"], resource=directory["national"], data={"is_active": False}
        )


def test_an_edit_is_audited_with_before_and_after_and_deactivation_keeps_the_row(
    clinic: Any, directory: Any
) -> None:
    resource = services.resource_update(
        actor=clinic["coordinator"],
        resource=directory["therapist"],
        data={"phone": "(801) 555-0199", "is_active": False},
    )
    assert not resource.is_active and ReferralResource.objects.filter(pk=resource.pk).exists()
    entry = AuditEntry.objects.filter(object_type="referral_resource", action="update").get()
    assert entry.detail["changes"]["phone"] == {
        "before": "(801) 555-0142",
        "after": "(801) 555-0199",
    }
    assert entry.detail["changes"]["is_active"] == {"before": True, "after": False}
    with pytest.raises(ValidationError, match="no longer in the directory"):
        _refer(clinic, resource)


def test_crisis_referral_from_an_alert_acknowledges_and_refers_in_one_step(
    clinic: Any, directory: Any
) -> None:
    alert = raise_alert(clinic["nurse"], clinic["patient_slc"])
    referral = services.referral_crisis_from_alert(
        actor=clinic["nurse"],
        alert=alert,
        resource=directory["national"],
        note="Called with the patient; 988 counsellor on the line.",
    )
    alert.refresh_from_db()
    assert alert.acknowledged_by == clinic["nurse"] and alert.action == "crisis_services"
    assert referral.urgency == "crisis" and referral.from_alert == alert
    assert referral.resource == directory["national"] and referral.state == "sent"


@pytest.mark.parametrize("failure", ["no_note", "not_crisis", "already", "therapist"])
def test_crisis_referral_saves_nothing_when_either_half_fails(
    clinic: Any, directory: Any, failure: str
) -> None:
    alert = raise_alert(clinic["nurse"], clinic["patient_slc"])
    actor, resource, note = clinic["nurse"], directory["national"], "Called."
    expected: type[Exception] = ValidationError
    if failure == "no_note":
        note = ""
    elif failure == "not_crisis":
        resource = directory["therapist"]
    elif failure == "already":
        alert_acknowledge(actor=clinic["prescriber"], alert=alert, action="other", note="Seen.")
        expected = AlreadyAcknowledgedError
    else:
        actor, expected = clinic["therapist"], PermissionDenied
    with pytest.raises(expected):
        services.referral_crisis_from_alert(actor=actor, alert=alert, resource=resource, note=note)
    alert.refresh_from_db()
    assert not Referral.objects.exists()
    if failure != "already":
        assert alert.acknowledged_at is None


def test_crisis_referral_rolls_back_the_acknowledgement_when_the_referral_fails(
    clinic: Any, directory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    alert = raise_alert(clinic["nurse"], clinic["patient_slc"])

    def refuse(**_: Any) -> None:
        raise ValidationError("refused")

    monkeypatch.setattr(services, "referral_create", refuse)
    with pytest.raises(ValidationError):
        services.referral_crisis_from_alert(
            actor=clinic["nurse"], alert=alert, resource=directory["national"], note="Called."
        )
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not AuditEntry.objects.filter(object_type="safety_alert", action="update").exists()


def test_a_location_sets_its_own_stall_limit(clinic: Any) -> None:
    limit = services.stall_limit_set(
        actor=clinic["coordinator"], location=clinic["slc"], urgency="routine", days=10
    )
    assert limit.days == 10
    with pytest.raises(ValidationError):
        services.stall_limit_set(
            actor=clinic["coordinator"], location=clinic["slc"], urgency="routine", days=0
        )
    with pytest.raises(PermissionDenied):
        services.stall_limit_set(
            actor=clinic["nurse"], location=clinic["slc"], urgency="routine", days=3
        )


def test_victim_records_make_one_of_each_record(clinic: Any) -> None:
    from ketaclinic.referrals.tests.victims import victim_records

    ids = victim_records(clinic["patient_slc"], clinic["director"], clinic)
    assert Referral.objects.get(pk=ids["referral_id"]).patient == clinic["patient_slc"]
    assert ReferralResource.objects.get(pk=ids["resource_id"]).location == clinic["slc"]
