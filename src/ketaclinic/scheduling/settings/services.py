"""Scheduling settings: appointment types (clinic defaults and per-location versions), chairs
and rooms, opening hours and closed days, providers' working hours and their licenses.

Every write here checks the `scheduling.configure` capability and the location, runs in one
transaction and leaves an audit entry (no patient_id: these are the clinic's settings, not
anyone's record). Bad input raises ValidationError naming the problem, and nothing changes.
Existing appointments are never moved by a settings change: the booking rules apply the new
settings to the next booking (clinical/booking.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, time

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.selectors import locations_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.booking import BookingError, WeeklyHours
from ketaclinic.eligibility.models import Route
from ketaclinic.organization.models import Location
from ketaclinic.scheduling.models import (
    WEEKDAY_CHOICES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    ClosedDay,
    LicenseKind,
    OpeningHours,
    ProviderLicense,
    Resource,
    ResourceKind,
    WorkingHours,
)
from ketaclinic.scheduling.selectors import appointment_types_for, providers_at
from ketaclinic.scheduling.services import lock_bookings

CAPABILITY = "scheduling.configure"
WEEKDAY_NAMES = dict(WEEKDAY_CHOICES)

Week = Mapping[int, Sequence[tuple[time, time]]]
"""Weekday (Monday = 0) -> local wall-clock (start, end) spans; a missing day is closed."""


def _require(actor: User, location: Location | None = None) -> None:
    if not actor.can(CAPABILITY):
        raise PermissionDenied(f"Your role may not do this ({CAPABILITY}).")
    if location is not None and not locations_for(actor).filter(pk=location.pk).exists():
        raise PermissionDenied("You can only set up your own locations.")


@contextmanager
def _saved_once(message: str) -> Iterator[None]:
    """One transaction. When a unique constraint refuses (two people saving the same thing
    at the same moment; the checks before it saw nothing), a clear message, not an error."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        raise ValidationError(message) from error


def day_text(day: date) -> str:
    """'Tue 3 Mar' (with the year when it is not this year)."""
    text = f"{day:%a} {day.day} {day:%b}"
    return text if day.year == timezone.localdate().year else f"{text} {day.year}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# --- appointment types ------------------------------------------------------------------


@dataclass(frozen=True)
class TypeSettings:
    """What a director may change on an appointment type (the key never changes: bookings,
    courses and overrides find the type by it)."""

    name: str
    duration_minutes: int
    needs: str
    in_person: bool
    telehealth: bool
    needs_provider: bool
    treatment_route: str
    reminder_hours_before: int
    patient_instructions: str
    instructions_source: str
    is_active: bool


TYPE_FIELDS = tuple(TypeSettings.__dataclass_fields__)


def _type_problems(location: Location | None, key: str, values: TypeSettings) -> dict[str, str]:
    """Each field's problem, in the clinic's words (empty when the type makes sense)."""
    problems: dict[str, str] = {}
    if not values.name.strip():
        problems["name"] = "Give the type a name."
    elif len(values.name.strip()) > 80:
        problems["name"] = "Keep the name to 80 characters."
    if len(values.instructions_source) > 300:
        problems["instructions_source"] = "Keep the source to 300 characters."
    if not 5 <= values.duration_minutes <= 600:
        problems["duration_minutes"] = "A visit lasts between 5 and 600 minutes."
    if not 0 <= values.reminder_hours_before <= 24 * 14:
        problems["reminder_hours_before"] = "Remind between 0 and 336 hours (14 days) before."
    if values.needs not in AppointmentType.Needs.values:
        problems["needs"] = "Choose a treatment chair, a consultation room, or neither."
    elif not (values.in_person or values.telehealth):
        problems["in_person"] = "Tick in person, video, or both."
    elif values.needs and not values.in_person:
        # A video visit takes no chair or room (services._validate_plan), so such a type
        # could never be booked.
        what = "chair" if values.needs == AppointmentType.Needs.CHAIR else "room"
        problems["needs"] = f"A type that needs a {what} must be bookable in person."
    if values.treatment_route and values.treatment_route not in Route.values:
        problems["treatment_route"] = "Choose IV ketamine, esketamine, or none."
    elif values.treatment_route:
        if values.needs != AppointmentType.Needs.CHAIR or not values.in_person:
            problems["treatment_route"] = (
                "Treatment sessions take place in a treatment chair, in person."
            )
        elif values.is_active and _route_taken(location, key, values.treatment_route):
            problems["treatment_route"] = (
                f"Another active type already books {values.treatment_route.replace('_', ' ')} "
                "sessions here; a course's sessions need exactly one."
            )
    if values.patient_instructions.strip() and not values.instructions_source.strip():
        problems["instructions_source"] = (
            "Say where the instructions come from (a guideline, the prescribing information, "
            "or the clinic's own policy)."
        )
    return problems


