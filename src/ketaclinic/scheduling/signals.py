"""A new location opens with chairs (from its chair count) and default opening hours, so
it can be booked at once; a director then sets its real hours and rooms."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from ketaclinic.organization.models import Location


@receiver(post_save, sender=Location, dispatch_uid="scheduling_location_prepare")
def location_created(sender: type[Location], instance: Location, created: bool, **_: Any) -> None:
    if created:
        from ketaclinic.scheduling.services import location_prepare

        location_prepare(instance)
