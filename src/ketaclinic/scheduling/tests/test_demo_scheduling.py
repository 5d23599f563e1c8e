"""The demo calendar: licenses in some states and not others, a week of bookings that obey
the booking rules, open requests and a change request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.clinical.booking import Booking, Interval
from ketaclinic.operations.demo import seed_demo
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentRequest,
    AppointmentStatus,
    ChangeRequest,
    ProviderLicense,
    RequestStatus,
)

pytestmark = pytest.mark.django_db


def test_the_demo_calendar_is_booked_by_the_rules() -> None:
    seed_demo(patients=30)
    prescriber = User.objects.get(username="prescriber")
    states = set(
        ProviderLicense.objects.filter(
            provider=prescriber, expires_on__gte=timezone.localdate()
        ).values_list("state", flat=True)
    )
    assert "UT" in states and "NV" not in states and "CA" not in states
    booked = list(Appointment.objects.filter(status=AppointmentStatus.BOOKED))
    week = timezone.now() + timedelta(days=8)
    assert len([a for a in booked if a.starts_at < week]) >= 10
    assert any(a.telehealth for a in booked) and any(a.planned_session_id for a in booked)
    # No chair, provider or patient is double-booked.
    bookings = [
        Booking(Interval(a.starts_at, a.ends_at), a.patient_id, a.provider_id, a.resource_id)
        for a in booked
    ]
    for i, one in enumerate(bookings):
        for other in bookings[i + 1 :]:
            if one.interval.overlaps(other.interval):
                assert one.patient_id != other.patient_id
                assert one.chair_id is None or one.chair_id != other.chair_id
                assert one.provider_id is None or one.provider_id != other.provider_id
    assert (
        AppointmentRequest.objects.filter(
            status__in=[RequestStatus.NEW, RequestStatus.CONTACTING]
        ).count()
        >= 5
    )
    assert ChangeRequest.objects.filter(handled_at__isnull=True).count() == 1
