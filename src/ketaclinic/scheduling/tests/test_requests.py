"""The coordinator's request queue: who sees which requests, contact attempts, finding the
person among existing patients, converting (once) and declining (with a reason)."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.tests.test_concurrency import _run_together
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import (
    AppointmentRequest,
    ContactAttempt,
    RequestStatus,
)
from ketaclinic.scheduling.requests.selectors import open_request_count
from ketaclinic.scheduling.requests.services import (
    contact_attempt_record,
    request_convert,
    request_submit,
)

pytestmark = pytest.mark.django_db

QUEUE = "/requests/"
SALLY, BOB, VERA = "Saltlake, Sally", "Boise, Bob", "Video, Vera"  # as the queue lists them


def _request(
    location: Location | None,
    first: str = "Rosalind",
    last: str = "Franklin",
    born: date = date(1985, 7, 25),
    state: str = "UT",
    address: str = "192.0.2.1",
) -> AppointmentRequest:
    return request_submit(
        actor=None,
        address=address,
        first_name=first,
        last_name=last,
        date_of_birth=born,
        phone="(801) 555-0142",
        email="someone@example.org",
        state=state,
        preferred_location=location,
        wants_telehealth=location is None,
        help_with="Depression that did not lift.",
        consent_to_contact=True,
    )


def _as(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def _expected_booking(patient: Patient, req: AppointmentRequest, location: Location) -> str:
    """The calendar's booking form for a consultation, prefilled."""
    base = reverse("scheduling:book")
    url = f"{base}?patient={patient.pk}&type=consultation&request={req.pk}&location={location.pk}"
    return url + "&telehealth=1" if req.wants_telehealth else url


@pytest.fixture
def queue(schedule: dict[str, Any]) -> dict[str, Any]:
    return {
        **schedule,
        "slc_req": _request(schedule["slc"], "Sally", "Saltlake"),
        "boise_req": _request(schedule["boise"], "Bob", "Boise", state="ID"),
        "video_req": _request(None, "Vera", "Video"),
    }


def test_each_coordinator_sees_their_locations_requests_and_the_video_ones(
    client: Client, queue: dict
) -> None:
    expectations = {
        "coordinator": ({SALLY, VERA}, {BOB}),
        "nurse_boise": ({BOB, VERA}, {SALLY}),
        "director": ({SALLY, BOB, VERA}, set()),
    }
    for who, (seen, unseen) in expectations.items():
        page = _as(client, queue[who]).get(QUEUE).content.decode()
        assert all(name in page for name in seen), who
        assert not any(name in page for name in unseen), who


def test_anonymous_patient_and_admin_users_cannot_open_the_queue(
    client: Client, queue: dict
) -> None:
    detail = f"/requests/{queue['slc_req'].pk}/"
    for url in (QUEUE, detail):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url
    for who in ("patient_user", "admin"):
        _as(client, queue[who])
        for url in (QUEUE, detail):
            assert client.get(url).status_code == 403, (who, url)


def test_a_request_of_another_location_is_not_found(client: Client, queue: dict) -> None:
    req = queue["slc_req"]
    _as(client, queue["nurse_boise"])
    assert client.get(f"/requests/{req.pk}/").status_code == 404
    assert client.post(f"/requests/{req.pk}/decline/", {"reason": "x"}).status_code == 404
    assert (
        client.post(
            f"/requests/{req.pk}/attempts/", {"channel": "phone", "outcome": "no_answer"}
        ).status_code
        == 404
    )
    assert client.get(f"/requests/{req.pk}/register/").status_code == 404
    req.refresh_from_db()
    assert req.status == RequestStatus.NEW and not req.contact_attempts.exists()


def test_the_queue_lists_open_requests_oldest_first_and_audits_the_page(
    client: Client, queue: dict
) -> None:
    _as(client, queue["director"])
    request_convert(
        actor=queue["director"],
        appointment_request=queue["boise_req"],
        patient=queue["patient_boise"],
    )
    page = client.get(QUEUE).content.decode()
    assert page.index(SALLY) < page.index(VERA)
    assert BOB not in page  # converted: not open any more
    entry = AuditEntry.objects.filter(object_type="appointment_request_list").latest("sequence")
    assert entry.actor_id == queue["director"].pk and entry.action == "view"
    assert entry.detail["request_ids"] == [queue["slc_req"].pk, queue["video_req"].pk]
    converted = client.get(QUEUE + "?status=converted").content.decode()
    assert BOB in converted and SALLY not in converted


