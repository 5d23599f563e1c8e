"""Reads for the calendar. Each returns querysets whose query count does not grow with rows."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import CLINICAL
from ketaclinic.organization.models import Location
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.scheduling.models import Appointment, AppointmentType


def appointment_types_for(location: Location) -> list[AppointmentType]:
    """The active appointment types at a location: the clinic defaults, each replaced by the
    location's own row with the same key when there is one."""
    rows = AppointmentType.objects.filter(Q(location__isnull=True) | Q(location=location))
    chosen: dict[str, AppointmentType] = {}
    for row in rows:
        if row.key not in chosen or row.location_id is not None:
            chosen[row.key] = row
    return sorted((t for t in chosen.values() if t.is_active), key=lambda t: (t.sort_order, t.name))


def appointments_visible_to(user: User) -> QuerySet[Appointment]:
    """Appointments of the patients `user` may see (a patient: only their own)."""
    return Appointment.objects.filter(patient_scope(user, via="patient")).select_related(
        "appointment_type", "patient", "provider", "resource", "location"
    )


def providers_at(location: Location) -> QuerySet[User]:
    """Active clinical staff who may be booked at a location."""
    return (
        User.objects.filter(is_active=True, role__in=[r.value for r in CLINICAL])
        .filter(Q(locations=location) | Q(role__in=["medical_director"]))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
