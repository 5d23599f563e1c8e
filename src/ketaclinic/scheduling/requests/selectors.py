"""Reads for the public front door (where and when the clinic sees people, which states
video visits reach) and for the coordinator's request queue. Each read takes a fixed
number of queries whatever the number of requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time, timedelta

from django.db.models import Case, CharField, Count, OuterRef, Q, QuerySet, Subquery, Value, When
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import CLINICAL
from ketaclinic.clinical.search import name_key
from ketaclinic.organization.models import STATE_CHOICES, Location, Organization
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.scheduling.models import (
    WEEKDAY_CHOICES,
    AppointmentRequest,
    AppointmentType,
    ClosedDay,
    ContactAttempt,
    ProviderLicense,
    RequestStatus,
)
from ketaclinic.scheduling.selectors import appointment_types_resolve, weekly_hours

OPEN_STATUSES = (RequestStatus.NEW, RequestStatus.CONTACTING)
# The queue's filters: what the coordinator works on by default, then each status, then all.
STATUS_FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "open": ("Open", tuple(OPEN_STATUSES)),
    **{status.value: (status.label, (status.value,)) for status in RequestStatus},
    "all": ("All", tuple(RequestStatus.values)),
}
UPCOMING_CLOSED_DAYS = 8


# --- the public front door --------------------------------------------------------------


@dataclass(frozen=True)
class LocationFacts:
    """What the public page says about one location."""

    location: Location
    week: list[tuple[str, list[tuple[time, time]]]]  # (weekday name, open spans) Mon..Sun
    closed_days: list[ClosedDay]
    in_person: list[AppointmentType]
    video: list[AppointmentType]


def public_locations() -> list[Location]:
    """The active locations, by name."""
    return list(Location.objects.filter(is_active=True).order_by("name"))


def location_facts() -> list[LocationFacts]:
    """Every active location with its weekly opening hours (stored in local time), its
    upcoming closed days (from today in its own time zone) and the services it offers."""
    # A day's margin: "today" differs by time zone; each location's own today is applied below.
    since = timezone.localdate() - timedelta(days=1)
    locations = list(
        Location.objects.filter(is_active=True).prefetch_related("opening_hours").order_by("name")
    )
    closed: dict[int, list[ClosedDay]] = {}
    for day in ClosedDay.objects.filter(location__in=locations, date__gte=since).order_by("date"):
        closed.setdefault(day.location_id, []).append(day)
    # Every location's types in one query, each location's resolved as appointment_types_for.
    type_rows = list(
        AppointmentType.objects.filter(Q(location__isnull=True) | Q(location__in=locations))
    )
    facts = []
    for location in locations:
        hours = weekly_hours(
            location.timezone,
            ((r.weekday, r.opens_at, r.closes_at) for r in location.opening_hours.all()),
        )
        today = timezone.localdate(timezone=location.tz)
        types = appointment_types_resolve(type_rows, location.pk)
        facts.append(
            LocationFacts(
                location=location,
                week=[(name, list(hours.days.get(day, ()))) for day, name in WEEKDAY_CHOICES],
                closed_days=[d for d in closed.get(location.pk, []) if d.date >= today][
                    :UPCOMING_CLOSED_DAYS
                ],
                in_person=[t for t in types if t.in_person],
                video=[t for t in types if t.telehealth],
            )
        )
    return facts


def telehealth_states(on: date | None = None) -> list[tuple[str, str]]:
    """(code, name) of the states where the clinic can see people by video: at least one
    active provider who sees patients holds an active license there that has not expired.
    Telehealth follows the patient's state of residence (clinical/booking.py)."""
    on = on or timezone.localdate()
    codes = set(
        ProviderLicense.objects.filter(
            is_active=True,
            expires_on__gte=on,
            provider__is_active=True,
            provider__role__in=[role.value for role in CLINICAL],
        ).values_list("state", flat=True)
    )
    return [(code, name) for code, name in STATE_CHOICES if code in codes]


