"""Scheduling URLs, one module per part: the public front door, the request queue, the
calendars and bookings, and the scheduling settings."""

from ketaclinic.scheduling import (
    urls_calendar,
    urls_changes,
    urls_public,
    urls_requests,
    urls_settings,
)

app_name = "scheduling"

urlpatterns = [
    *urls_public.urlpatterns,
    *urls_requests.urlpatterns,
    *urls_calendar.urlpatterns,
    *urls_settings.urlpatterns,
    *urls_changes.urlpatterns,
]