def test_the_home_page_count_is_the_open_requests_the_user_works(queue: dict) -> None:
    assert open_request_count(queue["coordinator"]) == 2  # SLC and video
    assert open_request_count(queue["director"]) == 3
    assert open_request_count(queue["director"], location_id=queue["boise"].pk) == 2
    assert open_request_count(queue["admin"]) == 0


def test_an_empty_queue_says_so(client: Client, schedule: dict) -> None:
    page = _as(client, schedule["coordinator"]).get(QUEUE).content.decode()
    assert "No open requests" in page


def test_a_contact_attempt_is_recorded_audited_and_shown_in_the_queue(
    client: Client, queue: dict
) -> None:
    req = queue["slc_req"]
    _as(client, queue["coordinator"])
    response = client.post(
        f"/requests/{req.pk}/attempts/",
        {"channel": "phone", "outcome": "voicemail", "note": "Asked her to call back"},
    )
    assert response.status_code == 302
    attempt = ContactAttempt.objects.get()
    assert attempt.made_by == queue["coordinator"] and attempt.note == "Asked her to call back"
    req.refresh_from_db()
    assert req.status == RequestStatus.CONTACTING
    assert AuditEntry.objects.filter(
        object_type="contact_attempt", object_id=str(attempt.pk), action="create"
    ).exists()
    page = client.get(QUEUE).content.decode()
    assert "Left a voicemail" in page
    # A missing outcome is refused with the note kept.
    response = client.post(f"/requests/{req.pk}/attempts/", {"channel": "phone", "note": "hi"})
    assert response.status_code == 200 and ContactAttempt.objects.count() == 1
    assert response.context["attempt_form"]["note"].value() == "hi"


def test_an_existing_patient_with_the_same_name_and_birth_date_is_offered(
    client: Client, schedule: dict
) -> None:
    ada = schedule["patient_slc"]
    req = _request(schedule["slc"], "  ada ", "LOVELACE", born=ada.date_of_birth)
    _as(client, schedule["coordinator"])
    page = client.get(f"/requests/{req.pk}/").content.decode()
    assert ada.mrn in page and "Link to Ada Lovelace" in page
    assert "Register as a new patient" in page  # still possible: it may be someone else
    assert AuditEntry.objects.filter(
        patient_id=ada.pk, action="view", detail__page="request_match"
    ).exists()
    # Registering a new patient anyway works.
    response = client.post(
        f"/requests/{req.pk}/register/",
        {
            "legal_first_name": "Ada",
            "legal_last_name": "Lovelace",
            "date_of_birth": ada.date_of_birth.isoformat(),
            "sex_at_birth": "female",
            "phone": "(801) 555-0142",
            "state": "UT",
            "primary_location": schedule["slc"].pk,
        },
    )
    assert response.status_code == 302
    assert Patient.objects.filter(last_name_key="lovelace").count() == 2


def test_a_match_at_another_location_is_reported_without_details(
    client: Client, schedule: dict
) -> None:
    grace = schedule["patient_boise"]
    req = _request(schedule["slc"], "Grace", "Hopper", born=grace.date_of_birth)
    page = _as(client, schedule["coordinator"]).get(f"/requests/{req.pk}/").content.decode()
    assert "exists at another location; ask a medical director" in page
    assert grace.mrn not in page and "Link to" not in page
    # Nor can the link be forced.
    response = client.post(f"/requests/{req.pk}/link/", {"patient": grace.pk})
    assert response.status_code == 200
    req.refresh_from_db()
    assert req.status == RequestStatus.NEW and req.patient is None
    # The director sees (and may link) the match.
    page = _as(client, schedule["director"]).get(f"/requests/{req.pk}/").content.decode()
    assert grace.mrn in page


