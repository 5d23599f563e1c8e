"""Change requests: a patient asks once per visit; staff of the patient's location see the
request, open the appointment and mark it handled once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.scheduling.changes.services import change_request_handle, change_request_submit
from ketaclinic.scheduling.changes.views import appointment_href
from ketaclinic.scheduling.models import Appointment, ChangeRequest
from ketaclinic.scheduling.services import appointment_book, appointment_cancel
from ketaclinic.scheduling.tests.conftest import at, next_weekday

pytestmark = pytest.mark.django_db

LIST = "/requests/changes/"


def _infusion(s: dict[str, Any], patient: Any, location: Any, actor: Any, hhmm: str = "10:00"):
    return appointment_book(
        actor=actor,
        patient=patient,
        appointment_type=s["types"]["iv-infusion"],
        location=location,
        starts_at=at(location, next_weekday(1), hhmm),
    )


@pytest.fixture
def asked(schedule: dict[str, Any]) -> dict[str, Any]:
    """Ada (SLC) and Grace (Boise) each asked to move a visit."""
    ada_visit = _infusion(schedule, schedule["patient_slc"], schedule["slc"], schedule["nurse"])
    grace_visit = _infusion(
        schedule, schedule["patient_boise"], schedule["boise"], schedule["nurse_boise"]
    )
    return {
        **schedule,
        "ada_visit": ada_visit,
        "grace_visit": grace_visit,
        "ada_change": change_request_submit(
            actor=schedule["patient_user"],
            appointment=ada_visit,
            message="Could we move it to Thursday morning?",
        ),
        "grace_change": change_request_submit(
            actor=schedule["patient_user_boise"],
            appointment=grace_visit,
            message="I need to cancel, my ride fell through.",
        ),
    }


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_second_open_request_for_a_visit_is_refused(asked: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="already asked"):
        change_request_submit(
            actor=asked["patient_user"], appointment=asked["ada_visit"], message="Again?"
        )
    assert ChangeRequest.objects.filter(appointment=asked["ada_visit"]).count() == 1
    entry = AuditEntry.objects.get(
        object_type="change_request", action="create", patient_id=asked["patient_slc"].pk
    )
    assert entry.actor_id == asked["patient_user"].pk
    # Once handled, the patient may ask again.
    change_request_handle(actor=asked["nurse"], change=asked["ada_change"])
    change_request_submit(
        actor=asked["patient_user"], appointment=asked["ada_visit"], message="One more change"
    )
    assert ChangeRequest.objects.filter(appointment=asked["ada_visit"]).count() == 2


def test_only_the_patient_asks_and_only_about_an_upcoming_booked_visit(
    asked: dict[str, Any],
) -> None:
    with pytest.raises(PermissionDenied):
        change_request_submit(
            actor=asked["patient_user"], appointment=asked["grace_visit"], message="Not mine"
        )
    with pytest.raises(PermissionDenied):
        change_request_submit(
            actor=asked["nurse"], appointment=asked["ada_visit"], message="Staff, not patient"
        )
    later = _infusion(asked, asked["patient_slc"], asked["slc"], asked["nurse"], "14:00")
    with pytest.raises(ValidationError, match="Tell the clinic"):
        change_request_submit(actor=asked["patient_user"], appointment=later, message="   ")
    appointment_cancel(actor=asked["nurse"], appointment=later, reason="Patient called")
    later.refresh_from_db()
    with pytest.raises(ValidationError, match="cancelled"):
        change_request_submit(actor=asked["patient_user"], appointment=later, message="Move it")
    assert not ChangeRequest.objects.filter(appointment=later).exists()


def test_staff_see_only_their_locations_requests_and_the_view_is_audited(
    asked: dict[str, Any],
) -> None:
    page = _client(asked["nurse"]).get(LIST)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Could we move it to Thursday morning?" in html
    assert "Lovelace" in html and asked["patient_slc"].mrn in html
    assert "my ride fell through" not in html and "Hopper" not in html
    assert appointment_href(asked["ada_visit"]) in html
    entry = AuditEntry.objects.filter(object_type="change_requests").latest("sequence")
    assert entry.actor_id == asked["nurse"].pk
    assert entry.detail["patient_ids"] == [asked["patient_slc"].pk]

    boise = _client(asked["nurse_boise"]).get(LIST).content.decode()
    assert "my ride fell through" in boise and "Thursday morning" not in boise
    director = _client(asked["director"]).get(LIST).content.decode()
    assert "my ride fell through" in director and "Thursday morning" in director
    # Oldest first.
    assert director.index("Thursday morning") < director.index("my ride fell through")


def test_the_appointment_link_goes_to_its_page(asked: dict[str, Any]) -> None:
    visit = asked["ada_visit"]
    assert appointment_href(visit) == f"/patients/{visit.patient_id}/appointments/{visit.pk}/"


@pytest.mark.parametrize("who", ["patient_user", "admin"])
def test_roles_without_booking_rights_cannot_open_the_list(asked: dict[str, Any], who: str) -> None:
    client = _client(asked[who])
    assert client.get(LIST).status_code == 403
    handle = reverse("scheduling:change_request_handle", args=[asked["ada_change"].pk])
    assert client.post(handle, {"note": "x"}).status_code == 403
    assert ChangeRequest.objects.get(pk=asked["ada_change"].pk).handled_at is None


def test_anonymous_is_sent_to_log_in(asked: dict[str, Any]) -> None:
    response = Client().get(LIST)
    assert response.status_code == 302 and "/login/" in response["Location"]
    handle = reverse("scheduling:change_request_handle", args=[asked["ada_change"].pk])
    response = Client().post(handle, {"note": "x"})
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert ChangeRequest.objects.get(pk=asked["ada_change"].pk).handled_at is None


def test_marking_handled_records_who_and_refuses_a_second_time(asked: dict[str, Any]) -> None:
    change = asked["ada_change"]
    url = reverse("scheduling:change_request_handle", args=[change.pk])
    client = _client(asked["nurse"])
    assert client.get(url).status_code == 405
    response = client.post(url, {"note": "Moved to Thursday 09:00"}, follow=True)
    assert "marked handled" in response.content.decode()
    change.refresh_from_db()
    assert change.handled_by == asked["nurse"] and change.handled_note == "Moved to Thursday 09:00"
    handled_at = change.handled_at
    assert "Thursday morning" not in response.content.decode()  # gone from the open list
    assert AuditEntry.objects.filter(
        object_type="change_request", action="update", object_id=str(change.pk)
    ).exists()

    again = _client(asked["director"]).post(url, {"note": "Me too"}, follow=True)
    assert "already marked this request handled" in again.content.decode()
    change.refresh_from_db()
    assert change.handled_by == asked["nurse"] and change.handled_at == handled_at
    with pytest.raises(ValidationError, match="already marked"):
        change_request_handle(actor=asked["director"], change=change)


def test_another_locations_request_cannot_be_handled(asked: dict[str, Any]) -> None:
    url = reverse("scheduling:change_request_handle", args=[asked["grace_change"].pk])
    assert _client(asked["nurse"]).post(url, {"note": "x"}).status_code == 404
    assert (
        _client(asked["nurse"])
        .post(url.replace(str(asked["grace_change"].pk), "99999"))
        .status_code
        == 404
    )
    with pytest.raises(PermissionDenied):
        change_request_handle(actor=asked["nurse"], change=asked["grace_change"])
    assert ChangeRequest.objects.get(pk=asked["grace_change"].pk).handled_at is None


def test_a_too_long_note_keeps_what_was_typed_and_changes_nothing(asked: dict[str, Any]) -> None:
    change = asked["ada_change"]
    url = reverse("scheduling:change_request_handle", args=[change.pk])
    typed = "Called back. " * 30
    response = _client(asked["nurse"]).post(url, {"note": typed})
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 300 characters" in html and "Called back. Called back." in html
    change.refresh_from_db()
    assert change.handled_at is None


def test_the_list_pages_in_a_constant_number_of_queries(
    asked: dict[str, Any], make_patient: Any
) -> None:
    slc, director = asked["slc"], asked["director"]
    kind = asked["types"]["iv-infusion"]
    client = _client(asked["nurse"])

    def add(count: int) -> None:
        start = timezone.now() + timedelta(days=3)
        for n in range(count):
            patient = make_patient(slc, "Load", f"Patient{ChangeRequest.objects.count()}x{n}")
            visit = Appointment.objects.create(
                location=slc,
                appointment_type=kind,
                patient=patient,
                starts_at=start + timedelta(hours=n),
                ends_at=start + timedelta(hours=n, minutes=120),
                booked_by=director,
                provider=asked["prescriber"],
            )
            ChangeRequest.objects.create(appointment=visit, message=f"Please move {n}")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured)

    add(2)
    small = queries()
    add(40)
    large = queries()
    assert large == small
    second_page = client.get(LIST, {"page": 2}).content.decode()
    assert "Page 2 of 2" in second_page
