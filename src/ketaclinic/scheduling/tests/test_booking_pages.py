"""Booking pages: the booking form (prefill, MRN lookup, refusals that keep every value,
daylight-saving times), one appointment's page with reschedule, cancel and no-show, and a
course's series booking; and that none of them opens to the wrong person."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.conftest import make_course
from ketaclinic.scheduling.models import Appointment, AppointmentRequest, AppointmentStatus
from ketaclinic.scheduling.services import appointment_book
from ketaclinic.scheduling.tests.conftest import at, next_weekday
from ketaclinic.scheduling.tests.test_calendar import (
    _first_sunday_of_november_ahead,
    _second_sunday_of_march_ahead,
)

pytestmark = pytest.mark.django_db

BOOK = "/calendar/book/"


def _consult(s: dict[str, Any], **overrides: Any) -> Appointment:
    arguments = {
        "actor": s["coordinator"],
        "patient": s["patient_slc"],
        "appointment_type": s["types"]["consultation"],
        "location": s["slc"],
        "starts_at": at(s["slc"], next_weekday(1), "10:00"),
        "provider": s["prescriber"],
        **overrides,
    }
    return appointment_book(**arguments)


def _post(s: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "location": s["slc"].pk,
        "patient": s["patient_slc"].pk,
        "appointment_type": "consultation",
        "date": next_weekday(1).isoformat(),
        "time": "10:00",
        "provider": s["prescriber"].pk,
        "resource": "",
        "note": "",
        **fields,
    }


def _page(s: dict[str, Any], appointment: Appointment, action: str = "") -> str:
    url = reverse("scheduling:appointment", args=[appointment.patient_id, appointment.pk])
    return f"{url}{action}"


# The booking form ---------------------------------------------------------------------------


def test_the_form_is_prefilled_from_the_calendar_link(schedule: dict, client: Client) -> None:
    s = schedule
    day = next_weekday(1)
    chair = s["chairs"][1]
    client.force_login(s["coordinator"])
    html = client.get(
        f"{BOOK}?location={s['slc'].pk}&start={day}T09:15&resource={chair.pk}"
        f"&patient={s['patient_slc'].pk}&type=iv-infusion&provider={s['nurse'].pk}"
    ).content.decode()
    assert "Lovelace, Ada" in html and s["patient_slc"].mrn in html
    assert f'value="{day}"' in html and 'value="09:15"' in html
    assert f'<option value="{chair.pk}" selected>' in html
    assert '<option value="iv-infusion" selected>' in html
    assert f'<option value="{s["nurse"].pk}" selected>' in html
    # Showing a patient's name is an access: audited.
    entry = AuditEntry.objects.latest("sequence")
    assert entry.patient_id == s["patient_slc"].pk and entry.detail == {"page": "book"}


def test_booking_saves_and_opens_the_appointment(schedule: dict, client: Client) -> None:
    s = schedule
    client.force_login(s["coordinator"])
    response = client.post(BOOK, _post(s, note="Bring med list"), follow=True)
    appointment = Appointment.objects.get()
    assert response.redirect_chain[-1][0] == _page(s, appointment)
    html = response.content.decode()
    assert "Booked: Consultation for Lovelace, Ada" in html
    assert appointment.resource == s["room"] and appointment.note == "Bring med list"
    assert appointment.starts_at == at(s["slc"], next_weekday(1), "10:00")


def test_a_typed_mrn_finds_only_patients_the_user_may_see(schedule: dict, client: Client) -> None:
    s = schedule
    client.force_login(s["coordinator"])
    response = client.post(BOOK, _post(s, patient="", mrn=s["patient_boise"].mrn))
    assert f"No patient with MRN {s['patient_boise'].mrn} at your locations" in (
        response.content.decode()
    )
    response = client.post(BOOK, _post(s, patient="", mrn="Lovelace"))
    assert "is not an MRN" in response.content.decode()
    response = client.post(BOOK, _post(s, patient=s["patient_boise"].pk))
    assert "not at one of your locations" in response.content.decode()
    assert not Appointment.objects.exists()
    response = client.post(BOOK, _post(s, patient="", mrn=s["patient_slc"].mrn.lower()))
    assert response.status_code == 302
    assert Appointment.objects.get().patient == s["patient_slc"]


def test_a_refusal_is_listed_keeps_every_value_and_saves_nothing(
    schedule: dict, client: Client
) -> None:
    s = schedule
    s["patient_slc"].state = "NV"
    s["patient_slc"].save()
    client.force_login(s["coordinator"])
    response = client.post(BOOK, _post(s, telehealth="on", time="10:30", note="First video visit"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="refusals"' in html and "holds no active license in Nevada (NV)" in html
    assert "First video visit" in html and 'value="10:30"' in html
    assert f'value="{next_weekday(1)}"' in html
    assert re.search(r'<input type="checkbox" name="telehealth"[^>]* checked', html)
    assert f'<option value="{s["prescriber"].pk}" selected>' in html
    assert not Appointment.objects.exists()


def test_clear_field_errors_for_a_missing_provider_and_a_video_chair(
    schedule: dict, client: Client
) -> None:
    s = schedule
    client.force_login(s["coordinator"])
    html = client.post(BOOK, _post(s, provider="")).content.decode()
    assert "Choose a provider for the consultation." in html
    html = client.post(BOOK, _post(s, telehealth="on", resource=s["room"].pk)).content.decode()
    assert "A video visit takes no chair or room" in html
    html = client.post(BOOK, _post(s, appointment_type="nope")).content.decode()
    assert "Select a valid choice" in html
    assert not Appointment.objects.exists()


def test_times_the_clocks_skip_or_repeat_are_refused(schedule: dict, client: Client) -> None:
    s = schedule
    client.force_login(s["coordinator"])
    spring = _second_sunday_of_march_ahead()
    html = client.post(
        BOOK, _post(s, date=spring.isoformat(), time="02:30", telehealth="on")
    ).content.decode()
    assert "02:30 does not exist on" in html and "America/Denver" in html
    autumn = _first_sunday_of_november_ahead()
    html = client.post(
        BOOK, _post(s, date=autumn.isoformat(), time="01:30", telehealth="on")
    ).content.decode()
    assert "01:30 happens twice on" in html
    assert not Appointment.objects.exists()


def test_a_request_links_its_patient_and_the_booking(schedule: dict, client: Client) -> None:
    s = schedule
    request = AppointmentRequest.objects.create(
        first_name="Ada",
        last_name="Lovelace",
        date_of_birth=s["patient_slc"].date_of_birth,
        phone="(801) 555-0123",
        state="UT",
        help_with="Depression",
        consent_to_contact=True,
        source_digest="x" * 64,
        patient=s["patient_slc"],
    )
    client.force_login(s["coordinator"])
    html = client.get(f"{BOOK}?request={request.pk}").content.decode()
    assert "Lovelace, Ada" in html
    client.post(BOOK, _post(s, request=request.pk))
    assert Appointment.objects.get().from_request == request
    # Someone else's request is not attached to this patient.
    other = _post(s, request=request.pk, patient="", mrn=s["patient_slc"].mrn, time="14:00")
    request.patient = None
    request.save()
    html = client.post(BOOK, other).content.decode()
    assert "belongs to someone else" in html


def test_booking_is_refused_to_the_wrong_people(schedule: dict, client: Client) -> None:
    s = schedule
    response = client.get(BOOK)
    assert response.status_code == 302 and "/login/" in response.url
    for user in ("admin", "patient_user"):
        client.force_login(s[user])
        assert client.get(BOOK).status_code == 403
        assert client.post(BOOK, _post(s)).status_code == 403
    client.force_login(s["nurse_boise"])
    assert client.get(f"{BOOK}?location={s['slc'].pk}").status_code == 404
    assert client.post(BOOK, _post(s)).status_code == 404
    assert not Appointment.objects.exists()


# One appointment ----------------------------------------------------------------------------


def test_the_appointment_page_shows_local_details_and_audits(
    schedule: dict, client: Client
) -> None:
    s = schedule
    appointment = _consult(s, note="Wheelchair")
    client.force_login(s["nurse"])
    html = client.get(_page(s, appointment)).content.decode()
    zone = timezone.localtime(appointment.starts_at, s["slc"].tz).tzname()  # MST or MDT
    assert f"10:00-11:00 {zone}" in html and "Consultation room 1" in html and "Wheelchair" in html
    assert s["prescriber"].display_name in html and "America/Denver" in html
    assert 'id="reschedule"' in html
    entry = AuditEntry.objects.latest("sequence")
    assert entry.patient_id == s["patient_slc"].pk
    assert entry.detail == {"page": "appointment", "appointment_id": appointment.pk}
    # Viewing only: no actions.
    client.force_login(s["admin"])
    html = client.get(_page(s, appointment)).content.decode()
    assert 'id="reschedule"' not in html and "Cancel the appointment" not in html


def test_an_appointment_opens_only_under_its_own_patient(schedule: dict, client: Client) -> None:
    s = schedule
    appointment = _consult(s)
    wrong = reverse("scheduling:appointment", args=[s["patient_boise"].pk, appointment.pk])
    client.force_login(s["director"])
    assert client.get(wrong).status_code == 404
    for action in ("reschedule/", "cancel/", "no-show/"):
        assert client.post(f"{wrong}{action}", {"reason": "x"}).status_code == 404
    client.force_login(s["nurse_boise"])
    assert client.get(_page(s, appointment)).status_code == 404
    assert client.post(_page(s, appointment, "cancel/"), {"reason": "x"}).status_code == 404
    client.force_login(s["patient_user"])
    assert client.get(_page(s, appointment)).status_code == 403
    client.logout()
    response = client.get(_page(s, appointment))
    assert response.status_code == 302 and "/login/" in response.url
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_reschedule_moves_it_and_shows_the_history(schedule: dict, client: Client) -> None:
    s = schedule
    appointment = _consult(s)
    client.force_login(s["coordinator"])
    day = next_weekday(3)
    data = {"date": day.isoformat(), "time": "13:00", "provider": s["prescriber"].pk}
    html = client.post(_page(s, appointment, "reschedule/"), data).content.decode()
    assert "This field is required" in html and 'value="13:00"' in html
    response = client.post(
        _page(s, appointment, "reschedule/"), {**data, "reason": "Patient's ride"}, follow=True
    )
    moved = Appointment.objects.get(status=AppointmentStatus.BOOKED)
    assert response.redirect_chain[-1][0] == _page(s, moved)
    html = response.content.decode()
    assert "Moved here from" in html and "Patient&#x27;s ride" in html
    assert moved.starts_at == at(s["slc"], day, "13:00")
    old = client.get(_page(s, appointment)).content.decode()
    assert "Rescheduled" in old and "Moved to" in old and 'id="reschedule"' not in old


def test_a_refused_reschedule_lists_why_and_keeps_the_values(
    schedule: dict, client: Client
) -> None:
    s = schedule
    appointment = _consult(s)
    client.force_login(s["coordinator"])
    saturday = next_weekday(5)
    html = client.post(
        _page(s, appointment, "reschedule/"),
        {
            "date": saturday.isoformat(),
            "time": "09:45",
            "provider": s["prescriber"].pk,
            "reason": "Asked for a weekend",
        },
    ).content.decode()
    assert 'id="refusals"' in html and "closed on Saturdays" in html
    assert f'value="{saturday}"' in html and 'value="09:45"' in html
    assert "Asked for a weekend" in html
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED
    assert Appointment.objects.count() == 1


def test_cancel_needs_confirmation_and_a_reason(schedule: dict, client: Client) -> None:
    s = schedule
    appointment = _consult(s)
    client.force_login(s["coordinator"])
    html = client.get(_page(s, appointment, "cancel/")).content.decode()
    assert "Cancel this appointment?" in html and "Keep it" in html
    appointment.refresh_from_db()
    assert appointment.is_booked
    html = client.post(_page(s, appointment, "cancel/"), {"reason": ""}).content.decode()
    assert "This field is required" in html
    response = client.post(_page(s, appointment, "cancel/"), {"reason": "Feeling unwell"})
    assert response.url == _page(s, appointment)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.CANCELLED
    assert appointment.status_reason == "Feeling unwell"
    client.force_login(s["admin"])
    assert client.get(_page(s, appointment, "cancel/")).status_code == 403


def test_no_show_only_after_the_start(schedule: dict, client: Client) -> None:
    s = schedule
    appointment = _consult(s)
    client.force_login(s["coordinator"])
    page = client.get(_page(s, appointment)).content.decode()
    assert "Record a no-show" not in page
    html = client.post(_page(s, appointment, "no-show/"), {"note": ""}).content.decode()
    assert "once the visit&#x27;s start time has passed" in html
    with time_machine.travel(appointment.starts_at + timedelta(minutes=30)):
        client.force_login(s["coordinator"])
        assert "Record a no-show" in client.get(_page(s, appointment)).content.decode()
        client.post(_page(s, appointment, "no-show/"), {"note": "No answer on phone"})
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NO_SHOW


def test_the_video_link_shows_only_while_it_may_be_used(
    schedule: dict, client: Client, settings: Any
) -> None:
    s = schedule
    settings.KETACLINIC_VIDEO_URL_PATTERN = "https://video.example/{room}"
    appointment = _consult(s, telehealth=True)
    client.force_login(s["prescriber"])
    html = client.get(_page(s, appointment)).content.decode()
    assert "The video link appears here at" in html and "video.example" not in html
    with time_machine.travel(appointment.starts_at - timedelta(minutes=5)):
        client.force_login(s["prescriber"])
        html = client.get(_page(s, appointment)).content.decode()
    assert f'href="https://video.example/{appointment.video_room}"' in html


# A course's sessions ------------------------------------------------------------------------


def _course(s: dict[str, Any]) -> Any:
    return make_course(s["patient_slc"], s["director"], first_day=next_weekday(0))


def test_course_sessions_are_booked_as_a_series(schedule: dict, client: Client) -> None:
    s = schedule
    course = _course(s)
    url = reverse("scheduling:course_book", args=[s["patient_slc"].pk, course.pk])
    client.force_login(s["coordinator"])
    course_page = reverse("treatment:course", args=[s["patient_slc"].pk, course.pk])
    assert url in client.get(course_page).content.decode()
    html = client.get(url).content.decode()
    sessions = list(course.planned_sessions.order_by("number"))
    assert html.count("Not booked") == len(sessions)
    assert "First free chair for each session" in html
    response = client.post(url, {"resource": s["chairs"][1].pk, "provider": ""}, follow=True)
    html = response.content.decode()
    assert f"{len(sessions)} sessions booked." in html
    booked = Appointment.objects.filter(planned_session__course=course)
    assert booked.count() == len(sessions)
    assert {a.resource for a in booked} == {s["chairs"][1]}
    day = sessions[0].starts_at.astimezone(s["slc"].tz).date()
    assert reverse("scheduling:calendar_day", args=[s["slc"].pk, day]) in html
    assert "Not booked" not in html


def test_a_refused_series_lists_every_session_and_books_none(
    schedule: dict, client: Client, make_patient: Any
) -> None:
    s = schedule
    course = _course(s)
    sessions = list(course.planned_sessions.order_by("number"))
    other = make_patient(s["slc"], "Alan", "Turing")
    for session in (sessions[0], sessions[-1]):
        appointment_book(
            actor=s["coordinator"],
            patient=other,
            appointment_type=s["types"]["iv-infusion"],
            location=s["slc"],
            starts_at=session.starts_at,
            resource=s["chairs"][0],
        )
    client.force_login(s["coordinator"])
    url = reverse("scheduling:course_book", args=[s["patient_slc"].pk, course.pk])
    html = client.post(url, {"resource": s["chairs"][0].pk}).content.decode()
    assert "Nothing was booked." in html
    assert f"Session {sessions[0].number}: " in html
    assert f"Session {sessions[-1].number}: " in html
    assert not Appointment.objects.filter(patient=s["patient_slc"]).exists()


def test_series_booking_is_refused_to_the_wrong_people(schedule: dict, client: Client) -> None:
    s = schedule
    course = _course(s)
    url = reverse("scheduling:course_book", args=[s["patient_slc"].pk, course.pk])
    wrong_patient = reverse("scheduling:course_book", args=[s["patient_boise"].pk, course.pk])
    client.force_login(s["admin"])
    assert client.get(url).status_code == 403
    course_page = reverse("treatment:course", args=[s["patient_slc"].pk, course.pk])
    assert url not in client.get(course_page).content.decode()
    client.force_login(s["nurse_boise"])
    assert client.post(url).status_code == 404
    client.force_login(s["director"])
    assert client.post(wrong_patient).status_code == 404
    client.force_login(s["patient_user"])
    assert client.post(url).status_code == 403
    assert not Appointment.objects.exists()


def test_another_locations_request_is_neither_read_nor_attached(
    schedule: dict, client: Client
) -> None:
    """A Salt Lake request (linked to Grace, a Boise patient) is not Boise's to work: its
    link does not prefill the booking form, and a forged id is refused."""
    s = schedule
    grace, boise = s["patient_boise"], s["boise"]
    request = AppointmentRequest.objects.create(
        first_name="Grace",
        last_name="Hopper",
        date_of_birth=grace.date_of_birth,
        phone="(208) 555-0123",
        state="ID",
        help_with="Depression",
        consent_to_contact=True,
        source_digest="x" * 64,
        preferred_location=s["slc"],
        patient=grace,
    )
    client.force_login(s["nurse_boise"])
    html = client.get(f"{BOOK}?location={boise.pk}&request={request.pk}").content.decode()
    assert grace.display_name not in html
    data = _post(
        s,
        location=boise.pk,
        patient=grace.pk,
        appointment_type="iv-infusion",
        provider="",
        request=request.pk,
    )
    html = client.post(BOOK, data).content.decode()
    assert "That appointment request is not one of yours." in html
    assert not Appointment.objects.exists()
    # The director works every request and may attach it.
    client.force_login(s["director"])
    assert client.post(BOOK, data).status_code == 302
    assert Appointment.objects.get().from_request == request
