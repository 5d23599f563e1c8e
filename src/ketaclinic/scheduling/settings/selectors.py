"""Reads for the scheduling settings pages. Each costs a fixed number of queries, however
many types, chairs, providers or licenses there are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.organization.models import Location
from ketaclinic.scheduling.models import (
    WEEKDAY_CHOICES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    ClosedDay,
    OpeningHours,
    ProviderLicense,
    Resource,
    WorkingHours,
)
from ketaclinic.scheduling.selectors import providers_at, weekly_hours
from ketaclinic.scheduling.settings.services import TYPE_FIELDS, Week

# A license expiring within this many days is flagged so it can be renewed in time
# (ketaclinic default: state boards' renewal windows are typically 60-90 days).
LICENSE_WARNING_DAYS = 60


@dataclass(frozen=True)
class TypeRow:
    """An appointment type as it applies at a location (or a clinic default)."""

    type: AppointmentType
    own: bool  # the location's own version, not the clinic default
    differs: tuple[str, ...]  # what the own version changes from the default (field names)
    own_at: tuple[str, ...]  # for a default: the locations that have their own version


def types_at(location: Location | None) -> list[TypeRow]:
    """Every appointment type in effect at `location`, inactive ones too (so they can be
    switched back on): the default, or the location's own version with the same key. For
    None, the clinic defaults with the locations that override each. One query."""
    if location is None:
        # Every row: the defaults, and each location's own versions to name them.
        rows = list(AppointmentType.objects.select_related("location"))
    else:
        rows = list(AppointmentType.objects.filter(Q(location__isnull=True) | Q(location=location)))
    defaults = {t.key: t for t in rows if t.location_id is None}
    result: list[TypeRow] = []
    if location is None:
        own_at: dict[str, list[str]] = {}
        for t in rows:
            if t.location_id is not None:
                own_at.setdefault(t.key, []).append(t.location.short_name)
        result = [
            TypeRow(t, False, (), tuple(sorted(own_at.get(t.key, [])))) for t in defaults.values()
        ]
    else:
        chosen = dict(defaults)
        for t in rows:
            if t.location_id is not None:
                chosen[t.key] = t
        for t in chosen.values():
            default = defaults.get(t.key)
            own = t.location_id is not None
            differs = (
                tuple(
                    str(AppointmentType._meta.get_field(n).verbose_name)
                    for n in TYPE_FIELDS
                    if getattr(t, n) != getattr(default, n)
                )
                if own and default is not None
                else ()
            )
            result.append(TypeRow(t, own, differs, ()))
    return sorted(result, key=lambda r: (r.type.sort_order, r.type.name))


def type_at(location: Location | None, key: str) -> TypeRow | None:
    """One type as it applies at `location` (see types_at)."""
    return next((row for row in types_at(location) if row.type.key == key), None)


def resources_of(location: Location) -> QuerySet[Resource]:
    return Resource.objects.filter(location=location).order_by("kind", "number")


def opening_week(location: Location) -> Week:
    """Weekday -> (opens, closes) spans, local wall-clock time."""
    rows = OpeningHours.objects.filter(location=location).values_list(
        "weekday", "opens_at", "closes_at"
    )
    return weekly_hours(location.timezone, rows).days


def working_week(provider: User, location: Location) -> Week:
    rows = WorkingHours.objects.filter(provider=provider, location=location).values_list(
        "weekday", "starts_at", "ends_at"
    )
    return weekly_hours(location.timezone, rows).days


def week_lines(week: Week) -> list[tuple[str, str]]:
    """[("Monday", "07:00-12:00, 13:00-19:00"), ("Saturday", "Closed"), ...]."""
    return [
        (name, ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in week.get(day, [])) or "Closed")
        for day, name in WEEKDAY_CHOICES
    ]


def closed_days_ahead(location: Location) -> QuerySet[ClosedDay]:
    """Closed days from today (local) on, soonest first."""
    today = timezone.localdate(timezone=location.tz)
    return ClosedDay.objects.filter(location=location, date__gte=today).order_by("date")


def booked_on(location: Location, day: date) -> int:
    """How many visits are booked at the location on a local day (to move after closing)."""
    start = datetime.combine(day, time(), tzinfo=location.tz)
    return Appointment.objects.filter(
        location=location,
        status=AppointmentStatus.BOOKED,
        starts_at__gte=start,
        starts_at__lt=start + timedelta(days=1),
    ).count()


@dataclass(frozen=True)
class ProviderWeek:
    provider: User
    lines: list[tuple[str, str]]
    has_hours: bool


def provider_weeks(location: Location, providers: list[User]) -> list[ProviderWeek]:
    """Each provider's week at the location, in one query for all of them."""
    rows: dict[int, list[tuple[int, time, time]]] = {}
    for provider_id, day, start, end in WorkingHours.objects.filter(
        location=location, provider__in=[p.pk for p in providers]
    ).values_list("provider_id", "weekday", "starts_at", "ends_at"):
        rows.setdefault(provider_id, []).append((day, start, end))
    return [
        ProviderWeek(
            p, week_lines(weekly_hours(location.timezone, rows.get(p.pk, [])).days), p.pk in rows
        )
        for p in providers
    ]


def licenses_at(location: Location) -> QuerySet[ProviderLicense]:
    """Every license of the providers booked at the location, by provider, state and expiry."""
    return (
        ProviderLicense.objects.filter(provider__in=providers_at(location).values("pk"))
        .select_related("provider", "recorded_by")
        .order_by(
            "provider__last_name", "provider__first_name", "provider_id", "state", "-expires_on"
        )
    )


@dataclass(frozen=True)
class LicenseRow:
    license: ProviderLicense
    expired: bool
    days_left: int | None  # set when it expires within LICENSE_WARNING_DAYS


def license_rows(licenses: list[ProviderLicense], today: date) -> list[LicenseRow]:
    rows = []
    for lic in licenses:
        left = (lic.expires_on - today).days
        rows.append(LicenseRow(lic, left < 0, left if 0 <= left <= LICENSE_WARNING_DAYS else None))
    return rows


def license_warnings(location: Location) -> tuple[int, int]:
    """(expired, expiring within LICENSE_WARNING_DAYS) among active licenses at the location."""
    today = timezone.localdate(timezone=location.tz)
    active = licenses_at(location).filter(is_active=True).order_by()
    expired = active.filter(expires_on__lt=today).count()
    soon = active.filter(
        expires_on__gte=today, expires_on__lte=today + timedelta(days=LICENSE_WARNING_DAYS)
    ).count()
    return expired, soon