def _route_taken(location: Location | None, key: str, route: str) -> bool:
    """Another active type in effect at the location (or among the defaults) books `route`."""
    if location is None:
        rows = AppointmentType.objects.filter(location__isnull=True)
    else:
        rows = appointment_types_for(location)  # type: ignore[assignment]
    return any(t.key != key and t.is_active and t.treatment_route == route for t in rows)


def _snapshot(row: AppointmentType) -> dict[str, object]:
    return {name: getattr(row, name) for name in TYPE_FIELDS}


def appointment_type_save(
    *, actor: User, location: Location | None, key: str, values: TypeSettings
) -> AppointmentType:
    """Change an appointment type. With a location: that location's own version, created
    from the clinic default (every field copied, then the changes applied) the first time;
    the other locations keep the default. Without: the clinic default itself, which every
    location without its own version follows. Existing appointments keep their times."""
    _require(actor, location)
    problems = _type_problems(location, key, values)
    if problems:
        raise ValidationError(problems)
    with _saved_once("Someone saved this type at the same moment: reload the page and check."):
        default = AppointmentType.objects.filter(location__isnull=True, key=key).first()
        row = (
            default
            if location is None
            else AppointmentType.objects.select_for_update()
            .filter(location=location, key=key)
            .first()
        )
        created = False
        if row is None:
            if default is None:
                raise ValidationError(f"There is no appointment type '{key}'.")
            row = AppointmentType(
                **{
                    f.attname: getattr(default, f.attname)
                    for f in AppointmentType._meta.concrete_fields
                    if not f.primary_key
                }
            )
            row.location = location
            created = True
        before = _snapshot(row)
        for name in TYPE_FIELDS:
            setattr(row, name, getattr(values, name))
        row.name = row.name.strip()
        row.save()
        after = _snapshot(row)
        audit_record(
            actor=actor,
            action=AuditAction.CREATE if created else AuditAction.UPDATE,
            object_type="appointment_type",
            object_id=row.pk,
            detail={
                "key": key,
                "location_id": location.pk if location else None,
                "own_version_created": created,
                "changes": {n: [before[n], after[n]] for n in TYPE_FIELDS if before[n] != after[n]},
            },
        )
    return row


def appointment_type_reset(*, actor: User, location: Location, key: str) -> int:
    """Use the clinic default again at a location: its own version is removed. Appointments
    booked as that version are re-pointed to the default with the same key (their times,
    chairs and providers stay as booked; the audit entry keeps what the version said).
    Returns how many appointments were re-pointed."""
    _require(actor, location)
    with transaction.atomic():
        own = AppointmentType.objects.select_for_update().filter(location=location, key=key).first()
        default = AppointmentType.objects.filter(location__isnull=True, key=key).first()
        if own is None:
            raise ValidationError(f"{location.name} already uses the clinic default.")
        if default is None:
            raise ValidationError(
                f"{own.name} exists only at {location.name}: there is no clinic default to use."
            )
        moved = Appointment.objects.filter(appointment_type=own).update(appointment_type=default)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="appointment_type",
            object_id=own.pk,
            detail={
                "key": key,
                "location_id": location.pk,
                "own_version_removed": _snapshot(own),
                "default_id": default.pk,
                "appointments_repointed": moved,
            },
        )
        own.delete()
    return moved


