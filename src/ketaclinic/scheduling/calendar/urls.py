"""URLs: calendars, booking, one appointment, a course's sessions, the ICS feed (see
views.py)."""

from __future__ import annotations

from datetime import date

from django.urls import URLPattern, path, register_converter

from ketaclinic.scheduling.calendar import views as views


class CalendarDateConverter:
    """YYYY-MM-DD as a date; an impossible date (2026-02-30) matches nothing, so 404."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> date:
        return date.fromisoformat(value)  # ValueError: no match

    def to_url(self, value: date | str) -> str:
        return value.isoformat() if isinstance(value, date) else str(value)


register_converter(CalendarDateConverter, "calendar_date")

APPOINTMENT = "patients/<int:patient_id>/appointments/<int:appointment_id>/"

urlpatterns: list[URLPattern] = [
    path("calendar/", views.calendar_home, name="calendar"),
    path("calendar/book/", views.book, name="book"),
    path("calendar/feed/", views.calendar_feed, name="calendar_feed"),
    path("calendar/feed/<str:token>.ics", views.calendar_feed_ics, name="calendar_feed_ics"),
    path(
        "calendar/provider/<int:provider_id>/<calendar_date:day>/",
        views.calendar_provider_view,
        name="calendar_provider",
    ),
    path(
        "calendar/<int:location_id>/week/<calendar_date:day>/",
        views.calendar_week_view,
        name="calendar_week",
    ),
    path(
        "calendar/<int:location_id>/<calendar_date:day>/",
        views.calendar_day_view,
        name="calendar_day",
    ),
    path(APPOINTMENT, views.appointment, name="appointment"),
    path(f"{APPOINTMENT}reschedule/", views.appointment_reschedule, name="appointment_reschedule"),
    path(f"{APPOINTMENT}cancel/", views.appointment_cancel, name="appointment_cancel"),
    path(f"{APPOINTMENT}no-show/", views.appointment_no_show, name="appointment_no_show"),
    path(
        "patients/<int:patient_id>/courses/<int:course_id>/book-sessions/",
        views.course_book,
        name="course_book",
    ),
]
