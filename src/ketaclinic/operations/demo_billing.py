"""The demo's billing, dated relative to `now`: every location gets the packaged example
fee schedule (marked as examples to set); a Salt Lake City patient with an IV course has
an accepted estimate (signed on paper) with a three-month plan and a first payment; and
the portal demo patient has an estimate waiting for them to accept in the portal."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.billing.services import (
    estimate_prepare,
    estimate_record_signed_copy,
    estimate_send,
    fee_schedule_copy_defaults,
    payment_record,
)
from ketaclinic.organization.models import Location
from ketaclinic.treatment.models import TreatmentCourse


def _active_courses() -> list[TreatmentCourse]:
    return list(
        TreatmentCourse.objects.exclude(phase=TreatmentCourse.Phase.ENDED)
        .filter(location__short_name="SLC", protocol__data__route="iv_ketamine")
        .select_related("patient__primary_location", "location", "protocol")
        .order_by("pk")
    )


def seed_billing(*, now: datetime) -> None:
    """The demo's billing stories, dated relative to `now`."""
    director = User.objects.filter(username="director").first()
    coordinator = User.objects.filter(username="coordinator").first()
    if director is None or coordinator is None:
        return
    for location in Location.objects.order_by("pk"):
        fee_schedule_copy_defaults(actor=director, location=location)
    portal_user = User.objects.filter(username="patient").select_related("patient").first()
    portal_patient = portal_user.patient if portal_user else None
    courses = _active_courses()
    paying = next((c for c in courses if c.patient != portal_patient), None)
    if paying is not None:
        today = timezone.localdate(now, timezone=paying.location.tz)
        estimate = estimate_prepare(
            actor=coordinator,
            patient=paying.patient,
            course=paying,
            include_consultation=True,
            instalment_count=3,
            first_due_date=max(today, timezone.localdate(timezone=paying.location.tz)),
            note="Example fees. Three monthly payments; the first is taken today.",
        )
        estimate = estimate_send(actor=coordinator, estimate=estimate)
        estimate = estimate_record_signed_copy(actor=coordinator, estimate=estimate)
        payment_record(
            actor=coordinator,
            patient=paying.patient,
            amount=estimate.instalments.order_by("number")[0].amount,
            method="card",
            reference="DEMO-RCPT-0001",
        )
    if portal_patient is None:
        return
    # The portal patient has no course yet: their estimate is for the consultation and
    # integration sessions, or for their course when a later story plans one.
    portal_course = (
        TreatmentCourse.objects.filter(patient=portal_patient)
        .exclude(phase=TreatmentCourse.Phase.ENDED)
        .order_by("pk")
        .first()
    )
    location = portal_patient.primary_location
    tz = location.tz
    first_due = max(
        timezone.localdate(now + timedelta(days=7), timezone=tz), timezone.localdate(timezone=tz)
    )
    # The coordinator works at SLC; elsewhere the director prepares it.
    at_site = coordinator.locations.filter(pk=location.pk).exists()
    preparer = coordinator if at_site else director
    estimate = estimate_prepare(
        actor=preparer,
        patient=portal_patient,
        course=portal_course,
        include_consultation=True,
        integration_sessions=4,
        instalment_count=2,
        first_due_date=first_due,
        note="Example fees: the clinic sets its own.",
    )
    estimate_send(actor=preparer, estimate=estimate)
