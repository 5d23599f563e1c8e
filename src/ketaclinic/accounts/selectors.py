from __future__ import annotations

from typing import TYPE_CHECKING

from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest

from ketaclinic.organization.models import Location

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User

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


def locked_out_attempts() -> QuerySet[AccessAttempt]:
    """Accounts currently locked by django-axes (failures at or above the limit)."""
    return AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    ).order_by("-attempt_time")


def staff_users() -> QuerySet[User]:
    from ketaclinic.accounts.models import User

    return (
        User.objects.exclude(role="patient")
        .prefetch_related("locations")
        .order_by("role", "last_name", "username")
    )


def home_overview(user: User, *, location_id: int | None) -> dict[str, object]:
    """What a staff home page shows, in a fixed number of queries whatever the data size."""
    from django.db.models import Count

    from ketaclinic.audit.selectors import recent_audit_entries
    from ketaclinic.patients.models import Patient
    from ketaclinic.patients.selectors import patients_visible_to

    patients = patients_visible_to(user)
    if location_id is not None:
        patients = patients.filter(primary_location_id=location_id)
    overview: dict[str, object] = {
        "recent_patients": list(patients.order_by("-created_at", "-id")[:8]),
    }
    if user.sees_all_locations:
        # Count on the patient table's location index, then attach to the locations.
        counts = dict(
            Patient.objects.values_list("primary_location_id").annotate(n=Count("id")).order_by()
        )
        locations = list(Location.objects.order_by("name"))
        for location in locations:
            location.patient_count = counts.get(location.pk, 0)
        overview["locations"] = locations
        overview["recent_audit"] = list(recent_audit_entries(limit=10))
    if user.can("alerts.view_worklist"):
        from ketaclinic.measures.selectors import alert_summary, escalated_alerts, open_alerts_for

        overview["alert_summary"] = alert_summary(user, location_id=location_id)
        overview["open_alerts"] = list(open_alerts_for(user, location_id=location_id)[:8])
        if user.sees_all_locations:
            # Escalations reach the director whatever location the switcher shows.
            overview["escalated_alerts"] = list(escalated_alerts(user)[:10])
    if user.can("measures.manage_schedule"):
        from ketaclinic.measures.selectors import due_questionnaires, overdue_before

        overview["due"] = list(due_questionnaires(user, location_id=location_id)[:8])
        overview["overdue_before"] = overdue_before()
    if user.can("scheduling.requests"):
        from ketaclinic.scheduling.selectors_requests import open_request_count

        overview["open_requests"] = open_request_count(user, location_id=location_id)
    if user.can("accounts.manage_lockouts"):
        overview["locked_out"] = list(locked_out_attempts()[:10])
        overview["staff_count"] = staff_users().count()
    return overview
