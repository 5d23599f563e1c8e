"""A new location opens with chairs (from its chair count) and default opening hours, so
it can be booked at once; a director then sets its real hours and rooms. A course that
ends gives up its bookings."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from ketaclinic.organization.models import Location
from ketaclinic.scheduling.services import course_bookings_cancel, location_prepare
from ketaclinic.treatment.models import TreatmentCourse
from ketaclinic.treatment.signals import course_ended


@receiver(post_save, sender=Location, dispatch_uid="scheduling_location_prepare")
def location_created(sender: type[Location], instance: Location, created: bool, **_: Any) -> None:
    if created:
        location_prepare(instance)


@receiver(course_ended, sender=TreatmentCourse, dispatch_uid="scheduling_course_ended")
def course_ended_cancel_bookings(
    sender: type[TreatmentCourse], course: TreatmentCourse, actor: Any, reason: str, **_: Any
) -> None:
    course_bookings_cancel(actor=actor, course=course, reason=reason)
