"""Scheduling reads shared by its pages and services: the appointment types at a location,
weekly hours, a course's sessions still to book, visible appointments, bookable providers.
Each takes a fixed number of queries whatever the number of rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time

from django.db.models import Q, QuerySet

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import CARING
from ketaclinic.clinical.booking import WeeklyHours
from ketaclinic.organization.models import Location
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.scheduling.models import Appointment, AppointmentStatus, AppointmentType
from ketaclinic.treatment.models import PlannedSession, TreatmentCourse


def appointment_types_resolve(
    rows: Iterable[AppointmentType], location_id: int
) -> list[AppointmentType]:
    """The active types at one location among `rows` (defaults and any locations' own rows):
    each clinic default replaced by the location's own row with the same key. No query, so a
    page listing several locations loads every row once."""
    chosen: dict[str, AppointmentType] = {}
    for row in rows:
        if row.location_id not in (None, location_id):
            continue
        if row.key not in chosen or row.location_id is not None:
            chosen[row.key] = row
    return sorted((t for t in chosen.values() if t.is_active), key=lambda t: (t.sort_order, t.name))


def appointment_types_for(location: Location) -> list[AppointmentType]:
    """The active appointment types at a location: the clinic defaults, each replaced by the
    location's own row with the same key when there is one."""
    rows = AppointmentType.objects.filter(Q(location__isnull=True) | Q(location=location))
    return appointment_types_resolve(rows, location.pk)


def weekly_hours(
    tz: str, rows: Iterable[tuple[int, time, time]], closed_dates: Iterable[date] = ()
) -> WeeklyHours:
    """Opening or working hours from (weekday, start, end) rows in local wall-clock time;
    `.days` gives each weekday's spans in order (a weekday without rows is closed)."""
    days: dict[int, list[tuple[time, time]]] = {}
    for day, start, end in rows:
        days.setdefault(day, []).append((start, end))
    return WeeklyHours(tz, {d: tuple(spans) for d, spans in days.items()}, frozenset(closed_dates))


def course_sessions_to_book(course: TreatmentCourse, now: datetime) -> QuerySet[PlannedSession]:
    """A course's planned sessions that still need booking: not yet begun, not checked in,
    and without a live (booked) appointment; in session order."""
    return (
        PlannedSession.objects.filter(
            course=course, starts_at__gte=now, treatment_session__isnull=True
        )
        .exclude(appointments__status=AppointmentStatus.BOOKED)
        .order_by("number")
    )


def appointments_visible_to(user: User) -> QuerySet[Appointment]:
    """Appointments of the patients `user` may see (a patient: only their own)."""
    return Appointment.objects.filter(patient_scope(user, via="patient")).select_related(
        "appointment_type", "patient", "provider", "resource", "location"
    )


def providers_at(location: Location) -> QuerySet[User]:
    """Active clinical staff and therapists who may be booked at a location."""
    return (
        User.objects.filter(is_active=True, role__in=[r.value for r in CARING])
        .filter(Q(locations=location) | Q(role__in=["medical_director"]))
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
