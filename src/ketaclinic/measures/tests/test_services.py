import threading
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.audit.services import audit_verify_chain
from ketaclinic.measures import services
from ketaclinic.measures.models import AssessmentResponse, SafetyAlert, ScheduleRule
from ketaclinic.measures.selectors import alert_summary, due_questionnaires

PHQ9_ITEM9 = [1, 1, 1, 1, 1, 0, 0, 0, 1]


def _record(clinic: dict[str, Any], answers: list[int], key: str = "phq9") -> AssessmentResponse:
    return services.response_record(
        actor=clinic["nurse"],
        patient=clinic["patient_slc"],
        instrument_key=key,
        answers=answers,
        context="between_sessions",
    )


@pytest.mark.django_db
def test_item_9_raises_an_alert_for_the_patients_location_and_audits(
    clinic: dict[str, Any],
) -> None:
    response = _record(clinic, PHQ9_ITEM9)
    assert response.total == 6 and response.severity == "mild"
    assert response.answers == PHQ9_ITEM9
    alert = SafetyAlert.objects.get(response=response)
    assert alert.kind == "suicidal_ideation" and alert.location == clinic["slc"]
    assert alert.acknowledged_at is None
    assert AuditEntry.objects.filter(
        object_type="assessment_response", object_id=str(response.pk), action="create"
    ).exists()
    assert AuditEntry.objects.filter(object_type="safety_alert", object_id=str(alert.pk)).exists()


@pytest.mark.django_db
def test_cssrs_moderate_raises_suicide_risk(clinic: dict[str, Any]) -> None:
    response = _record(clinic, [1, 1, 1, 0, 0, 0], key="cssrs-screen")
    assert response.risk == "moderate" and response.total is None
    assert SafetyAlert.objects.get(response=response).kind == "suicide_risk"


@pytest.mark.django_db
@pytest.mark.parametrize("answers", [[1] * 8, [4] + [0] * 8, [0] * 10])
def test_invalid_answers_explain_and_save_nothing(
    clinic: dict[str, Any], answers: list[int]
) -> None:
    audits = AuditEntry.objects.count()
    with pytest.raises(ValidationError, match="phq9"):
        _record(clinic, answers)
    assert AssessmentResponse.objects.count() == 0 and SafetyAlert.objects.count() == 0
    assert AuditEntry.objects.count() == audits


@pytest.mark.django_db
def test_acknowledgement_needs_action_and_note_and_is_never_overwritten(
    clinic: dict[str, Any],
) -> None:
    alert = SafetyAlert.objects.get(response=_record(clinic, PHQ9_ITEM9))
    with pytest.raises(ValidationError):
        services.alert_acknowledge(
            actor=clinic["nurse"], alert=alert, action="spoke_with_patient", note="  "
        )
    with pytest.raises(ValidationError):
        services.alert_acknowledge(actor=clinic["nurse"], alert=alert, action="", note="Called")
    services.alert_acknowledge(
        actor=clinic["nurse"],
        alert=alert,
        action="spoke_with_patient",
        note="Called, safety plan reviewed",
    )
    with pytest.raises(services.AlreadyAcknowledgedError, match="Already acknowledged"):
        services.alert_acknowledge(
            actor=clinic["prescriber"], alert=alert, action="other", note="second"
        )
    alert.refresh_from_db()
    assert alert.acknowledged_by == clinic["nurse"] and alert.action_note.startswith("Called")


@pytest.mark.django_db
def test_the_database_refuses_a_silent_clear(clinic: dict[str, Any]) -> None:
    """Even code that bypasses the service cannot clear an alert without who and what."""
    _record(clinic, PHQ9_ITEM9)
    with pytest.raises(IntegrityError), transaction.atomic():
        SafetyAlert.objects.update(acknowledged_at=timezone.now())


@pytest.mark.django_db
def test_coordinators_and_other_locations_cannot_acknowledge(clinic: dict[str, Any]) -> None:
    from django.core.exceptions import PermissionDenied

    alert = SafetyAlert.objects.get(response=_record(clinic, PHQ9_ITEM9))
    for user in (clinic["coordinator"], clinic["nurse_boise"], clinic["admin"]):
        with pytest.raises(PermissionDenied):
            services.alert_acknowledge(actor=user, alert=alert, action="other", note="x")


@pytest.mark.django_db
def test_worklist_scoping_and_escalation_to_the_director(clinic: dict[str, Any]) -> None:
    alert = SafetyAlert.objects.get(response=_record(clinic, PHQ9_ITEM9))
    assert alert_summary(clinic["nurse"]) == {"open": 1, "escalated": 0}
    assert alert_summary(clinic["nurse_boise"]) == {"open": 0, "escalated": 0}
    SafetyAlert.objects.filter(pk=alert.pk).update(raised_at=timezone.now() - timedelta(hours=25))
    assert alert_summary(clinic["director"]) == {"open": 1, "escalated": 1}
    client = Client()
    client.force_login(clinic["director"])
    home = client.get("/director/").content.decode()
    assert "1 escalated" in home
    worklist = client.get("/alerts/").content.decode()
    assert "Escalated" in worklist and clinic["patient_slc"].mrn in worklist
    client.force_login(clinic["coordinator"])
    assert client.get("/alerts/").status_code == 403


