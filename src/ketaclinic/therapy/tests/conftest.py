"""Therapy fixtures: the `clinic` fixture's therapist with working hours and a Utah license,
and a course for the SLC patient whose first dosing session ended yesterday.

Tests that book run at a pinned Wednesday morning (WEDNESDAY), so that hours and windows
are the same whatever day the suite runs."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.conftest import make_course
from ketaclinic.scheduling.models import AppointmentType, ProviderLicense, WorkingHours
from ketaclinic.scheduling.selectors import appointment_types_for
from ketaclinic.scheduling.services import appointment_types_seed_defaults

WEDNESDAY = "2027-01-06T10:00:00-07:00"


def local(location: Any, day: date, hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=location.tz)


def give_session(planned: Any, *, ended_at: datetime, status: str = SessionStatus.SIGNED) -> Any:
    """A dosing session of `planned` that ended at `ended_at` (written directly: these tests
    are about what follows dosing, not the chair workflow, which charting tests)."""
    course = planned.course
    return TreatmentSession.objects.create(
        planned_session=planned,
        course=course,
        patient=course.patient,
        location=course.location,
        route=course.protocol.route,
        status=status,
        scheduled_at=planned.starts_at,
        checked_in_at=ended_at - timedelta(minutes=90),
        planned_dose_mg=planned.planned_dose_mg,
        dose_mg=planned.planned_dose_mg,
        dosing_started_at=ended_at - timedelta(minutes=40),
        dosing_ended_at=ended_at,
        discharged_at=ended_at + timedelta(minutes=60),
    )


def therapist_hours(therapist: Any, location: Any) -> None:
    WorkingHours.objects.bulk_create(
        WorkingHours(
            provider=therapist, location=location, weekday=d, starts_at=time(7), ends_at=time(19)
        )
        for d in range(7)
    )


@pytest.fixture
def therapy(clinic: dict[str, Any]) -> dict[str, Any]:
    """The clinic; the therapist works at SLC every day 07:00-19:00 and is licensed in Utah;
    the SLC patient has an IV course whose session 1 ended yesterday at 11:00 local."""
    appointment_types_seed_defaults()
    slc = clinic["slc"]
    therapist_hours(clinic["therapist"], slc)
    ProviderLicense.objects.create(
        provider=clinic["therapist"],
        state="UT",
        kind="LPC",
        number="UT-LPC-7001",
        expires_on=timezone.localdate() + timedelta(days=730),
        recorded_by=clinic["admin"],
    )
    yesterday = timezone.localdate(timezone=slc.tz) - timedelta(days=1)
    course = make_course(clinic["patient_slc"], clinic["director"], first_day=yesterday)
    planned = course.planned_sessions.order_by("number")
    first = planned[0]
    session = give_session(first, ended_at=local(slc, yesterday, "11:00"))
    types = {t.key: t for t in appointment_types_for(slc)}
    return {**clinic, "course": course, "session": session, "types": types}


def integration_type(location: Any) -> AppointmentType:
    return next(t for t in appointment_types_for(location) if t.key == "integration")
