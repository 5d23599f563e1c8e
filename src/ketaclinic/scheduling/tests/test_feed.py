"""The provider's ICS feed: a secret address kept only as a digest, exactly the provider's
booked visits in the window with initials only, reset invalidates the old address, one
audit entry per fetch, and a fixed number of queries."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, timedelta
from typing import Any

import icalendar
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.scheduling.models import Appointment, AppointmentStatus, CalendarFeed
from ketaclinic.scheduling.services import appointment_book, appointment_cancel
from ketaclinic.scheduling.tests.conftest import at, next_weekday
from ketaclinic.scheduling.tests.test_calendar import bulk_appointments

pytestmark = pytest.mark.django_db

FEED = "/calendar/feed/"


def _issue(client: Client, user: Any, **data: Any) -> str:
    """Create or reset the user's feed through the page; returns the token it shows."""
    client.force_login(user)
    response = client.post(FEED, data)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    match = re.search(
        r'value="http://testserver/calendar/feed/([A-Za-z0-9_-]+)\.ics"',
        (response.content.decode()),
    )
    assert match, "the new address is shown once"
    return match[1]


def _events(response: Any) -> dict[str, Any]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    calendar = icalendar.Calendar.from_ical(response.content)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def _book(s: dict[str, Any], day_offset: int, hhmm: str, **overrides: Any) -> Appointment:
    arguments = {
        "actor": s["coordinator"],
        "patient": s["patient_slc"],
        "appointment_type": s["types"]["consultation"],
        "location": s["slc"],
        "starts_at": at(s["slc"], next_weekday(1) + timedelta(days=day_offset), hhmm),
        "provider": s["prescriber"],
        **overrides,
    }
    return appointment_book(**arguments)


def _out_of_window(s: dict[str, Any]) -> list[Appointment]:
    today = timezone.localdate()
    old = bulk_appointments(s, today - timedelta(days=31), 1)
    late = bulk_appointments(s, today + timedelta(days=181), 1)
    recent = bulk_appointments(s, today - timedelta(days=29), 1)
    return [*old, *late, *recent]


def test_the_feed_holds_exactly_the_providers_booked_visits(schedule: dict, client: Client) -> None:
    s = schedule
    mine = _book(s, 0, "10:00")
    video = _book(s, 1, "09:00", telehealth=True)
    cancelled = _book(s, 2, "09:00")
    appointment_cancel(actor=s["coordinator"], appointment=cancelled, reason="Ill")
    _book(s, 0, "13:00", provider=s["nurse"])  # another provider's
    old, late, recent = _out_of_window(s)
    token = _issue(client, s["prescriber"])
    client.logout()  # a calendar app has no session

    events = _events(client.get(f"/calendar/feed/{token}.ics"))
    assert set(events) == {f"appointment-{a.pk}@ketaclinic" for a in (mine, video, recent)}
    event = events[f"appointment-{mine.pk}@ketaclinic"]
    assert str(event["SUMMARY"]) == "Consultation - A.L."
    assert event.decoded("DTSTART") == mine.starts_at.astimezone(UTC)
    assert event.decoded("DTSTART").tzinfo is not None
    assert "DTSTART:" in event.to_ical().decode() and "Z\r\n" in event.to_ical().decode()
    assert event.decoded("DTEND") == mine.ends_at.astimezone(UTC)
    assert "DTSTAMP" in event
    assert str(event["LOCATION"]) == f"SLC Clinic, {s['slc'].full_address}"
    assert str(events[f"appointment-{video.pk}@ketaclinic"]["LOCATION"]) == "Video visit"
    description = str(event["DESCRIPTION"])
    page = reverse("scheduling:appointment", args=[s["patient_slc"].pk, mine.pk])
    assert f"http://testserver{page}" in description
    body = client.get(f"/calendar/feed/{token}.ics").content.decode()
    for secret in ("Lovelace", "Ada", s["patient_slc"].mrn, "1980"):
        assert secret not in body
    assert old.pk and late.pk  # made, but outside the window


def test_a_fetch_is_noted_and_audited_without_the_token(schedule: dict, client: Client) -> None:
    s = schedule
    visit = _book(s, 0, "10:00")
    token = _issue(client, s["prescriber"])
    feed = CalendarFeed.objects.get(provider=s["prescriber"])
    assert feed.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in feed.token_digest and feed.last_used_at is None
    client.logout()
    before = AuditEntry.objects.count()
    client.get(f"/calendar/feed/{token}.ics")
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.latest("sequence")
    assert entry.actor_id == s["prescriber"].pk and entry.action == "view"
    assert entry.object_type == "calendar_feed"
    assert entry.detail == {"patient_ids": [visit.patient_id]}
    assert token not in entry.path and "[redacted]" in entry.path
    feed.refresh_from_db()
    assert feed.last_used_at is not None


def test_unknown_tokens_are_not_found(schedule: dict, client: Client) -> None:
    s = schedule
    _issue(client, s["prescriber"])
    client.logout()
    for token in ("nope", "x" * 43, "a" * 300):
        assert client.get(f"/calendar/feed/{token}.ics").status_code == 404
    digest = CalendarFeed.objects.get().token_digest
    assert client.get(f"/calendar/feed/{digest}.ics").status_code == 404  # the digest is no key


def test_reset_needs_confirmation_and_invalidates_the_old_address(
    schedule: dict, client: Client
) -> None:
    s = schedule
    old = _issue(client, s["prescriber"])
    html = client.get(FEED).content.decode()
    assert "Your feed is active" in html and old not in html  # shown once only
    response = client.post(FEED, {})
    assert "Tick the box to confirm the reset." in response.content.decode()
    assert client.get(f"/calendar/feed/{old}.ics").status_code == 200
    new = _issue(client, s["prescriber"], confirm="on")
    assert new != old
    assert client.get(f"/calendar/feed/{old}.ics").status_code == 404
    assert client.get(f"/calendar/feed/{new}.ics").status_code == 200
    assert CalendarFeed.objects.count() == 1


def test_only_providers_have_feeds(schedule: dict, client: Client) -> None:
    s = schedule
    response = client.get(FEED)
    assert response.status_code == 302 and "/login/" in response.url
    for user in ("coordinator", "admin", "patient_user"):
        client.force_login(s[user])
        assert client.get(FEED).status_code == 403
        assert client.post(FEED).status_code == 403
    assert not CalendarFeed.objects.exists()
    # A provider who loses the role loses the feed.
    token = _issue(client, s["nurse"])
    s["nurse"].is_active = False
    s["nurse"].save()
    assert client.get(f"/calendar/feed/{token}.ics").status_code == 404


def test_feed_queries_do_not_grow_with_appointments(
    schedule: dict, client: Client, make_patient: Any, django_assert_max_num_queries: Any
) -> None:
    s = schedule
    patients = [make_patient(s["slc"], "Many", f"Patient{n}") for n in range(5)]
    day = next_weekday(1)
    bulk_appointments(s, day, 10, patients=patients)
    token = _issue(client, s["prescriber"])
    client.logout()
    url = f"/calendar/feed/{token}.ics"
    with CaptureQueriesContext(connection) as small:
        assert len(_events(client.get(url))) == 9  # one of ten is cancelled
    bulk_appointments(s, day + timedelta(days=1), 490, patients=patients)
    with django_assert_max_num_queries(len(small)):
        events = _events(client.get(url))
    booked = Appointment.objects.filter(status=AppointmentStatus.BOOKED).count()
    assert len(events) == booked
