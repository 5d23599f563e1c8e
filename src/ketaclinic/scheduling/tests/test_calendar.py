"""Calendar pages: the day grid (columns, quarter-hour rows in local time, blocks, free-slot
links, daylight-saving days), the week and provider views, who may open them, one audit
entry per page, and query counts that do not grow with appointments."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.selectors import LOCATION_SESSION_KEY
from ketaclinic.audit.models import AuditEntry
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentStatus,
    OpeningHours,
    Resource,
)
from ketaclinic.scheduling.services import appointment_book, appointment_cancel
from ketaclinic.scheduling.tests.conftest import at, next_weekday

pytestmark = pytest.mark.django_db


def bulk_appointments(
    s: dict[str, Any],
    day: date,
    count: int,
    *,
    provider: Any = None,
    patients: list[Any] | None = None,
    location: Any = None,
) -> list[Appointment]:
    """`count` appointments on `day` (bulk: the rules are not the subject here): chairs,
    the room and video visits in turn, quarter hours from 07:00, every seventh cancelled."""
    location = location or s["slc"]
    resources = list(Resource.objects.filter(location=location).order_by("kind", "number"))
    patients = patients or [s["patient_slc"]]
    kind = s["types"]["consultation"]
    rows = []
    for n in range(count):
        start = at(location, day, "07:00") + timedelta(minutes=15 * (n % 44))
        video = n % (len(resources) + 1) == len(resources)
        rows.append(
            Appointment(
                location=location,
                appointment_type=kind,
                patient=patients[n % len(patients)],
                provider=provider or s["prescriber"],
                resource=None if video else resources[n % len(resources)],
                telehealth=video,
                starts_at=start,
                ends_at=start + timedelta(minutes=30),
                status=AppointmentStatus.CANCELLED if n % 7 == 6 else AppointmentStatus.BOOKED,
                booked_by=s["coordinator"],
            )
        )
    return Appointment.objects.bulk_create(rows)


def _consult(s: dict[str, Any], day: date, hhmm: str, **overrides: Any) -> Appointment:
    arguments = {
        "actor": s["coordinator"],
        "patient": s["patient_slc"],
        "appointment_type": s["types"]["consultation"],
        "location": s["slc"],
        "starts_at": at(s["slc"], day, hhmm),
        "provider": s["prescriber"],
        **overrides,
    }
    return appointment_book(**arguments)


def _day_url(location: Any, day: date) -> str:
    return reverse("scheduling:calendar_day", args=[location.pk, day])


def _html(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def _slot_labels(html: str) -> list[str]:
    return re.findall(r'class="cal-time[^"]*" data-slot="[^"]+">([^<]+)</div>', html)


def _second_sunday_of_march_ahead() -> date:
    """The next spring-forward date in the US (second Sunday of March)."""
    year = timezone.localdate().year
    while True:
        first = date(year, 3, 1)
        day = first + timedelta(days=(6 - first.weekday()) % 7 + 7)
        if day > timezone.localdate():
            return day
        year += 1


def _first_sunday_of_november_ahead() -> date:
    year = timezone.localdate().year
    while True:
        first = date(year, 11, 1)
        day = first + timedelta(days=(6 - first.weekday()) % 7)
        if day > timezone.localdate():
            return day
        year += 1


def test_calendar_opens_today_at_the_users_chosen_location(schedule: dict, client: Client) -> None:
    client.force_login(schedule["coordinator"])
    response = client.get(reverse("scheduling:calendar"))
    today = timezone.localdate(timezone=schedule["slc"].tz)
    assert response.url == _day_url(schedule["slc"], today)
    client.force_login(schedule["director"])
    session = client.session
    session[LOCATION_SESSION_KEY] = schedule["boise"].pk
    session.save()
    response = client.get(reverse("scheduling:calendar"))
    assert response.url == _day_url(
        schedule["boise"], timezone.localdate(timezone=schedule["boise"].tz)
    )


def test_day_grid_columns_blocks_and_free_slot_links(schedule: dict, client: Client) -> None:
    s = schedule
    day = next_weekday(1)
    consult = _consult(s, day, "10:00")
    cancelled = _consult(s, day, "14:00")
    appointment_cancel(actor=s["coordinator"], appointment=cancelled, reason="Ill")
    client.force_login(s["coordinator"])
    html = _html(client, _day_url(s["slc"], day))

    headers = re.findall(r'class="cal-head gr-1 gc-\d+[^"]*">([^<]+)</div>', html)
    assert headers == [
        "Chair 1",
        "Chair 2",
        "Chair 3",
        "Chair 4",
        "Consultation room 1",
        "Video visits",
    ]
    labels = _slot_labels(html)
    assert labels[0] == "07:00" and labels[-1] == "18:45" and len(labels) == 48

    # The consultation is one block in the room column (5th column: grid column 6), from
    # the 10:00 row (13th slot: grid row 14) over 4 quarter hours, linking to its page.
    block = re.search(r'class="cal-block gr-14 gs-4 gc-6"[^>]*>(.*?)</div>', html, re.S)
    assert block is not None
    assert reverse("scheduling:appointment", args=[s["patient_slc"].pk, consult.pk]) in block[1]
    assert "Lovelace, Ada" in block[1] and "Consultation" in block[1]
    assert s["prescriber"].display_name in block[1]
    # The cancelled visit is no block, only counted.
    assert f'data-appointments="{cancelled.pk}"' not in html
    assert "1 cancelled" in html
    # A free quarter hour is a real link to the booking form, prefilled.
    chair = s["chairs"][0]
    link = (
        f"{reverse('scheduling:book')}?location={s['slc'].pk}&amp;start={day}T07:00"
        f"&amp;resource={chair.pk}"
    )
    assert f'href="{link}"' in html
    assert f"start={day}T10:00&amp;resource={s['room'].pk}" not in html  # taken
    assert f"start={day}T10:00&amp;telehealth=1" in html
    # Keyboard shortcuts: the script and the links it follows.
    assert "scheduling/calendar.js" in html
    for key in ("prev", "next", "today", "toggle"):
        assert f'data-calendar-key="{key}"' in html
    assert _day_url(s["slc"], day + timedelta(days=1)) in html


def test_past_and_closed_slots_are_not_links(schedule: dict, client: Client) -> None:
    s = schedule
    saturday = next_weekday(5)
    client.force_login(s["coordinator"])
    html = _html(client, _day_url(s["slc"], saturday))
    assert "closed on Saturdays" in html
    assert len(_slot_labels(html)) == 48  # 07:00-19:00 fallback
    assert f"resource={s['chairs'][0].pk}" not in html
    assert f"start={saturday}T09:00&amp;telehealth=1" in html  # video visits still bookable
    past = _html(client, _day_url(s["slc"], timezone.localdate() - timedelta(days=7)))
    assert "cal-free" not in past


def test_spring_forward_day_has_no_two_oclock_rows(schedule: dict, client: Client) -> None:
    """America/Denver: on the second Sunday of March 02:00-02:59 does not exist."""
    s = schedule
    day = _second_sunday_of_march_ahead()
    OpeningHours.objects.create(
        location=s["slc"], weekday=6, opens_at=time(0, 0), closes_at=time(6, 0)
    )
    chair = s["chairs"][0]
    start = datetime.combine(day, time(3, 0), tzinfo=s["slc"].tz)
    Appointment.objects.create(
        location=s["slc"],
        appointment_type=s["types"]["consultation"],
        patient=s["patient_slc"],
        resource=chair,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        booked_by=s["coordinator"],
    )
    client.force_login(s["coordinator"])
    html = _html(client, _day_url(s["slc"], day))
    labels = _slot_labels(html)
    assert labels[:8] == ["00:00", "00:15", "00:30", "00:45", "01:00", "01:15", "01:30", "01:45"]
    assert labels[8] == "03:00" and labels[-1] == "05:45"
    assert len(labels) == 20  # 6 wall-clock hours, 5 real ones
    assert not any(label.startswith("02:") for label in labels)
    # 03:00 MDT is the 9th row (grid row 10): one hour = 4 rows, first chair = grid column 2.
    assert 'class="cal-block gr-10 gs-4 gc-2"' in html
    assert f"start={day}T01:45&amp;resource={chair.pk}" in html


def test_fall_back_day_shows_the_repeated_hour_twice(schedule: dict, client: Client) -> None:
    s = schedule
    day = _first_sunday_of_november_ahead()
    OpeningHours.objects.create(
        location=s["slc"], weekday=6, opens_at=time(0, 0), closes_at=time(4, 0)
    )
    client.force_login(s["coordinator"])
    labels = _slot_labels(_html(client, _day_url(s["slc"], day)))
    assert len(labels) == 20  # 4 wall-clock hours, 5 real ones
    assert labels[4:9] == ["01:00 MDT", "01:15 MDT", "01:30 MDT", "01:45 MDT", "01:00 MST"]
    assert labels[-1] == "03:45"


def test_bad_dates_and_other_locations_are_not_found(schedule: dict, client: Client) -> None:
    s = schedule
    client.force_login(s["nurse_boise"])
    assert client.get(_day_url(s["slc"], next_weekday(1))).status_code == 404
    assert client.get(f"/calendar/{s['boise'].pk}/2026-02-30/").status_code == 404
    assert client.get(f"/calendar/{s['boise'].pk}/tomorrow/").status_code == 404
    assert client.get(f"/calendar/{s['boise'].pk}/week/2026-13-01/").status_code == 404
    week = reverse("scheduling:calendar_week", args=[s["slc"].pk, next_weekday(1)])
    assert client.get(week).status_code == 404
    assert client.get(_day_url(s["boise"], next_weekday(1))).status_code == 200


def test_anonymous_and_patient_users_cannot_open_calendars(schedule: dict, client: Client) -> None:
    s = schedule
    day = next_weekday(1)
    urls = [
        reverse("scheduling:calendar"),
        _day_url(s["slc"], day),
        reverse("scheduling:calendar_week", args=[s["slc"].pk, day]),
        reverse("scheduling:calendar_provider", args=[s["prescriber"].pk, day]),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response.url, url
    client.force_login(s["patient_user"])
    for url in urls:
        assert client.get(url).status_code == 403, url


def test_another_locations_patient_shows_only_as_busy(schedule: dict, client: Client) -> None:
    s = schedule
    day = next_weekday(1)
    grace = _consult(
        s, day, "09:00", actor=s["director"], patient=s["patient_boise"], provider=s["director"]
    )
    ada = _consult(s, day, "12:00")
    client.force_login(s["coordinator"])
    html = _html(client, _day_url(s["slc"], day))
    assert "Hopper" not in html and "Booked: a patient of another location" in html
    assert reverse("scheduling:appointment", args=[s["patient_boise"].pk, grace.pk]) not in html
    entry = AuditEntry.objects.filter(object_type="calendar").latest("sequence")
    assert entry.detail["patient_ids"] == [ada.patient_id]
    week = _html(client, reverse("scheduling:calendar_week", args=[s["slc"].pk, day]))
    assert "Hopper" not in week and "1 visit of other locations" in week


def test_each_calendar_page_writes_one_audit_entry_naming_its_patients(
    schedule: dict, client: Client, make_patient: Any
) -> None:
    s = schedule
    day = next_weekday(1)
    alan = make_patient(s["slc"], "Alan", "Turing")
    _consult(s, day, "09:00")
    _consult(s, day, "11:00", patient=alan)
    client.force_login(s["nurse"])
    urls = {
        "day": _day_url(s["slc"], day),
        "week": reverse("scheduling:calendar_week", args=[s["slc"].pk, day]),
        "provider": reverse("scheduling:calendar_provider", args=[s["prescriber"].pk, day]),
    }
    for page, url in urls.items():
        before = AuditEntry.objects.count()
        _html(client, url)
        assert AuditEntry.objects.count() == before + 1, page
        entry = AuditEntry.objects.latest("sequence")
        assert entry.object_type == "calendar" and entry.action == "view"
        assert entry.actor_id == s["nurse"].pk
        assert entry.detail["page"] == page
        if page == "day":
            assert entry.detail["location_id"] == s["slc"].pk
            assert entry.detail["date"] == day.isoformat()
        assert entry.detail["patient_ids"] == sorted([s["patient_slc"].pk, alan.pk])
    assert entry.detail["provider_id"] == s["prescriber"].pk
    assert entry.detail["date"] == (day - timedelta(days=day.weekday())).isoformat()


def test_week_view_lists_each_day_in_time_order(schedule: dict, client: Client) -> None:
    s = schedule
    tuesday = next_weekday(1)
    later = _consult(s, tuesday, "15:00")
    earlier = _consult(s, tuesday, "08:00")
    thursday = _consult(s, tuesday + timedelta(days=2), "10:00", telehealth=True)
    client.force_login(s["coordinator"])
    # Any day of the week opens the week from its Monday.
    html = _html(client, reverse("scheduling:calendar_week", args=[s["slc"].pk, tuesday]))
    monday = tuesday - timedelta(days=1)
    for n in range(7):
        assert _day_url(s["slc"], monday + timedelta(days=n)) in html
    order = [int(pk) for pk in re.findall(r'data-appointment="(\d+)"', html)]
    assert order == [earlier.pk, later.pk, thursday.pk]
    assert "Video" in html and "Consultation room 1" in html
    provider_week = reverse("scheduling:calendar_provider", args=[s["prescriber"].pk, monday])
    assert provider_week in html
    assert 'data-calendar-key="toggle"' in html


def test_provider_week_across_locations_with_working_hours(schedule: dict, client: Client) -> None:
    s = schedule
    day = next_weekday(1)
    slc_visit = _consult(s, day, "09:00", actor=s["director"], provider=s["director"])
    boise_visit = _consult(
        s,
        day + timedelta(days=1),
        "10:00",
        actor=s["director"],
        patient=s["patient_boise"],
        location=s["boise"],
        provider=s["director"],
    )
    url = reverse("scheduling:calendar_provider", args=[s["director"].pk, day])
    client.force_login(s["director"])
    html = _html(client, url)
    assert f'data-appointment="{slc_visit.pk}"' in html
    assert f'data-appointment="{boise_visit.pk}"' in html
    assert "SLC 07:00-19:00" in html and "Boise 07:00-19:00" in html
    # Boise's nurse may open the director (who works everywhere) but sees only Boise's patient.
    client.force_login(s["nurse_boise"])
    html = _html(client, url)
    assert f'data-appointment="{boise_visit.pk}"' in html
    assert f'data-appointment="{slc_visit.pk}"' not in html and "Lovelace" not in html
    assert "1 more visit with patients you do not see" in html


def test_who_may_open_a_providers_week(schedule: dict, client: Client) -> None:
    s = schedule
    day = next_weekday(1)

    def status(user: Any, provider: Any) -> int:
        client.force_login(user)
        return client.get(
            reverse("scheduling:calendar_provider", args=[provider.pk, day])
        ).status_code

    assert status(s["prescriber"], s["prescriber"]) == 200  # their own
    assert status(s["coordinator"], s["prescriber"]) == 200  # a provider of their location
    assert status(s["admin"], s["nurse_boise"]) == 200  # sees every location
    assert status(s["nurse_boise"], s["prescriber"]) == 404  # another location's provider
    assert status(s["nurse"], s["coordinator"]) == 404  # not a provider
    assert status(s["nurse"], s["patient_user"]) == 404


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


def test_query_counts_do_not_grow_with_appointments(
    schedule: dict, client: Client, make_patient: Any, django_assert_max_num_queries: Any
) -> None:
    s = schedule
    day = next_weekday(1)
    patients = [make_patient(s["slc"], "Many", f"Patient{n}") for n in range(5)]
    bulk_appointments(s, day, 10, patients=patients)
    client.force_login(s["coordinator"])
    urls = [
        _day_url(s["slc"], day),
        reverse("scheduling:calendar_week", args=[s["slc"].pk, day]),
        reverse("scheduling:calendar_provider", args=[s["prescriber"].pk, day]),
    ]
    small = {url: _queries(client, url) for url in urls}
    bulk_appointments(s, day, 490, patients=patients)
    bulk_appointments(s, day + timedelta(days=2), 500, patients=patients)
    assert Appointment.objects.count() == 1000
    for url in urls:
        with django_assert_max_num_queries(small[url]):
            response = client.get(url)
        assert response.status_code == 200
        assert _queries(client, url) == small[url], url
    html = _html(client, urls[0])
    assert html.count('class="cal-block ') >= 6  # every column drew its (overlapping) visits