def clinic_phone() -> str:
    """The number the public is told to call: the organization's, else the first active
    location's."""
    organization = Organization.objects.order_by("pk").first()
    if organization and organization.phone:
        return organization.phone
    location = Location.objects.filter(is_active=True).order_by("name").first()
    return location.phone if location else ""


# --- the coordinator's queue ------------------------------------------------------------


def requests_visible_to(user: User) -> QuerySet[AppointmentRequest]:
    """Requests a user may work: staff with the capability see those preferring one of
    their locations plus the video (no-location) ones; directors see all."""
    requests = AppointmentRequest.objects.all()
    if not user.is_authenticated or not user.can("scheduling.requests"):
        return requests.none()
    if user.sees_all_locations:
        return requests
    location_ids = list(user.locations.values_list("pk", flat=True))
    return requests.filter(
        Q(preferred_location_id__in=location_ids) | Q(preferred_location__isnull=True)
    )


def _at_location(
    requests: QuerySet[AppointmentRequest], location_id: int | None
) -> QuerySet[AppointmentRequest]:
    """Narrowed to the location chosen in the switcher (video requests belong to every one)."""
    if location_id is None:
        return requests
    return requests.filter(
        Q(preferred_location_id=location_id) | Q(preferred_location__isnull=True)
    )


def request_queue(
    user: User, *, status: str = "open", location_id: int | None = None
) -> QuerySet[AppointmentRequest]:
    """The requests in a queue filter (STATUS_FILTERS), oldest first, each with its number
    of contact attempts and the last attempt's outcome (label included)."""
    statuses = STATUS_FILTERS.get(status, STATUS_FILTERS["open"])[1]
    requests = _at_location(requests_visible_to(user).filter(status__in=statuses), location_id)
    last = ContactAttempt.objects.filter(request=OuterRef("pk")).order_by("-made_at", "-id")
    return (
        requests.select_related("preferred_location")
        .annotate(
            attempt_count=Count("contact_attempts"),
            last_outcome=Subquery(last.values("outcome")[:1]),
            last_attempt_at=Subquery(last.values("made_at")[:1]),
        )
        .annotate(
            last_outcome_label=Case(
                *[
                    When(last_outcome=value, then=Value(label))
                    for value, label in ContactAttempt.Outcome.choices
                ],
                default=Value(""),
                output_field=CharField(),
            )
        )
        .order_by("submitted_at", "id")
    )


def open_request_count(user: User, *, location_id: int | None = None) -> int:
    """How many requests wait for the user (new or being contacted): for the home page."""
    return _at_location(
        requests_visible_to(user).filter(status__in=OPEN_STATUSES), location_id
    ).count()


def request_get_for_user(user: User, request_id: int) -> AppointmentRequest:
    """The request, or 404 when it does not exist or is not the user's to work (404, not
    403, so probing ids says nothing about other locations)."""
    found = (
        requests_visible_to(user)
        .select_related("preferred_location", "patient", "handled_by")
        .filter(pk=request_id)
        .first()
    )
    if found is None:
        raise Http404("No such request")
    return found


def request_attempts(appointment_request: AppointmentRequest) -> list[ContactAttempt]:
    return list(appointment_request.contact_attempts.select_related("made_by"))


def request_matches(
    user: User, appointment_request: AppointmentRequest
) -> tuple[QuerySet[Patient], int]:
    """Existing patients who may be the person who sent the request: the same normalized
    first and last name and the same date of birth. Returns the matches the user may see and
    how many more exist at locations the user cannot see (reported without details)."""
    same = Patient.objects.filter(
        first_name_key=name_key(appointment_request.first_name),
        last_name_key=name_key(appointment_request.last_name),
        date_of_birth=appointment_request.date_of_birth,
    )
    visible = same.filter(patient_scope(user)).select_related("primary_location")
    elsewhere = same.count() - visible.count()
    return visible, elsewhere