def test_registering_from_a_request_creates_one_patient_and_goes_to_booking(
    client: Client, schedule: dict
) -> None:
    req = _request(schedule["slc"])
    _as(client, schedule["coordinator"])
    form = client.get(f"/requests/{req.pk}/register/")
    assert form.context["form"]["legal_first_name"].value() == "Rosalind"
    assert form.context["form"]["phone"].value() == "(801) 555-0142"
    data = {
        "legal_first_name": "Rosalind",
        "legal_last_name": "Franklin",
        "date_of_birth": "1985-07-25",
        "sex_at_birth": "female",
        "phone": "(801) 555-0142",
        "state": "UT",
        "primary_location": schedule["slc"].pk,
    }
    response = client.post(f"/requests/{req.pk}/register/", data)
    patient = Patient.objects.get(last_name_key="franklin")
    req.refresh_from_db()
    assert req.status == RequestStatus.CONVERTED and req.patient == patient
    assert req.handled_by == schedule["coordinator"]
    assert response.status_code == 302
    assert response["Location"] == _expected_booking(patient, req, schedule["slc"])
    assert AuditEntry.objects.filter(
        object_type="appointment_request", object_id=str(req.pk), action="update"
    ).exists()
    # Pressing the button again registers nobody twice.
    again = client.post(f"/requests/{req.pk}/register/", data, follow=True)
    assert "already closed" in again.content.decode()
    assert Patient.objects.filter(last_name_key="franklin").count() == 1


def test_linking_a_video_request_books_a_video_consultation(client: Client, schedule: dict) -> None:
    ada = schedule["patient_slc"]
    req = _request(None, "Ada", "Lovelace", born=ada.date_of_birth)
    _as(client, schedule["coordinator"])
    response = client.post(f"/requests/{req.pk}/link/", {"patient": ada.pk})
    req.refresh_from_db()
    assert req.status == RequestStatus.CONVERTED and req.patient == ada
    expected = _expected_booking(ada, req, ada.primary_location)
    assert response["Location"] == expected
    assert expected.endswith(f"&location={ada.primary_location_id}&telehealth=1")
    assert Patient.objects.count() == 2  # nobody new


def test_declining_needs_a_reason(client: Client, queue: dict) -> None:
    req = queue["slc_req"]
    _as(client, queue["coordinator"])
    response = client.post(f"/requests/{req.pk}/decline/", {"reason": "  "})
    assert response.status_code == 200
    assert "Give the reason for declining this request." in response.content.decode()
    req.refresh_from_db()
    assert req.status == RequestStatus.NEW
    response = client.post(f"/requests/{req.pk}/decline/", {"reason": "Lives in Oregon"})
    assert response.status_code == 302 and response.url == QUEUE
    req.refresh_from_db()
    assert req.status == RequestStatus.DECLINED and req.decline_reason == "Lives in Oregon"


def test_a_handled_request_cannot_be_handled_again(client: Client, queue: dict) -> None:
    req, ada = queue["slc_req"], queue["patient_slc"]
    coordinator = queue["coordinator"]
    request_convert(actor=coordinator, appointment_request=req, patient=ada)
    with pytest.raises(ValidationError, match="already converted to a patient by"):
        request_convert(actor=queue["director"], appointment_request=req, patient=ada)
    with pytest.raises(ValidationError, match="already converted"):
        contact_attempt_record(
            actor=coordinator, appointment_request=req, channel="phone", outcome="reached"
        )
    _as(client, coordinator)
    response = client.post(f"/requests/{req.pk}/decline/", {"reason": "Duplicate"})
    assert response.status_code == 200
    assert "This request was already converted to a patient" in response.content.decode()
    req.refresh_from_db()
    assert req.status == RequestStatus.CONVERTED and req.decline_reason == ""


