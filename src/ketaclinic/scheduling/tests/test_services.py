"""Booking services against the database: rules from clinical/booking.py, saved only when
allowed, a course's series all or nothing, reschedule/cancel/no-show with reasons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.roles import Role
from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.services import session_check_in
from ketaclinic.conftest import make_course
from ketaclinic.patients.selectors import patients_visible_to
from ketaclinic.scheduling.models import Appointment, AppointmentStatus
from ketaclinic.scheduling.selectors import course_sessions_to_book
from ketaclinic.scheduling.services import (
    BookingRefused,
    appointment_book,
    appointment_cancel,
    appointment_no_show,
    appointment_reschedule,
    course_series_book,
)
from ketaclinic.scheduling.tests.conftest import at, next_weekday

pytestmark = pytest.mark.django_db


def _consult(s: dict[str, Any], **overrides: Any) -> Appointment:
    slc = s["slc"]
    arguments = {
        "actor": s["coordinator"],
        "patient": s["patient_slc"],
        "appointment_type": s["types"]["consultation"],
        "location": slc,
        "starts_at": at(slc, next_weekday(1), "10:00"),
        "provider": s["prescriber"],
        **overrides,
    }
    return appointment_book(**arguments)


def test_a_consultation_is_booked_in_the_first_free_room_and_audited(schedule: dict) -> None:
    appointment = _consult(schedule)
    assert appointment.resource == schedule["room"]
    assert appointment.ends_at - appointment.starts_at == timedelta(minutes=60)
    assert AuditEntry.objects.filter(
        object_type="appointment", object_id=str(appointment.pk), action="create"
    ).exists()


def test_the_same_provider_cannot_be_booked_twice(schedule: dict, make_patient: Any) -> None:
    _consult(schedule)
    other = make_patient(schedule["slc"], "Alan", "Turing")
    with pytest.raises(BookingRefused) as refused:
        _consult(schedule, patient=other, starts_at=at(schedule["slc"], next_weekday(1), "10:30"))
    messages = " ".join(refused.value.messages)
    assert "already booked" in messages
    assert Appointment.objects.count() == 1


def test_telehealth_needs_a_license_in_the_patients_state(schedule: dict) -> None:
    schedule["patient_slc"].state = "NV"
    schedule["patient_slc"].save()
    with pytest.raises(BookingRefused) as refused:
        _consult(schedule, telehealth=True)
    assert "Nevada (NV)" in refused.value.messages[0]
    schedule["patient_slc"].state = "UT"
    schedule["patient_slc"].save()
    appointment = _consult(schedule, telehealth=True)
    assert appointment.telehealth and appointment.resource is None


def test_outside_opening_hours_is_refused(schedule: dict) -> None:
    with pytest.raises(BookingRefused) as refused:
        _consult(schedule, starts_at=at(schedule["slc"], next_weekday(5), "10:00"))
    assert "closed on Saturdays" in " ".join(refused.value.messages)


def test_a_role_without_booking_rights_or_location_is_refused(schedule: dict) -> None:
    with pytest.raises(PermissionDenied):
        _consult(schedule, actor=schedule["admin"])
    with pytest.raises(PermissionDenied):
        _consult(schedule, actor=schedule["nurse_boise"])


def test_a_course_series_is_booked_all_or_nothing(schedule: dict, make_patient: Any) -> None:
    course = make_course(schedule["patient_slc"], schedule["director"], first_day=next_weekday(0))
    sessions = list(course.planned_sessions.order_by("number"))
    assert len(sessions) >= 2
    # Someone else holds every chair at the time of the last session.
    last = sessions[-1].starts_at
    blockers = [
        make_patient(schedule["slc"], "Blocker", f"Number{n}")
        for n in range(len(schedule["chairs"]))
    ]
    for blocker in blockers:
        appointment_book(
            actor=schedule["coordinator"],
            patient=blocker,
            appointment_type=schedule["types"]["iv-infusion"],
            location=schedule["slc"],
            starts_at=last,
        )
    with pytest.raises(BookingRefused) as refused:
        course_series_book(actor=schedule["coordinator"], course=course)
    assert f"Session {sessions[-1].number}:" in refused.value.messages[0]
    assert not Appointment.objects.filter(patient=schedule["patient_slc"]).exists()
    appointment_cancel(
        actor=schedule["coordinator"],
        appointment=Appointment.objects.filter(patient=blockers[0]).get(),
        reason="Patient asked",
    )
    booked = course_series_book(actor=schedule["coordinator"], course=course)
    assert [a.planned_session_id for a in booked] == [s.pk for s in sessions]
    assert booked[-1].resource == schedule["chairs"][0]


def test_reschedule_moves_the_planned_session_and_keeps_history(schedule: dict) -> None:
    course = make_course(schedule["patient_slc"], schedule["director"], first_day=next_weekday(0))
    first = course_series_book(actor=schedule["coordinator"], course=course)[0]
    with pytest.raises(ValidationError, match="reason"):
        appointment_reschedule(
            actor=schedule["coordinator"], appointment=first, starts_at=first.starts_at, reason=""
        )
    later = first.starts_at + timedelta(hours=3)
    moved = appointment_reschedule(
        actor=schedule["coordinator"], appointment=first, starts_at=later, reason="Ride"
    )
    first.refresh_from_db()
    assert first.status == AppointmentStatus.RESCHEDULED and first.status_reason == "Ride"
    assert moved.rescheduled_from == first and moved.planned_session_id == first.planned_session_id
    first.planned_session.refresh_from_db()
    assert first.planned_session.starts_at == later


def test_no_show_only_after_the_start(schedule: dict) -> None:
    appointment = _consult(schedule)
    with pytest.raises(ValidationError, match="start time has passed"):
        appointment_no_show(actor=schedule["coordinator"], appointment=appointment)
    with time_machine.travel(appointment.starts_at + timedelta(minutes=20)):
        appointment_no_show(actor=schedule["coordinator"], appointment=appointment)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NO_SHOW
    with pytest.raises(ValidationError, match="already no-show"):
        appointment_cancel(actor=schedule["coordinator"], appointment=appointment, reason="x")


def test_the_sessions_tab_shows_the_booked_chair_and_check_in_preselects_it(
    schedule: dict, client: Any
) -> None:
    patient = schedule["patient_slc"]
    course = make_course(patient, schedule["director"], first_day=next_weekday(0))
    course_series_book(actor=schedule["coordinator"], course=course, resource=schedule["chairs"][2])
    client.force_login(schedule["nurse"])
    html = client.get(reverse("charting:tab", args=[patient.pk])).content.decode()
    assert "Booked, Chair 3" in html
    assert '<option value="3" selected>' in html


def test_cancel_and_no_show_need_the_visits_location_not_only_the_patient(
    schedule: dict, make_user: Any
) -> None:
    """Grace is a Boise patient with a visit in Salt Lake: Boise's nurse sees her, but may
    not cancel or close a visit at a location she does not work at."""
    slc, grace = schedule["slc"], schedule["patient_boise"]
    visit = appointment_book(
        actor=schedule["director"],
        patient=grace,
        appointment_type=schedule["types"]["iv-infusion"],
        location=slc,
        starts_at=at(slc, next_weekday(1), "10:00"),
    )
    boise_nurse = make_user(Role.NURSE, [schedule["boise"]])
    assert patients_visible_to(boise_nurse).filter(pk=grace.pk).exists()
    with pytest.raises(PermissionDenied, match="your own locations"):
        appointment_cancel(actor=boise_nurse, appointment=visit, reason="Asked by phone")
    with (
        time_machine.travel(visit.starts_at + timedelta(minutes=20)),
        pytest.raises(PermissionDenied, match="your own locations"),
    ):
        appointment_no_show(actor=boise_nurse, appointment=visit)
    visit.refresh_from_db()
    assert visit.status == AppointmentStatus.BOOKED
    assert not AuditEntry.objects.filter(actor_id=boise_nurse.pk, action="update").exists()
    # Someone who works in Salt Lake (the director works everywhere) may.
    appointment_cancel(actor=schedule["director"], appointment=visit, reason="Asked by phone")
    visit.refresh_from_db()
    assert visit.status == AppointmentStatus.CANCELLED


def test_the_sessions_to_book_are_the_future_ones_without_a_live_booking(schedule: dict) -> None:
    course = make_course(schedule["patient_slc"], schedule["director"], first_day=next_weekday(0))
    sessions = list(course.planned_sessions.order_by("number"))
    assert len(sessions) >= 3
    now = timezone.now()
    # Checked in (on its day): no longer to book, even without an appointment.
    with time_machine.travel(sessions[0].starts_at - timedelta(minutes=20), tick=False):
        session_check_in(actor=schedule["nurse"], planned=sessions[0], chair=None)
    assert list(course_sessions_to_book(course, now)) == sessions[1:]
    booked = course_series_book(actor=schedule["coordinator"], course=course)
    assert [a.planned_session_id for a in booked] == [s.pk for s in sessions[1:]]
    assert list(course_sessions_to_book(course, now)) == []
    # A cancelled booking frees its session; a rescheduled one still holds it (moved).
    appointment_cancel(actor=schedule["coordinator"], appointment=booked[0], reason="Ill")
    appointment_reschedule(
        actor=schedule["coordinator"],
        appointment=booked[1],
        starts_at=booked[1].starts_at + timedelta(hours=2),
        reason="Ride",
    )
    assert list(course_sessions_to_book(course, now)) == [sessions[1]]
    # Once its time has passed, a session is no longer to book.
    later = sessions[1].starts_at + timedelta(minutes=1)
    assert list(course_sessions_to_book(course, later)) == []
