from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.measures.models import AssessmentResponse, SafetyAlert
from ketaclinic.measures.services import response_record, self_report_request_create


def _bulk_responses(patient: Any, count: int, *, with_alerts: bool) -> None:
    now = timezone.now()
    responses = AssessmentResponse.objects.bulk_create(
        AssessmentResponse(
            patient=patient,
            instrument_key=key,
            answers=answers,
            total=total,
            severity="moderate",
            alerts=["suicidal_ideation"] if with_alerts else [],
            context="between_sessions",
            completed_by_patient=True,
            completed_at=now - timedelta(days=count - i),
        )
        for i in range(count)
        for key, answers, total in [("phq9", [1] * 9, 9)]
    )
    if with_alerts:
        SafetyAlert.objects.bulk_create(
            SafetyAlert(
                patient=patient,
                response=r,
                kind="suicidal_ideation",
                location_id=patient.primary_location_id,
                raised_at=r.completed_at,
            )
            for r in responses
        )


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(context)


@pytest.mark.django_db
def test_worklist_chart_and_home_query_counts_do_not_grow(
    client: Client, clinic: dict[str, Any], make_patient: Any
) -> None:
    patient = clinic["patient_slc"]
    other = make_patient(clinic["slc"], "Other", "Person")
    client.force_login(clinic["nurse"])
    _bulk_responses(patient, 10, with_alerts=True)
    _bulk_responses(other, 10, with_alerts=True)
    urls = [
        "/alerts/",
        f"/patients/{patient.pk}/scores/",
        "/nurse/",
        "/questionnaires/due/",
        f"/api/patients/{patient.pk}/responses",
        f"/alerts/{SafetyAlert.objects.first().pk}/",
    ]
    small = {url: _queries(client, url) for url in urls}
    _bulk_responses(patient, 990, with_alerts=True)
    _bulk_responses(other, 990, with_alerts=True)
    assert AssessmentResponse.objects.filter(patient=patient).count() == 1000
    for url in urls:
        assert _queries(client, url) == small[url], url