# --- chairs and rooms -------------------------------------------------------------------


def _sync_chair_count(location: Location) -> None:
    """The chair board draws Location.chair_count columns (chairs 1..count), so it follows the
    highest active chair number. A deactivated chair below it still has its column there."""
    highest = (
        Resource.objects.filter(
            location=location, kind=ResourceKind.CHAIR, is_active=True
        ).aggregate(n=Max("number"))["n"]
        or 0
    )
    if location.chair_count != highest:
        Location.objects.filter(pk=location.pk).update(chair_count=highest)
        location.chair_count = highest


def _resource_label(kind: str) -> str:
    return "Chair" if kind == ResourceKind.CHAIR else "Room"


def resource_add(
    *, actor: User, location: Location, kind: str, number: int, name: str = ""
) -> Resource:
    """Add a chair or room; its number is unique per location and kind. Adding a chair keeps
    Location.chair_count (the chair board's columns) at the highest active chair number, in
    the same transaction."""
    _require(actor, location)
    if kind not in ResourceKind.values:
        raise ValidationError({"kind": "Choose a treatment chair or a consultation room."})
    if not 1 <= number <= 99:
        raise ValidationError({"number": "Number chairs and rooms from 1 to 99."})
    name = name.strip() or f"{_resource_label(kind)} {number}"
    with _saved_once(f"{_resource_label(kind)} {number} was just added by someone else."):
        taken = Resource.objects.filter(location=location, kind=kind, number=number).first()
        if taken is not None:
            raise ValidationError(
                {
                    "number": f"{location.short_name} already has {_resource_label(kind).lower()} "
                    f"{number} ({taken.name}{'' if taken.is_active else ', not in use'})."
                }
            )
        resource = Resource.objects.create(
            location=location, kind=kind, number=number, name=name[:60]
        )
        if kind == ResourceKind.CHAIR:
            _sync_chair_count(location)
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="resource",
            object_id=resource.pk,
            detail={"location_id": location.pk, "kind": kind, "number": number, "name": name},
        )
    return resource


def resource_rename(*, actor: User, resource: Resource, name: str) -> Resource:
    """Rename a chair or room (its number, on the board and in charts, stays)."""
    _require(actor, resource.location)
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give it a name, e.g. 'Chair 3 (window)'."})
    with transaction.atomic():
        before = resource.name
        resource.name = name[:60]
        resource.save(update_fields=["name"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="resource",
            object_id=resource.pk,
            detail={"name": [before, resource.name]},
        )
    return resource


def resource_set_active(*, actor: User, resource: Resource, active: bool) -> Resource:
    """Take a chair or room out of use, or back into use. Refused while it has booked visits
    that have not ended (they would keep a chair nobody can see); the message says how many
    and from when. Keeps Location.chair_count at the highest active chair number (the chair
    board's columns) in the same transaction."""
    location = resource.location
    _require(actor, location)
    with transaction.atomic():
        # Hold the booking lock so nobody books this chair between the check and the change.
        lock_bookings(location)
        resource = Resource.objects.select_for_update().get(pk=resource.pk)
        if resource.is_active == active:
            return resource
        if not active:
            ahead = Appointment.objects.filter(
                resource=resource, status=AppointmentStatus.BOOKED, ends_at__gt=timezone.now()
            ).aggregate(n=Count("id"), first=Min("starts_at"))
            if ahead["n"]:
                first = timezone.localtime(ahead["first"], location.tz).date()
                raise ValidationError(
                    f"{resource.name} has {_plural(ahead['n'], 'booked visit')} from "
                    f"{day_text(first)}; move them first."
                )
        resource.is_active = active
        resource.save(update_fields=["is_active"])
        if resource.kind == ResourceKind.CHAIR:
            _sync_chair_count(location)
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="resource",
            object_id=resource.pk,
            detail={"is_active": active, "chair_count": location.chair_count},
        )
    return resource


