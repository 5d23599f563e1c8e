"""Scheduling URLs, one module per part: the public front door, the request queue, the
calendars and bookings, patients' change requests, and the scheduling settings."""

from ketaclinic.scheduling.calendar import urls as calendar_urls
from ketaclinic.scheduling.changes import urls as changes_urls
from ketaclinic.scheduling.public import urls as public_urls
from ketaclinic.scheduling.requests import urls as requests_urls
from ketaclinic.scheduling.settings import urls as settings_urls

app_name = "scheduling"

urlpatterns = [
    *public_urls.urlpatterns,
    *requests_urls.urlpatterns,
    *calendar_urls.urlpatterns,
    *settings_urls.urlpatterns,
    *changes_urls.urlpatterns,
]