@pytest.mark.django_db
def test_every_read_of_scores_and_alerts_is_audited(client: Client, clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    response = response_record(
        actor=clinic["nurse"],
        patient=patient,
        instrument_key="phq9",
        answers=[1] * 9,
        context="between_sessions",
    )
    alert = response.safety_alerts.get()
    client.force_login(clinic["prescriber"])
    client.get(f"/patients/{patient.pk}/scores/")
    client.get("/alerts/")
    client.get(f"/alerts/{alert.pk}/")
    client.get(f"/api/patients/{patient.pk}/responses")
    client.get(f"/api/responses/{response.pk}")
    entries = AuditEntry.objects.filter(actor_id=clinic["prescriber"].pk)
    assert entries.filter(patient_id=patient.pk, detail__page="scores").exists()
    worklist = entries.get(object_type="alert_worklist")
    assert alert.pk in worklist.detail["alert_ids"]
    assert entries.filter(object_type="safety_alert", object_id=str(alert.pk)).exists()
    assert entries.filter(object_type="assessment_response_list", patient_id=patient.pk).exists()
    assert entries.filter(object_type="assessment_response", object_id=str(response.pk)).exists()


@pytest.mark.django_db
def test_clinician_records_a_madrs_through_the_page(client: Client, clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    client.force_login(clinic["prescriber"])
    form = client.get(f"/patients/{patient.pk}/scores/record/madrs/")
    assert form.status_code == 200 and b"madrs__10" in form.content
    data = {f"madrs__{i}": "3" for i in range(1, 11)} | {"context": "baseline"}
    incomplete = client.post(
        f"/patients/{patient.pk}/scores/record/madrs/",
        {k: v for k, v in data.items() if k != "madrs__10"},
    )
    assert b"Please answer this question" in incomplete.content
    assert not AssessmentResponse.objects.exists()
    saved = client.post(f"/patients/{patient.pk}/scores/record/madrs/", data)
    assert saved.status_code == 302
    response = AssessmentResponse.objects.get()
    assert response.total == 30 and response.severity == "moderate"
    assert response.completed_by == clinic["prescriber"] and not response.completed_by_patient
    client.force_login(clinic["coordinator"])
    assert client.get(f"/patients/{patient.pk}/scores/record/madrs/").status_code == 403


@pytest.mark.django_db
def test_coordinator_sends_a_link_that_the_patient_portal_also_offers(
    client: Client, clinic: dict[str, Any]
) -> None:
    patient = clinic["patient_slc"]
    client.force_login(clinic["coordinator"])
    done = client.post(
        f"/patients/{patient.pk}/scores/send/",
        {"instrument_keys": ["phq9", "gad7"], "context": "pre_session", "valid_hours": "48"},
    )
    link = done.context["link"]
    assert "/q/" in link
    request = patient.self_report_requests.get()
    assert request.instrument_keys == ["phq9", "gad7"] and request.token_digest not in link

    portal = Client()
    portal.force_login(clinic["patient_user"])
    home = portal.get("/portal/").content.decode()
    assert f"/portal/questionnaires/{request.pk}/" in home
    answers = {f"phq9__{i}": "0" for i in range(1, 10)} | {f"gad7__{i}": "1" for i in range(1, 8)}
    thanks = portal.post(f"/portal/questionnaires/{request.pk}/", answers)
    assert b"Thank you" in thanks.content and b"You are not alone" not in thanks.content
    assert (
        AssessmentResponse.objects.filter(
            patient=patient, completed_by_patient=True, completed_by=clinic["patient_user"]
        ).count()
        == 2
    )
    # Used: the link now refuses, and another patient cannot open it at all.
    assert Client().get(link.split("testserver")[-1]).status_code == 410
    other = Client()
    other.force_login(clinic["patient_user_boise"])
    assert other.get(f"/portal/questionnaires/{request.pk}/").status_code == 404


@pytest.mark.django_db
def test_api_records_validates_and_serves_only_visible_responses(
    client: Client, clinic: dict[str, Any]
) -> None:
    patient = clinic["patient_slc"]
    client.force_login(clinic["nurse"])
    url = f"/api/patients/{patient.pk}/responses"
    bad = client.post(
        url, {"instrument": "phq9", "answers": [1] * 8}, content_type="application/json"
    )
    assert bad.status_code == 400 and "needs 9 answers" in bad.json()["detail"]
    assert not AssessmentResponse.objects.exists()
    good = client.post(
        url, {"instrument": "phq9", "answers": [0] * 8 + [2]}, content_type="application/json"
    )
    assert good.status_code == 201 and good.json()["alerts"] == ["suicidal_ideation"]
    listing = client.get(url).json()
    assert listing["count"] == 1 and listing["results"][0]["answers"] == [0] * 8 + [2]

    own = Client()
    own.force_login(clinic["patient_user"])
    assert own.get(url).json()["count"] == 1
    assert (
        own.post(
            url, {"instrument": "phq9", "answers": [0] * 9}, content_type="application/json"
        ).status_code
        == 403
    )
    stranger = Client()
    stranger.force_login(clinic["patient_user_boise"])
    assert stranger.get(url).status_code == 404
    assert stranger.get(f"/api/responses/{good.json()['id']}").status_code == 404


@pytest.mark.django_db
def test_alert_page_marks_the_answer_that_raised_it(client: Client, clinic: dict[str, Any]) -> None:
    response = response_record(
        actor=clinic["nurse"],
        patient=clinic["patient_slc"],
        instrument_key="qids-sr16",
        answers=[0] * 11 + [2] + [0] * 4,
        context="between_sessions",
    )
    client.force_login(clinic["prescriber"])
    page = client.get(f"/alerts/{response.safety_alerts.get().pk}/").content.decode()
    assert page.count('class="flag"') == 1
    flagged_row = page[page.index('class="flag"') :]
    assert flagged_row.index("12.") < flagged_row.index("</tr>")


@pytest.mark.django_db
def test_a_used_link_still_gives_the_clinic_number(client: Client, clinic: dict[str, Any]) -> None:
    from ketaclinic.measures.services import self_report_open, self_report_submit

    _request, token = self_report_request_create(
        actor=clinic["nurse"],
        patient=clinic["patient_slc"],
        instrument_keys=["gad7"],
        context="pre_session",
    )
    self_report_submit(request=self_report_open(token), answers={"gad7": [0] * 7})
    page = client.get(f"/q/{token}/")
    assert page.status_code == 410
    assert clinic["slc"].phone in page.content.decode() and "988" in page.content.decode()


@pytest.mark.django_db
def test_link_requests_are_validated(clinic: dict[str, Any]) -> None:
    from django.core.exceptions import ValidationError

    request, _token = self_report_request_create(
        actor=clinic["nurse"],
        patient=clinic["patient_slc"],
        instrument_keys=["phq9", "phq9"],
        context="pre_session",
    )
    assert request.instrument_keys == ["phq9"]
    for keys, context in ((["nope"], "pre_session"), (["phq9"], "whenever"), ([], "pre_session")):
        with pytest.raises(ValidationError):
            self_report_request_create(
                actor=clinic["nurse"],
                patient=clinic["patient_slc"],
                instrument_keys=keys,
                context=context,
            )


@pytest.mark.django_db
def test_stopping_a_schedule_needs_confirmation(client: Client, clinic: dict[str, Any]) -> None:
    from ketaclinic.measures.services import schedule_rule_set

    patient = clinic["patient_slc"]
    rule = schedule_rule_set(
        actor=clinic["coordinator"], patient=patient, instrument_key="phq9", interval_days=7
    )
    client.force_login(clinic["coordinator"])
    url = f"/patients/{patient.pk}/scores/schedule/{rule.pk}/stop/"
    client.post(url)
    rule.refresh_from_db()
    assert rule.is_active
    client.post(url, {"confirm": "yes"})
    rule.refresh_from_db()
    assert not rule.is_active
    assert client.post(url, {"confirm": "yes"}).status_code == 404
