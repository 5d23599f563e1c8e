"""Prior authorization: drafted from the chart, moved through its states, warned about
when booking a course past the approval's last day, and closed to the wrong people."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.conftest import make_course
from ketaclinic.coverage.models import Payer, PriorAuthEvent, PriorAuthorization
from ketaclinic.coverage.services import payer_create, prior_auth_draft, prior_auth_move
from ketaclinic.measures.services import response_record
from ketaclinic.patients.models import Diagnosis, Medication

pytestmark = pytest.mark.django_db


@pytest.fixture
def payer(clinic: dict[str, Any]) -> Payer:
    return payer_create(
        actor=clinic["director"], name="Bonneville Health Plan", checklist_key="esketamine-trd"
    )


def _chart_for_esketamine(patient: Any, actor: Any) -> None:
    Diagnosis.objects.create(patient=patient, icd10_code="F33.2", description="MDD, recurrent")
    for name in ("sertraline", "escitalopram"):
        Medication.objects.create(
            patient=patient,
            name=name,
            medication_class="antidepressant",
            dose_mg_per_day=Decimal("100"),
            weeks_at_dose=10,
            adherence="good",
            trial_outcome="no_response",
            in_current_episode=True,
            is_current=False,
        )
    response_record(
        actor=actor, patient=patient, instrument_key="phq9", answers=[2] * 8 + [0],
        context="between_sessions",
    )  # fmt: skip


def test_a_draft_is_filled_from_the_chart(clinic: dict[str, Any], payer: Payer) -> None:
    patient = clinic["patient_slc"]
    _chart_for_esketamine(patient, clinic["director"])
    course = make_course(patient, clinic["director"], "esketamine-trd")
    request = prior_auth_draft(
        actor=clinic["coordinator"], patient=patient, payer=payer, member_id="BHP-99", course=course
    )
    met = {item["key"]: item["met"] for item in request.checklist}
    assert met == {
        "diagnosis": True,
        "failed_trials": True,
        "recent_score": True,
        "rems": True,
        "adult": True,
        "oral_antidepressant": None,
    }
    assert request.events.get().status_to == "drafted"
    assert AuditEntry.objects.filter(
        object_type="prior_authorization", object_id=request.pk, patient_id=patient.pk
    ).exists()


def test_a_request_moves_through_its_states_and_bad_moves_save_nothing(
    clinic: dict[str, Any], payer: Payer
) -> None:
    patient = clinic["patient_slc"]
    actor = clinic["coordinator"]
    request = prior_auth_draft(actor=actor, patient=patient, payer=payer, member_id="BHP-1")
    with pytest.raises(ValidationError, match="cannot be marked"):
        prior_auth_move(actor=actor, prior_auth=request, status="approved")
    prior_auth_move(actor=actor, prior_auth=request, status="sent")
    with pytest.raises(ValidationError, match="last day"):
        prior_auth_move(actor=actor, prior_auth=request, status="approved", payer_reference="A1")
    with pytest.raises(ValidationError, match="already past"):
        prior_auth_move(
            actor=actor, prior_auth=request, status="approved", payer_reference="A1",
            approved_until=timezone.localdate() - timedelta(days=2),
        )  # fmt: skip
    with pytest.raises(ValidationError, match="Say why"):
        prior_auth_move(actor=actor, prior_auth=request, status="denied")
    request.refresh_from_db()
    assert request.status == "sent" and request.events.count() == 2
    prior_auth_move(actor=actor, prior_auth=request, status="denied", note="No MADRS sent")
    prior_auth_move(actor=actor, prior_auth=request, status="appealed", note="MADRS 34 attached")
    until = timezone.localdate() + timedelta(days=90)
    prior_auth_move(
        actor=actor, prior_auth=request, status="approved", approved_until=until,
        approved_sessions=24, payer_reference="PA-7781",
    )  # fmt: skip
    request.refresh_from_db()
    assert (request.status, request.approved_until, request.payer_reference) == (
        "approved", until, "PA-7781",
    )  # fmt: skip
    assert [e.status_to for e in request.events.all()] == [
        "drafted", "sent", "denied", "appealed", "approved",
    ]  # fmt: skip
    with pytest.raises(PermissionError):
        request.events.first().delete()
    with pytest.raises(PermissionError):
        PriorAuthEvent.objects.update(note="rewritten")
    with pytest.raises(PermissionError):
        request.events.all().delete()


def test_booking_a_course_past_the_approval_shows_which_sessions_fall_after(
    client: Client, clinic: dict[str, Any], payer: Payer
) -> None:
    patient = clinic["patient_slc"]
    tz = patient.primary_location.tz
    # A Monday morning, so the esketamine course plans its twice-weekly sessions ahead.
    with time_machine.travel(datetime(2027, 3, 1, 8, 0, tzinfo=tz), tick=False):
        course = make_course(patient, clinic["director"], "esketamine-trd")
        planned = list(course.planned_sessions.order_by("number"))
        last_covered = planned[3].starts_at.astimezone(tz).date()
        client.force_login(clinic["coordinator"])
        url = f"/patients/{patient.pk}/courses/{course.pk}/book-sessions/"
        # No request at all: a self-paying patient, nothing to warn about.
        assert b"coverage-booking" not in client.get(url).content
        request = prior_auth_draft(
            actor=clinic["coordinator"], patient=patient, payer=payer, member_id="B-2",
            course=course,
        )  # fmt: skip
        assert b"Not approved yet" in client.get(url).content
        prior_auth_move(actor=clinic["coordinator"], prior_auth=request, status="sent")
        prior_auth_move(
            actor=clinic["coordinator"], prior_auth=request, status="approved",
            approved_until=last_covered, payer_reference="PA-1",
        )  # fmt: skip
        page = client.get(url).content.decode()
        # The card's request is on the record as seen, with the page.
        seen = AuditEntry.objects.filter(patient_id=patient.pk, detail__page="course_book_panels")
        assert seen.last().detail["prior_authorization_ids"] == [request.pk]
        # The nurse books sessions too, but a payer's approval is not theirs to see.
        client.force_login(clinic["nurse"])
        assert b"coverage-booking" not in client.get(url).content
    after = [s.number for s in planned if s.starts_at.astimezone(tz).date() > last_covered]
    assert after and after[0] == planned[4].number
    assert f"{len(after)} planned sessions fall after the approval ends" in page
    assert ", ".join(str(n) for n in after) in page


def test_pages_answer_with_clear_messages_and_save_nothing_on_bad_input(
    client: Client, clinic: dict[str, Any], payer: Payer
) -> None:
    patient = clinic["patient_slc"]
    client.force_login(clinic["coordinator"])
    url = f"/patients/{patient.pk}/coverage/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"payer": payer.pk, "member_id": "  "})
    assert response.status_code == 400 and b"This field is required" in response.content
    assert PriorAuthorization.objects.count() == 0
    response = client.post(url, {"payer": payer.pk, "member_id": "BHP-5"})
    request = PriorAuthorization.objects.get()
    assert response.url == f"/patients/{patient.pk}/coverage/{request.pk}/"
    detail = f"/patients/{patient.pk}/coverage/{request.pk}/"
    page = client.get(detail)
    assert b"Fill again from the chart" in page.content and b"Not met" in page.content
    response = client.post(detail, {"status": "approved"})
    assert response.status_code == 400  # not a choice from a draft
    response = client.post(detail, {"status": "sent"})
    assert response.status_code == 302
    response = client.post(
        detail, {"status": "approved", "payer_reference": "X", "approved_sessions": "0",
                 "approved_until": "2020-01-01"},
    )  # fmt: skip
    assert response.status_code == 400
    request.refresh_from_db()
    assert request.status == "sent" and PriorAuthEvent.objects.count() == 2


def test_the_wrong_role_location_or_person_cannot_reach_a_request(
    client: Client, clinic: dict[str, Any], payer: Payer
) -> None:
    patient = clinic["patient_slc"]
    request = prior_auth_draft(
        actor=clinic["director"], patient=patient, payer=payer, member_id="BHP-3"
    )
    urls = [f"/patients/{patient.pk}/coverage/", f"/patients/{patient.pk}/coverage/{request.pk}/"]
    for who, status in (
        ("nurse", 403), ("therapist", 403), ("admin", 403), ("patient_user", 403),
        ("nurse_boise", 403),
    ):  # fmt: skip
        client.force_login(clinic[who])
        for url in urls:
            assert client.get(url).status_code == status, (who, url)
            assert client.post(url, {"status": "sent"}).status_code == status, (who, url)
    # A prescriber of another location: the patient does not exist for them.
    boise_prescriber = clinic["prescriber"]
    boise_prescriber.locations.set([clinic["boise"]])
    client.force_login(boise_prescriber)
    for url in urls:
        assert client.get(url).status_code == 404
    # Another patient's id with this request's id: not found either.
    other = clinic["patient_boise"]
    client.force_login(clinic["director"])
    assert client.get(f"/patients/{other.pk}/coverage/{request.pk}/").status_code == 404
    request.refresh_from_db()
    assert request.status == "drafted"


def test_payers_are_added_by_the_director_only_and_names_are_unique(
    client: Client, clinic: dict[str, Any], payer: Payer
) -> None:
    client.force_login(clinic["coordinator"])
    assert client.get("/coverage/payers/").status_code == 200
    assert (
        client.post("/coverage/payers/", {"name": "X", "checklist_key": "iv-ketamine"}).status_code
        == 403
    )
    client.force_login(clinic["director"])
    response = client.post(
        "/coverage/payers/", {"name": "bonneville health plan", "checklist_key": "iv-ketamine"}
    )
    assert response.status_code == 400 and b"already on the list" in response.content
    response = client.post("/coverage/payers/", {"name": "Teton Mutual", "checklist_key": "x"})
    assert response.status_code == 400
    assert Payer.objects.count() == 1


def test_the_list_of_requests_costs_the_same_queries_for_one_or_many(
    client: Client, clinic: dict[str, Any], payer: Payer
) -> None:
    patient = clinic["patient_slc"]
    client.force_login(clinic["coordinator"])
    url = f"/patients/{patient.pk}/coverage/"
    prior_auth_draft(actor=clinic["director"], patient=patient, payer=payer, member_id="1")
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    for n in range(5):
        prior_auth_draft(actor=clinic["director"], patient=patient, payer=payer, member_id=str(n))
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(one)
