"""Coordinators booking at the same moment never double-book a chair or a provider (real
threads, real connections; SQLite and PostgreSQL)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from ketaclinic.accounts.roles import Role
from ketaclinic.charting.tests.test_concurrency import _run_together
from ketaclinic.scheduling.models import Appointment, Resource, ResourceKind
from ketaclinic.scheduling.services import BookingRefused, appointment_book
from ketaclinic.scheduling.tests.conftest import at, next_weekday

pytestmark = pytest.mark.django_db(transaction=True)


def test_four_coordinators_booking_the_last_chair_at_once_book_it_once(
    schedule: dict[str, Any], make_user: Any, make_patient: Any
) -> None:
    slc = schedule["slc"]
    Resource.objects.filter(location=slc, kind=ResourceKind.CHAIR).exclude(number=1).update(
        is_active=False
    )
    start = at(slc, next_weekday(2), "09:00")
    coordinators = [make_user(Role.COORDINATOR, [slc]) for _ in range(4)]
    patients = [make_patient(slc, "Sim", f"Patient{n}") for n in range(4)]
    book = partial(
        appointment_book,
        appointment_type=schedule["types"]["iv-infusion"],
        location=slc,
        starts_at=start,
    )
    results, errors = _run_together(
        [
            partial(book, actor=coordinator, patient=patient)
            for coordinator, patient in zip(coordinators, patients, strict=True)
        ]
    )
    assert len(results) == 1
    assert len(errors) == 3 and all(isinstance(e, BookingRefused) for e in errors)
    assert all("Chair 1 is taken" in e.messages[0] for e in errors)
    assert Appointment.objects.filter(starts_at=start).count() == 1


def test_two_bookings_of_one_provider_at_once_book_one(
    schedule: dict[str, Any], make_patient: Any
) -> None:
    slc = schedule["slc"]
    start = at(slc, next_weekday(2), "13:00")
    book = partial(
        appointment_book,
        actor=schedule["coordinator"],
        appointment_type=schedule["types"]["follow-up"],
        location=slc,
        starts_at=start,
        provider=schedule["prescriber"],
        telehealth=True,
    )
    results, errors = _run_together(
        [partial(book, patient=make_patient(slc, "Twin", f"Number{n}")) for n in range(2)]
    )
    assert len(results) == 1 and len(errors) == 1
    assert "already booked" in errors[0].messages[0]