@pytest.mark.django_db(transaction=True)
def test_two_coordinators_converting_at_once_register_one_patient(
    schedule: dict, make_user: Any
) -> None:
    req = _request(schedule["slc"])

    def register(actor: Any) -> AppointmentRequest:
        patient = Patient(
            legal_first_name="Rosalind",
            legal_last_name="Franklin",
            date_of_birth=date(1985, 7, 25),
            sex_at_birth="female",
            phone="(801) 555-0142",
            state="UT",
            primary_location=schedule["slc"],
        )
        return request_convert(actor=actor, appointment_request=req, new_patient=patient)

    results, errors = _run_together(
        [partial(register, schedule["coordinator"]), partial(register, schedule["nurse"])]
    )
    assert len(results) == 1
    assert len(errors) == 1 and "already converted" in str(errors[0])
    assert Patient.objects.filter(last_name_key="franklin").count() == 1


def _queue_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(QUEUE).status_code == 200
    return len(context)


def test_the_queue_takes_the_same_number_of_queries_for_3_or_60_requests(
    client: Client, schedule: dict
) -> None:
    coordinator = schedule["coordinator"]

    def add(count: int) -> None:
        for n in range(count):
            location = None if n % 3 == 0 else schedule["slc"]
            req = _request(location, last=f"Person{n}", address=f"192.0.2.{n}")
            contact_attempt_record(
                actor=coordinator, appointment_request=req, channel="phone", outcome="no_answer"
            )

    add(3)
    _as(client, coordinator)
    small = _queue_queries(client)
    add(57)
    assert _queue_queries(client) == small


def test_the_coordinator_home_counts_the_requests_waiting(client: Client, schedule: dict) -> None:
    slc = schedule["slc"]
    for n in range(3):
        AppointmentRequest.objects.create(
            first_name="Waiting",
            last_name=f"Person{n}",
            date_of_birth=date(1980, 1, 1),
            phone="(801) 555-0100",
            state="UT",
            preferred_location=slc,
            help_with="x",
            consent_to_contact=True,
            source_digest="t",
            status=RequestStatus.DECLINED if n == 2 else RequestStatus.NEW,
        )
    client.force_login(schedule["coordinator"])
    html = client.get("/coordinator/").content.decode()
    assert '<strong id="open-requests">2</strong>' in html


def test_a_converted_video_request_names_the_patient_only_to_staff_who_see_them(
    client: Client, schedule: dict
) -> None:
    grace = schedule["patient_boise"]
    req = _request(None, "Grace", "Hopper", born=grace.date_of_birth, state="ID")
    request_convert(actor=schedule["nurse_boise"], appointment_request=req, patient=grace)
    chart = reverse("patients:chart", args=[grace.pk])

    # Salt Lake's coordinator works video requests too, but Grace is a Boise patient.
    page = _as(client, schedule["coordinator"]).get(f"/requests/{req.pk}/").content.decode()
    assert "Converted to a patient at another location" in page
    assert grace.display_name not in page and chart not in page
    assert "Book the consultation" not in page
    entry = AuditEntry.objects.filter(
        actor_id=schedule["coordinator"].pk, object_type="appointment_request"
    ).latest("sequence")
    assert entry.patient_id is None and entry.detail == {"page": "request_detail"}

    # Boise's nurse (who converted it) and the director see who it became.
    for who in ("nurse_boise", "director"):
        page = _as(client, schedule[who]).get(f"/requests/{req.pk}/").content.decode()
        assert grace.display_name in page and chart in page, who
        assert "Book the consultation" in page, who
        entry = AuditEntry.objects.filter(
            actor_id=schedule[who].pk, object_type="appointment_request", action="view"
        ).latest("sequence")
        assert entry.patient_id == grace.pk, who


def test_opening_the_register_page_is_audited(client: Client, queue: dict) -> None:
    req = queue["slc_req"]
    response = _as(client, queue["coordinator"]).get(f"/requests/{req.pk}/register/")
    assert response.status_code == 200 and "Saltlake" in response.content.decode()
    entry = AuditEntry.objects.latest("sequence")
    assert entry.actor_id == queue["coordinator"].pk and entry.action == "view"
    assert entry.object_type == "appointment_request" and entry.object_id == str(req.pk)
    assert entry.detail == {"page": "request_register"}
    # Another location's request: not found, and nothing shown.
    _as(client, queue["nurse_boise"])
    assert client.get(f"/requests/{req.pk}/register/").status_code == 404
