"""Scheduling fixtures: the `clinic` fixture's staff with working hours and licenses."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from django.utils import timezone

from ketaclinic.organization.models import Location
from ketaclinic.scheduling.models import ProviderLicense, Resource, ResourceKind, WorkingHours
from ketaclinic.scheduling.selectors import appointment_types_for
from ketaclinic.scheduling.services import appointment_types_seed_defaults


def next_weekday(weekday: int = 1, *, weeks_ahead: int = 1) -> date:
    """A date `weeks_ahead` weeks from now that falls on `weekday` (Monday = 0)."""
    today = timezone.localdate()
    days = (weekday - today.weekday()) % 7 + 7 * weeks_ahead
    return today + timedelta(days=days)


def at(location: Location, day: date, hhmm: str) -> datetime:
    """`day` at local wall-clock `hhmm` in the location's time zone (aware)."""
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=location.tz)


@pytest.fixture
def schedule(clinic: dict[str, Any]) -> dict[str, Any]:
    """Working hours Mon-Fri 07:00-19:00 for the SLC nurse and prescriber and for the
    director at both locations; licenses: the prescriber in Utah only, the director in Utah
    and Idaho (expiring in two years). Returns the clinic plus the appointment types by key,
    SLC's chairs and room."""
    slc, boise = clinic["slc"], clinic["boise"]
    # Transactional tests flush what migrations created; put the defaults back.
    appointment_types_seed_defaults()
    spans = [
        (clinic["prescriber"], slc),
        (clinic["nurse"], slc),
        (clinic["director"], slc),
        (clinic["director"], boise),
        (clinic["nurse_boise"], boise),
    ]
    WorkingHours.objects.bulk_create(
        WorkingHours(
            provider=user, location=location, weekday=d, starts_at=time(7), ends_at=time(19)
        )
        for user, location in spans
        for d in range(5)
    )
    expires = timezone.localdate() + timedelta(days=730)
    for user, state, number in [
        (clinic["prescriber"], "UT", "UT-MD-1001"),
        (clinic["director"], "UT", "UT-MD-2002"),
        (clinic["director"], "ID", "ID-M-3003"),
    ]:
        ProviderLicense.objects.create(
            provider=user,
            state=state,
            kind="MD",
            number=number,
            expires_on=expires,
            recorded_by=clinic["admin"],
        )
    return {
        **clinic,
        "types": {t.key: t for t in appointment_types_for(slc)},
        "chairs": list(Resource.objects.filter(location=slc, kind=ResourceKind.CHAIR)),
        "room": Resource.objects.get(location=slc, kind=ResourceKind.ROOM),
    }
