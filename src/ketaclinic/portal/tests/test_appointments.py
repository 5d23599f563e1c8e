"""The portal's appointments: only the patient's own, in the location's time, the video link
only while it is open, and asking to change a visit (once, for their own visits only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from ketaclinic.audit.models import AuditEntry
from ketaclinic.scheduling.models import Appointment, ChangeRequest
from ketaclinic.scheduling.services import appointment_book, appointment_cancel
from ketaclinic.scheduling.tests.conftest import at, next_weekday, schedule  # noqa: F401

pytestmark = pytest.mark.django_db


def _change_url(appointment: Appointment) -> str:
    return f"/portal/appointments/{appointment.pk}/change/"


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def visits(schedule: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """Ada: an infusion next Tuesday 10:00 and a cancelled one at 15:00; Grace: one in Boise."""
    slc, boise, day = schedule["slc"], schedule["boise"], next_weekday(1)

    def infusion(patient: Any, location: Any, actor: Any, hhmm: str) -> Appointment:
        return appointment_book(
            actor=actor,
            patient=patient,
            appointment_type=schedule["types"]["iv-infusion"],
            location=location,
            starts_at=at(location, day, hhmm),
        )

    ada = infusion(schedule["patient_slc"], slc, schedule["coordinator"], "10:00")
    cancelled = infusion(schedule["patient_slc"], slc, schedule["coordinator"], "15:00")
    appointment_cancel(actor=schedule["coordinator"], appointment=cancelled, reason="Unwell")
    grace = infusion(schedule["patient_boise"], boise, schedule["nurse_boise"], "10:00")
    return {**schedule, "ada": ada, "cancelled": cancelled, "grace": grace, "day": day}


def test_the_home_page_lists_only_the_patients_own_booked_visits(visits: dict[str, Any]) -> None:
    html = _client(visits["patient_user"]).get("/portal/").content.decode()
    day = visits["day"]
    assert "Your upcoming appointments" in html
    assert "IV ketamine infusion" in html
    assert f"{day:%A}, {day:%B} {day.day} at 10:00 AM" in html
    assert visits["slc"].full_address in html
    assert "Do not eat for 6 hours" in html
    assert f'class="button secondary" href="{_change_url(visits["ada"])}"' in html
    assert _change_url(visits["grace"]) not in html and "Boise Clinic" not in html
    assert _change_url(visits["cancelled"]) not in html and "3:00 PM" not in html
    entry = AuditEntry.objects.filter(actor_id=visits["patient_user"].pk).latest("sequence")
    assert entry.patient_id == visits["patient_slc"].pk
    # Sections other apps add record what they show beside it (portal_home panels).
    assert entry.detail["page"] == "portal_home"
    assert entry.detail["appointment_ids"] == [visits["ada"].pk]
    # Questionnaires and the crisis line stay on the page.
    assert "988" in html


def test_a_video_visit_shows_its_link_only_while_it_is_open(
    schedule: dict[str, Any],  # noqa: F811
    settings: Any,
) -> None:
    settings.KETACLINIC_VIDEO_URL_PATTERN = "https://video.example.org/{room}"
    settings.KETACLINIC_VIDEO_LINK_OPENS_MINUTES = 15
    slc = schedule["slc"]
    visit = appointment_book(
        actor=schedule["coordinator"],
        patient=schedule["patient_slc"],
        appointment_type=schedule["types"]["follow-up"],
        location=slc,
        starts_at=at(slc, next_weekday(1), "10:00"),
        provider=schedule["prescriber"],
        telehealth=True,
    )
    url = f"https://video.example.org/{visit.video_room}"
    html = _client(schedule["patient_user"]).get("/portal/").content.decode()
    assert "Video visit" in html and "The video link appears here at 09:45" in html
    assert url not in html and slc.full_address not in html.split("Your clinic")[0]
    # Logged in again after the clock moves: the session would have timed out.
    with time_machine.travel(visit.starts_at - timedelta(minutes=10), tick=False):
        html = _client(schedule["patient_user"]).get("/portal/").content.decode()
    assert f'href="{url}"' in html and "Join the video visit" in html
    with time_machine.travel(visit.ends_at + timedelta(minutes=1), tick=False):
        html = _client(schedule["patient_user"]).get("/portal/").content.decode()
    assert url not in html


def test_the_change_page_opens_only_for_the_patients_own_visit(visits: dict[str, Any]) -> None:
    client = _client(visits["patient_user"])
    page = client.get(_change_url(visits["ada"]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "What would you like to change?" in html and 'name="message"' in html
    entry = AuditEntry.objects.filter(object_type="appointment", action="view").latest("sequence")
    assert entry.patient_id == visits["patient_slc"].pk
    assert entry.object_id == str(visits["ada"].pk)
    assert client.get(_change_url(visits["grace"])).status_code == 404
    assert client.post(_change_url(visits["grace"]), {"message": "Move it"}).status_code == 404
    assert client.get("/portal/appointments/999999/change/").status_code == 404
    assert not ChangeRequest.objects.exists()
    assert _client(visits["nurse"]).get(_change_url(visits["ada"])).status_code == 403
    anonymous = Client().get(_change_url(visits["ada"]))
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_asking_to_change_a_visit_once(visits: dict[str, Any]) -> None:
    client = _client(visits["patient_user"])
    url = _change_url(visits["ada"])
    response = client.post(url, {"message": "Can we do Thursday instead?"}, follow=True)
    assert response.redirect_chain[-1][0] == "/portal/"
    html = response.content.decode()
    assert "Your request is sent" in html and "You asked to change this visit" in html
    assert url not in html
    change = ChangeRequest.objects.get()
    assert change.appointment == visits["ada"] and change.message == "Can we do Thursday instead?"
    assert AuditEntry.objects.filter(object_type="change_request", action="create").exists()

    page = client.get(url).content.decode()
    assert "You asked on" in page and 'name="message"' not in page
    again = client.post(url, {"message": "Or Friday?"})
    assert again.status_code == 400
    assert "You have already asked to change this appointment" in again.content.decode()
    assert "Or Friday?" in again.content.decode()
    assert ChangeRequest.objects.count() == 1


def test_an_empty_or_too_long_message_is_refused_and_kept(visits: dict[str, Any]) -> None:
    client = _client(visits["patient_user"])
    url = _change_url(visits["ada"])
    empty = client.post(url, {"message": ""})
    assert empty.status_code == 400 and "This field is required" in empty.content.decode()
    typed = "Please move it. " * 70
    long = client.post(url, {"message": typed})
    assert long.status_code == 400
    assert "at most 1000 characters" in long.content.decode()
    assert "Please move it. Please move it." in long.content.decode()
    assert not ChangeRequest.objects.exists()


def test_a_cancelled_visit_cannot_be_changed_online(visits: dict[str, Any]) -> None:
    client = _client(visits["patient_user"])
    url = _change_url(visits["cancelled"])
    page = client.get(url).content.decode()
    assert "can no longer be changed here" in page and 'name="message"' not in page
    refused = client.post(url, {"message": "Rebook it"})
    assert refused.status_code == 400 and "This visit is cancelled" in refused.content.decode()
    assert not ChangeRequest.objects.exists()
