"""Reads for the calendars (day, week, provider) and the ICS feed.

Every function runs a fixed number of queries whatever the number of appointments. Times are
laid out in the location's own zone: the day grid steps through real (UTC) time in quarter
hours and labels each row with its local wall-clock time, so a daylight-saving day has 92 or
100 quarter hours, not 96.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import BooleanField, Case, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import CARING, Role
from ketaclinic.accounts.selectors import locations_for
from ketaclinic.organization.models import Location
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentStatus,
    Resource,
    ResourceKind,
    WorkingHours,
)
from ketaclinic.scheduling.selectors import appointments_visible_to

SLOT = timedelta(minutes=15)
FALLBACK_HOURS = (time(7, 0), time(19, 0))
"""Rows shown on a day the location is closed (ketaclinic default), so it can still be read."""

FEED_DAYS_BACK = 30
FEED_DAYS_AHEAD = 180


def calendar_location(user: User, location_id: int) -> Location:
    """The location, or 404 when it is not one of the user's."""
    location = locations_for(user).filter(pk=location_id).first()
    if location is None:
        raise Http404("No such location")
    return location


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _visibility(user: User) -> Case | Value:
    """True on appointments whose patient the user may see; the others show as busy only."""
    if user.sees_all_locations:
        return Value(True, output_field=BooleanField())
    return Case(
        When(patient_scope(user, via="patient"), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def _appointments(user: User, start: datetime, end: datetime) -> QuerySet[Appointment]:
    """Appointments overlapping [start, end), every status, each marked `patient_visible`."""
    return (
        Appointment.objects.filter(starts_at__lt=end, ends_at__gt=start)
        .select_related("appointment_type", "patient", "provider", "resource", "location")
        .annotate(patient_visible=_visibility(user))
        .order_by("starts_at", "id")
    )


def _not_booked(appointments: Iterable[Appointment]) -> list[tuple[str, int]]:
    """('cancelled', 2)-style counts of the visits that are no longer booked."""
    counts: dict[str, int] = {}
    for appointment in appointments:
        if not appointment.is_booked:
            label = appointment.get_status_display().lower()
            counts[label] = counts.get(label, 0) + 1
    return sorted(counts.items())


def shown_patient_ids(appointments: Iterable[Appointment]) -> list[int]:
    """Ids of the patients whose names a page shows (for its audit entry)."""
    return sorted(
        {a.patient_id for a in appointments if getattr(a, "patient_visible", True) and a.is_booked}
    )


# The day grid ---------------------------------------------------------------------------


@dataclass
class Slot:
    """One quarter-hour row: `starts_at` aware in the location's zone."""

    row: int
    starts_at: datetime
    label: str
    is_open: bool
    is_past: bool

    @property
    def param(self) -> str:
        """The local start as the booking form's `start` parameter."""
        return f"{self.starts_at:%Y-%m-%dT%H:%M}"

    @property
    def on_hour(self) -> bool:
        return self.starts_at.minute == 0


@dataclass
class Block:
    """Booked visits of one column that overlap each other (normally just one), drawn as
    one block across the rows they cover."""

    row: int
    span: int
    appointments: list[Appointment]


@dataclass
class Cell:
    """A free quarter hour of one column; `bookable` ones become links to the booking form."""

    row: int
    slot: Slot
    bookable: bool


@dataclass
class Column:
    index: int
    title: str
    resource: Resource | None = None
    telehealth: bool = False
    blocks: list[Block] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)


@dataclass
class DayCalendar:
    location: Location
    day: date
    slots: list[Slot]
    columns: list[Column]
    closed_reason: str
    opening_text: str
    not_booked: list[tuple[str, int]]
    appointments: list[Appointment]


def _floor(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return moment - timedelta(
        minutes=moment.minute % 15, seconds=moment.second, microseconds=moment.microsecond
    )


def _ceil(moment: datetime) -> datetime:
    floored = _floor(moment)
    return floored if floored == moment else floored + SLOT


def _slots(
    first: datetime,
    last: datetime,
    zone: ZoneInfo,
    spans: list[tuple[time, time]],
    now: datetime,
) -> list[Slot]:
    """Quarter hours from `first` to `last`, stepped in UTC (aware arithmetic in one zone
    would step wall-clock time and skip or double the daylight-saving hour)."""
    slots: list[Slot] = []
    moment = first.astimezone(UTC)
    while moment < last:
        local = moment.astimezone(zone)
        local_end = (moment + SLOT).astimezone(zone)
        is_open = local_end.date() == local.date() and any(
            opens <= local.time() and local_end.time() <= closes for opens, closes in spans
        )
        slots.append(Slot(len(slots), local, f"{local:%H:%M}", is_open, moment < now))
        moment += SLOT
    # The hour the clocks go back happens twice: name the zone so the rows can be told apart.
    labels = [slot.label for slot in slots]
    for slot in slots:
        if labels.count(slot.label) > 1:
            slot.label = f"{slot.label} {slot.starts_at.tzname()}"
    return slots


def _clusters(appointments: list[Appointment]) -> list[list[Appointment]]:
    """Group appointments (sorted by start) into runs that overlap one another."""
    clusters: list[list[Appointment]] = []
    cluster_end: datetime | None = None
    for appointment in appointments:
        if cluster_end is not None and appointment.starts_at < cluster_end:
            clusters[-1].append(appointment)
            cluster_end = max(cluster_end, appointment.ends_at)
        else:
            clusters.append([appointment])
            cluster_end = appointment.ends_at
    return clusters


def _resource_order(resource: Resource) -> tuple[int, int]:
    return (0 if resource.kind == ResourceKind.CHAIR else 1, resource.number)


def calendar_day(user: User, location: Location, day: date) -> DayCalendar:
    """A location's day: chairs, rooms and video visits as columns, quarter-hour rows over
    the opening hours (07:00-19:00 when closed), stretched to show any visit outside them."""
    zone = location.tz
    now = timezone.now()
    day_start, day_end = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
    closed = location.closed_days.filter(date=day).first()
    spans = [
        (row.opens_at, row.closes_at)
        for row in location.opening_hours.filter(weekday=day.weekday()).order_by("opens_at")
    ]
    if closed is not None:
        closed_reason = f"Closed: {closed.reason}"
        spans = []
    else:
        closed_reason = "" if spans else f"{location.name} is closed on {day:%A}s."
    opening_text = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in spans)
    shown = spans or [FALLBACK_HOURS]
    # Compared and stepped in UTC: aware datetimes sharing one zone compare by wall clock.
    day_start, day_end = day_start.astimezone(UTC), day_end.astimezone(UTC)
    first = datetime.combine(day, min(a for a, _ in shown), tzinfo=zone).astimezone(UTC)
    last = datetime.combine(day, max(b for _, b in shown), tzinfo=zone).astimezone(UTC)

    appointments = list(_appointments(user, day_start, day_end).filter(location=location))
    booked = [a for a in appointments if a.is_booked]
    if booked:
        first = max(min(first, _floor(min(a.starts_at for a in booked))), day_start)
        last = min(max(last, _ceil(max(a.ends_at for a in booked))), day_end)
    slots = _slots(first, last, zone, spans, now)

    resources = {r.pk: r for r in Resource.objects.filter(location=location, is_active=True)}
    for appointment in booked:
        # A chair taken out of use still shows the visits booked in it.
        if appointment.resource is not None:
            resources.setdefault(appointment.resource_id, appointment.resource)
    columns = [
        Column(0, r.name, resource=r) for r in sorted(resources.values(), key=_resource_order)
    ]
    columns.append(Column(0, "Video visits", telehealth=True))
    unplaced = [a for a in booked if a.resource_id is None and not a.telehealth]
    if unplaced:
        columns.append(Column(0, "No chair or room"))
    for index, column in enumerate(columns):
        column.index = index
        if column.resource is not None:
            mine = [a for a in booked if a.resource_id == column.resource.pk]
        elif column.telehealth:
            mine = [a for a in booked if a.telehealth]
        else:
            mine = unplaced
        _place(column, mine, slots, first)
    return DayCalendar(
        location=location,
        day=day,
        slots=slots,
        columns=columns,
        closed_reason=closed_reason,
        opening_text=opening_text,
        not_booked=_not_booked(appointments),
        appointments=appointments,
    )


def _place(
    column: Column, appointments: list[Appointment], slots: list[Slot], first: datetime
) -> None:
    """Blocks for the column's visits, free cells for the rest of its rows."""
    covered: set[int] = set()
    count = len(slots)
    for cluster in _clusters(appointments):
        start = min(a.starts_at for a in cluster)
        end = max(a.ends_at for a in cluster)
        row = max(0, min(count - 1, int((start - first) / SLOT)))
        end_row = max(row + 1, min(count, -int(-(end - first) // SLOT)))
        column.blocks.append(Block(row, end_row - row, cluster))
        covered.update(range(row, end_row))
    for slot in slots:
        if slot.row in covered:
            continue
        bookable = not slot.is_past and (column.telehealth or slot.is_open)
        if column.resource is None and not column.telehealth:
            bookable = False
        column.cells.append(Cell(slot.row, slot, bookable))


# Week views -----------------------------------------------------------------------------


@dataclass
class WeekDay:
    day: date
    appointments: list[Appointment]
    not_booked: list[tuple[str, int]]
    hidden: int = 0
    hours: list[WorkingHours] = field(default_factory=list)

    @property
    def booked(self) -> list[Appointment]:
        return [a for a in self.appointments if a.is_booked and a.patient_visible]


def _week(monday: date, appointments: list[Appointment]) -> list[WeekDay]:
    days = [WeekDay(monday + timedelta(days=n), [], []) for n in range(7)]
    by_day = {d.day: d for d in days}
    for appointment in appointments:
        local_day = appointment.starts_at.astimezone(appointment.location.tz).date()
        if local_day in by_day:
            by_day[local_day].appointments.append(appointment)
    for week_day in days:
        week_day.not_booked = _not_booked(week_day.appointments)
        week_day.hidden = sum(
            1 for a in week_day.appointments if a.is_booked and not a.patient_visible
        )
    return days


def calendar_week(user: User, location: Location, monday: date) -> list[WeekDay]:
    """A location's week from Monday, each day's visits in time order (local dates)."""
    zone = location.tz
    start, end = local_midnight(monday, zone), local_midnight(monday + timedelta(days=7), zone)
    appointments = list(
        _appointments(user, start, end).filter(location=location, starts_at__gte=start)
    )
    return _week(monday, appointments)


def calendar_provider(viewer: User, provider_id: int) -> User:
    """A provider the viewer may open: themselves, anyone for a director or an admin, else
    a clinician of one of the viewer's locations (directors work everywhere). 404 otherwise."""
    providers = User.objects.filter(
        pk=provider_id, is_active=True, role__in=[r.value for r in CARING]
    )
    if not viewer.sees_all_locations:
        providers = providers.filter(
            Q(pk=viewer.pk)
            | Q(locations__in=locations_for(viewer))
            | Q(role=Role.MEDICAL_DIRECTOR.value)
        ).distinct()
    provider = providers.first()
    if provider is None:
        raise Http404("No such provider")
    return provider


def calendar_provider_week(viewer: User, provider: User, monday: date) -> list[WeekDay]:
    """One provider's week across locations: each visit on its location's local date; the
    visits of patients the viewer may not see are only counted. With the provider's working
    hours for each weekday."""
    # Wide enough for every US zone; each visit is then placed by its own local date.
    start = datetime.combine(monday, time(0), tzinfo=UTC) - timedelta(hours=14)
    end = datetime.combine(monday + timedelta(days=7), time(0), tzinfo=UTC) + timedelta(hours=14)
    appointments = list(
        _appointments(viewer, start, end).filter(provider=provider, starts_at__gte=start)
    )
    days = _week(monday, appointments)
    hours = list(
        WorkingHours.objects.filter(provider=provider)
        .select_related("location")
        .order_by("weekday", "starts_at")
    )
    for week_day in days:
        week_day.hours = [h for h in hours if h.weekday == week_day.day.weekday()]
    return days


# The ICS feed -----------------------------------------------------------------------------


def feed_appointments(provider: User, now: datetime) -> list[Appointment]:
    """The provider's booked visits from FEED_DAYS_BACK days ago to FEED_DAYS_AHEAD ahead,
    of patients the provider may still see."""
    return list(
        appointments_visible_to(provider)
        .filter(
            provider=provider,
            status=AppointmentStatus.BOOKED,
            starts_at__gte=now - timedelta(days=FEED_DAYS_BACK),
            starts_at__lt=now + timedelta(days=FEED_DAYS_AHEAD),
        )
        .order_by("starts_at", "id")
    )
