from __future__ import annotations

from datetime import timedelta

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from ketaclinic.accounts.models import SignInFailure, User
from ketaclinic.audit.context import address_network
from ketaclinic.organization.models import Location

# How long a failed sign-in counts against the address it came from.
ADDRESS_WINDOW = timedelta(hours=24)

LOCATION_SESSION_KEY = "ketaclinic_location_id"


def locations_for(user: User) -> QuerySet[Location]:
    """Locations whose patients the user may see."""
    active = Location.objects.filter(is_active=True)
    if user.sees_all_locations:
        return active
    return active.filter(staff=user)


def current_location_id(request: HttpRequest, locations: list[Location]) -> int | None:
    """The location chosen in the switcher, if it is still one of the user's."""
    chosen = request.session.get(LOCATION_SESSION_KEY)
    if chosen and any(loc.pk == chosen for loc in locations):
        return int(chosen)
    return None


def chosen_location_id(request: HttpRequest) -> int | None:
    """The location picked in the switcher, or None (all of the user's locations).

    A stale choice (a location since removed from the user) counts as no choice, so a list
    never looks empty just because of an old session value.
    """
    chosen = request.session.get(LOCATION_SESSION_KEY)
    if chosen is None or not request.user.is_authenticated:
        return None
    return int(chosen) if locations_for(request.user).filter(pk=chosen).exists() else None


def location_asked_for(request: HttpRequest) -> tuple[Location | None, list[Location]]:
    """For a page about one location: the one named by ?location= (or a posted
    `location`), else the switcher's, else the user's first; and all of the user's. A
    location that is not the user's is a 404, so probing ids reveals nothing."""
    locations = list(locations_for(request.user).order_by("name"))
    wanted = request.GET.get("location") or request.POST.get("location") or ""
    if wanted:
        for location in locations:
            if str(location.pk) == wanted:
                return location, locations
        raise Http404("No such location")
    chosen = chosen_location_id(request)
    for location in locations:
        if location.pk == chosen:
            return location, locations
    return (locations[0] if locations else None), locations


def locked_out_attempts() -> QuerySet[AccessAttempt]:
    """Accounts currently locked by django-axes: failures at or above the limit, and, with a
    cool-off, the last failure within it (older lockouts have lifted themselves)."""
    attempts = AccessAttempt.objects.filter(failures_since_start__gte=settings.AXES_FAILURE_LIMIT)
    if settings.AXES_COOLOFF_TIME:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)
    return attempts.order_by("-attempt_time")


def signin_address_failures(address: str) -> int:
    """Failed sign-ins from this address's network in the last 24 hours."""
    return SignInFailure.objects.filter(
        network=address_network(address), failed_at__gte=timezone.now() - ADDRESS_WINDOW
    ).count()


def signin_address_throttled(address: str) -> bool:
    """True when sign-in from this address is paused: it made
    KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY failed sign-ins in the last 24 hours
    (0 turns the throttle off)."""
    limit = settings.KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY
    return limit > 0 and signin_address_failures(address) >= limit


def staff_users() -> QuerySet[User]:
    return (
        User.objects.exclude(role="patient")
        .prefetch_related("locations")
        .order_by("role", "last_name", "username")
    )