# --- opening hours, working hours, closed days ------------------------------------------


def _checked_week(location: Location, week: Week) -> dict[int, list[tuple[time, time]]]:
    """The week's spans, sorted, when each day's make sense (checked by the booking rules'
    own WeeklyHours, so what is saved is what bookings will be checked against)."""
    problems = []
    checked: dict[int, list[tuple[time, time]]] = {}
    for day in sorted(week):
        spans = sorted(week[day])
        if not spans:
            continue
        try:
            WeeklyHours(location.timezone, {day: tuple(spans)})
        except BookingError:
            name = WEEKDAY_NAMES.get(day, str(day))
            if any(end <= start for start, end in spans):
                problems.append(f"{name}: each span must close after it opens.")
            else:
                text = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in spans)
                problems.append(f"{name}: the spans overlap ({text}); one must end first.")
            continue
        checked[day] = spans
    if problems:
        raise ValidationError(problems)
    return checked


def _week_text(rows: Mapping[int, Sequence[tuple[time, time]]]) -> dict[str, str]:
    return {
        WEEKDAY_NAMES[d][:3]: ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in rows[d])
        for d in sorted(rows)
        if rows[d]
    }


def opening_hours_replace(*, actor: User, location: Location, week: Week) -> None:
    """Save a location's whole week of opening hours at once (the old rows are replaced in
    one transaction). Booked visits are not moved; the new hours apply to new bookings."""
    _require(actor, location)
    checked = _checked_week(location, week)
    with transaction.atomic():
        old = location.opening_hours.all()
        before: dict[int, list[tuple[time, time]]] = {}
        for row in old:
            before.setdefault(row.weekday, []).append((row.opens_at, row.closes_at))
        old.delete()
        OpeningHours.objects.bulk_create(
            OpeningHours(location=location, weekday=d, opens_at=a, closes_at=b)
            for d, spans in checked.items()
            for a, b in spans
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="opening_hours",
            object_id=location.pk,
            detail={"before": _week_text(before), "after": _week_text(checked)},
        )


def working_hours_replace(*, actor: User, provider: User, location: Location, week: Week) -> None:
    """Save a provider's whole week at one location (replacing the old rows in one
    transaction). Only providers who may be booked there (selectors.providers_at)."""
    _require(actor, location)
    if not providers_at(location).filter(pk=provider.pk).exists():
        raise ValidationError(f"{provider.display_name} is not booked at {location.name}.")
    checked = _checked_week(location, week)
    with transaction.atomic():
        old = WorkingHours.objects.filter(provider=provider, location=location)
        before: dict[int, list[tuple[time, time]]] = {}
        for row in old:
            before.setdefault(row.weekday, []).append((row.starts_at, row.ends_at))
        old.delete()
        WorkingHours.objects.bulk_create(
            WorkingHours(provider=provider, location=location, weekday=d, starts_at=a, ends_at=b)
            for d, spans in checked.items()
            for a, b in spans
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="working_hours",
            object_id=provider.pk,
            detail={
                "location_id": location.pk,
                "before": _week_text(before),
                "after": _week_text(checked),
            },
        )