@pytest.mark.django_db
def test_a_link_works_once_and_not_after_expiry(clinic: dict[str, Any]) -> None:
    request, token = services.self_report_request_create(
        actor=clinic["coordinator"],
        patient=clinic["patient_slc"],
        instrument_keys=["phq9"],
        context="pre_session",
    )
    assert request.token_digest != token and len(token) >= 40
    opened = services.self_report_open(token)
    services.self_report_submit(request=opened, answers={"phq9": [0] * 9})
    with pytest.raises(services.LinkClosedError):
        services.self_report_open(token)
    with pytest.raises(services.LinkClosedError):
        services.self_report_submit(request=opened, answers={"phq9": [0] * 9})
    assert AssessmentResponse.objects.count() == 1

    expired, token2 = services.self_report_request_create(
        actor=clinic["coordinator"],
        patient=clinic["patient_slc"],
        instrument_keys=["gad7"],
        context="pre_session",
        valid_hours=1,
    )
    type(expired).objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(services.LinkClosedError):
        services.self_report_open(token2)


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_stores_one_set_of_answers(clinic: dict[str, Any]) -> None:
    _request, token = services.self_report_request_create(
        actor=clinic["coordinator"],
        patient=clinic["patient_slc"],
        instrument_keys=["phq9"],
        context="pre_session",
    )
    outcomes: list[str] = []

    def submit() -> None:
        try:
            services.self_report_submit(
                request=services.self_report_open(token), answers={"phq9": PHQ9_ITEM9}
            )
            outcomes.append("saved")
        except services.LinkClosedError:
            outcomes.append("closed")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["closed", "closed", "saved"]
    assert AssessmentResponse.objects.count() == 1 and SafetyAlert.objects.count() == 1
    assert audit_verify_chain().ok


@pytest.mark.django_db
def test_schedule_moves_on_when_answered_and_lists_due(clinic: dict[str, Any]) -> None:
    today = timezone.localdate()
    rule = services.schedule_rule_set(
        actor=clinic["coordinator"],
        patient=clinic["patient_slc"],
        instrument_key="phq9",
        interval_days=7,
        starts_on=today - timedelta(days=5),
    )
    assert list(due_questionnaires(clinic["coordinator"])) == [rule]
    assert list(due_questionnaires(clinic["nurse_boise"])) == []
    _record(clinic, [0] * 9)
    rule.refresh_from_db()
    assert rule.next_due_on == today + timedelta(days=7)
    assert list(due_questionnaires(clinic["coordinator"])) == []
    once = services.schedule_rule_set(
        actor=clinic["nurse"],
        patient=clinic["patient_slc"],
        instrument_key="madrs",
        interval_days=None,
    )
    _record(clinic, [3] * 10, key="madrs")
    once.refresh_from_db()
    assert once.next_due_on is None
    with pytest.raises(ValidationError):
        services.schedule_rule_set(
            actor=clinic["nurse"],
            patient=clinic["patient_slc"],
            instrument_key="gad7",
            interval_days=0,
        )
    assert ScheduleRule.objects.filter(is_active=True).count() == 2


@pytest.mark.django_db
def test_link_tokens_never_reach_the_audit_log(clinic: dict[str, Any]) -> None:
    _request, token = services.self_report_request_create(
        actor=clinic["coordinator"],
        patient=clinic["patient_slc"],
        instrument_keys=["phq9"],
        context="pre_session",
    )
    client = Client()
    client.get(f"/q/{token}/")
    client.post(f"/q/{token}/", {f"phq9__{i}": "0" for i in range(1, 10)})
    client.get(f"/q/{token}/")
    entries = AuditEntry.objects.filter(patient_id=clinic["patient_slc"].pk)
    assert entries.filter(path="/q/[redacted]/").count() >= 2
    assert not [e for e in AuditEntry.objects.all() if token in e.path or token in str(e.detail)]


@pytest.mark.django_db
def test_escalations_reach_the_director_whatever_location_is_chosen(
    clinic: dict[str, Any],
) -> None:
    alert = SafetyAlert.objects.get(response=_record(clinic, PHQ9_ITEM9))
    SafetyAlert.objects.filter(pk=alert.pk).update(raised_at=timezone.now() - timedelta(hours=30))
    client = Client()
    client.force_login(clinic["director"])
    client.post("/location/", {"location_id": clinic["boise"].pk})
    home = client.get("/director/").content.decode()
    assert "Escalated: safety alerts nobody has acknowledged" in home
    assert clinic["patient_slc"].display_name in home
    # Showing names on a home page is a read of patient data, so it is audited.
    entry = AuditEntry.objects.filter(object_type="home", actor_id=clinic["director"].pk).last()
    assert clinic["patient_slc"].pk in entry.detail["patient_ids"]
    assert alert.pk in entry.detail["alert_ids"]


@pytest.mark.django_db
def test_a_stale_location_choice_is_ignored(clinic: dict[str, Any]) -> None:
    _record(clinic, PHQ9_ITEM9)
    client = Client()
    client.force_login(clinic["nurse"])
    session = client.session
    session["ketaclinic_location_id"] = clinic["boise"].pk  # not one of the nurse's
    session.save()
    assert clinic["patient_slc"].mrn in client.get("/alerts/").content.decode()
    assert clinic["patient_slc"].mrn in client.get("/patients/").content.decode()