def closed_day_add(*, actor: User, location: Location, day: date, reason: str) -> ClosedDay:
    """Close a location for a whole local day (a holiday, a staff day). Not in the past.
    Visits already booked that day stay booked: the page says how many to move."""
    _require(actor, location)
    reason = reason.strip()
    problems = {}
    if day < timezone.localdate(timezone=location.tz):
        problems["date"] = "That day has passed; a closed day is today or later."
    if not reason:
        problems["reason"] = "Say why, e.g. 'Thanksgiving' or 'Staff training'."
    if problems:
        raise ValidationError(problems)
    with _saved_once(f"{location.short_name} was just closed on {day_text(day)} by someone else."):
        taken = ClosedDay.objects.filter(location=location, date=day).first()
        if taken is not None:
            raise ValidationError(
                {
                    "date": f"{location.short_name} is already closed on {day_text(day)} "
                    f"({taken.reason})."
                }
            )
        closed = ClosedDay.objects.create(location=location, date=day, reason=reason[:120])
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="closed_day",
            object_id=closed.pk,
            detail={"location_id": location.pk, "date": day.isoformat(), "reason": closed.reason},
        )
    return closed


def closed_day_remove(*, actor: User, closed_day: ClosedDay) -> None:
    """Open the location again on a closed day (today or later; past ones stay on record)."""
    location = closed_day.location
    _require(actor, location)
    if closed_day.date < timezone.localdate(timezone=location.tz):
        raise ValidationError("A closed day that has passed stays on record.")
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="closed_day",
            object_id=closed_day.pk,
            detail={
                "location_id": location.pk,
                "removed": closed_day.date.isoformat(),
                "reason": closed_day.reason,
            },
        )
        closed_day.delete()


# --- provider licenses ------------------------------------------------------------------


def provider_license_add(
    *,
    actor: User,
    location: Location,
    provider: User,
    state: str,
    kind: str,
    number: str,
    expires_on: date,
) -> ProviderLicense:
    """Record a provider's license in a state (telehealth visits need one in the patient's
    state, active on the visit date: clinical/booking.py). One record per provider, state,
    kind and number; recorded_by is the person entering it."""
    _require(actor, location)
    number = number.strip()
    problems = {}
    if not providers_at(location).filter(pk=provider.pk).exists():
        problems["provider"] = f"{provider.display_name} is not booked at {location.name}."
    if kind not in LicenseKind.values:
        problems["kind"] = "Choose the kind of license."
    if not number:
        problems["number"] = "Enter the license number as the board shows it."
    if expires_on < timezone.localdate(timezone=location.tz):
        problems["expires_on"] = "This license has already expired; record the current one."
    if problems:
        raise ValidationError(problems)
    duplicate = f"{provider.display_name} already has {kind} license {number} in {state} on record."
    with _saved_once(duplicate):
        if ProviderLicense.objects.filter(
            provider=provider, state=state, kind=kind, number__iexact=number
        ).exists():
            raise ValidationError({"number": duplicate})
        license_ = ProviderLicense.objects.create(
            provider=provider,
            state=state,
            kind=kind,
            number=number,
            expires_on=expires_on,
            recorded_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="provider_license",
            object_id=license_.pk,
            detail={
                "provider_id": provider.pk,
                "state": state,
                "kind": kind,
                "number": number,
                "expires_on": expires_on.isoformat(),
            },
        )
    return license_


def provider_license_set_active(
    *, actor: User, location: Location, license_: ProviderLicense, active: bool
) -> ProviderLicense:
    """Mark a license suspended or surrendered (inactive), or active again. An inactive
    license no longer allows telehealth visits in its state (clinical/booking.py); visits
    already booked stay booked."""
    _require(actor, location)
    if not providers_at(location).filter(pk=license_.provider_id).exists():
        raise PermissionDenied("That provider is not booked at this location.")
    with transaction.atomic():
        license_ = ProviderLicense.objects.select_for_update().get(pk=license_.pk)
        if license_.is_active != active:
            license_.is_active = active
            license_.save(update_fields=["is_active"])
            audit_record(
                actor=actor,
                action=AuditAction.UPDATE,
                object_type="provider_license",
                object_id=license_.pk,
                detail={"is_active": active, "provider_id": license_.provider_id},
            )
    return license_
