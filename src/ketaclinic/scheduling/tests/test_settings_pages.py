"""Scheduling settings through the web client: only directors and administrators get in;
each write lands where it should (a location's own appointment type, chairs and the chair
board's count, whole weeks of hours, closed days, licenses) with an audit entry, and bad
input is refused with a message and changes nothing. Page query counts do not grow."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketaclinic.accounts.roles import Role
from ketaclinic.audit.models import AuditEntry
from ketaclinic.scheduling.models import (
    AppointmentType,
    ClosedDay,
    OpeningHours,
    ProviderLicense,
    Resource,
    ResourceKind,
    WorkingHours,
)
from ketaclinic.scheduling.selectors import appointment_types_for
from ketaclinic.scheduling.services import appointment_book
from ketaclinic.scheduling.settings import services as services_settings
from ketaclinic.scheduling.tests.conftest import at, next_weekday

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _text(response: Any) -> str:
    return response.content.decode()


def _audits(object_type: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_type=object_type))


def _type_data(kind: AppointmentType, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": kind.name,
        "duration_minutes": kind.duration_minutes,
        "needs": kind.needs,
        "treatment_route": kind.treatment_route,
        "reminder_hours_before": kind.reminder_hours_before,
        "patient_instructions": kind.patient_instructions,
        "instructions_source": kind.instructions_source,
    }
    for flag in ("in_person", "telehealth", "needs_provider", "is_active"):
        if getattr(kind, flag):
            data[flag] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _week_data(week: dict[int, list[tuple[str, str]]]) -> dict[str, str]:
    data = {}
    for day in range(7):
        for i in range(3):
            start, end = week.get(day, [])[i] if i < len(week.get(day, [])) else ("", "")
            data[f"d{day}_{i}_start"] = start
            data[f"d{day}_{i}_end"] = end
    return data


def _urls(s: dict[str, Any]) -> list[str]:
    slc = s["slc"].pk
    return [
        reverse("scheduling:settings"),
        reverse("scheduling:settings_location", args=[slc]),
        reverse("scheduling:settings_types", args=[slc]),
        reverse("scheduling:settings_defaults"),
        reverse("scheduling:settings_type_edit", args=[slc, "consultation"]),
        reverse("scheduling:settings_default_type_edit", args=["consultation"]),
        reverse("scheduling:settings_resources", args=[slc]),
        reverse("scheduling:settings_resource_rename", args=[slc, s["chairs"][0].pk]),
        reverse("scheduling:settings_hours", args=[slc]),
        reverse("scheduling:settings_providers", args=[slc]),
        reverse("scheduling:settings_provider_hours", args=[slc, s["nurse"].pk]),
        reverse("scheduling:settings_licenses", args=[slc]),
    ]


# --- who gets in ------------------------------------------------------------------------


def test_only_directors_and_administrators_get_in(schedule: dict[str, Any]) -> None:
    for url in _urls(schedule):
        assert Client().get(url).status_code == 302, url
        assert "/accounts/login/" in Client().get(url)["Location"]
        for role in ("coordinator", "nurse", "prescriber", "patient_user"):
            assert _client(schedule[role]).get(url).status_code == 403, (role, url)
        for role in ("director", "admin"):
            response = _client(schedule[role]).get(url, follow=True)
            assert response.status_code == 200, (role, url)
    missing = reverse("scheduling:settings_location", args=[999_999])
    assert _client(schedule["director"]).get(missing).status_code == 404


def test_refused_roles_change_nothing_and_services_check_too(schedule: dict[str, Any]) -> None:
    slc, chair = schedule["slc"], schedule["chairs"][-1]
    url = reverse("scheduling:settings_resource_active", args=[slc.pk, chair.pk])
    assert _client(schedule["nurse"]).post(url, {"active": "0"}).status_code == 403
    assert Client().post(url, {"active": "0"}).status_code == 302
    chair.refresh_from_db()
    assert chair.is_active
    with pytest.raises(PermissionDenied):
        services_settings.resource_add(
            actor=schedule["coordinator"], location=slc, kind="chair", number=9
        )
    assert not Resource.objects.filter(number=9).exists()


# --- appointment types ------------------------------------------------------------------


def test_a_type_edited_at_one_location_gets_its_own_version_and_can_go_back(
    schedule: dict[str, Any],
) -> None:
    slc, boise = schedule["slc"], schedule["boise"]
    default = AppointmentType.objects.get(location__isnull=True, key="consultation")
    client = _client(schedule["director"])
    url = reverse("scheduling:settings_type_edit", args=[slc.pk, "consultation"])
    response = client.post(url, _type_data(default, duration_minutes=45))
    assert response.status_code == 302
    own = AppointmentType.objects.get(location=slc, key="consultation")
    assert own.duration_minutes == 45
    assert own.patient_instructions == default.patient_instructions  # copied from the default
    default.refresh_from_db()
    assert default.duration_minutes == 60
    at_slc = {t.key: t for t in appointment_types_for(slc)}["consultation"]
    at_boise = {t.key: t for t in appointment_types_for(boise)}["consultation"]
    assert (at_slc.pk, at_boise.pk) == (own.pk, default.pk)
    entry = _audits("appointment_type")[-1]
    assert entry.patient_id is None
    assert entry.detail["own_version_created"] is True
    assert entry.detail["changes"] == {"duration_minutes": [60, 45]}

    # A second edit changes the same row.
    client.post(url, _type_data(own, duration_minutes=50))
    assert AppointmentType.objects.filter(location=slc, key="consultation").count() == 1

    reset = reverse("scheduling:settings_type_reset", args=[slc.pk, "consultation"])
    page = client.get(reset)
    assert "differs in: duration minutes" in _text(page)
    assert AppointmentType.objects.filter(location=slc).exists()  # GET only asks
    assert client.post(reset).status_code == 302
    assert not AppointmentType.objects.filter(location=slc, key="consultation").exists()
    assert {t.key: t for t in appointment_types_for(slc)}["consultation"].pk == default.pk
    assert _audits("appointment_type")[-1].detail["own_version_removed"]["duration_minutes"] == 50


def test_resetting_moves_its_appointments_to_the_default(schedule: dict[str, Any]) -> None:
    slc = schedule["slc"]
    default = schedule["types"]["consultation"]
    own = services_settings.appointment_type_save(
        actor=schedule["director"],
        location=slc,
        key="consultation",
        values=services_settings.TypeSettings(
            **{**{n: getattr(default, n) for n in services_settings.TYPE_FIELDS}, "name": "Intake"}
        ),
    )
    booked = appointment_book(
        actor=schedule["coordinator"],
        patient=schedule["patient_slc"],
        appointment_type=own,
        location=slc,
        starts_at=at(slc, next_weekday(1), "10:00"),
        provider=schedule["prescriber"],
    )
    moved = services_settings.appointment_type_reset(
        actor=schedule["director"], location=slc, key="consultation"
    )
    booked.refresh_from_db()
    assert (moved, booked.appointment_type_id) == (1, default.pk)


@pytest.mark.parametrize(
    ("key", "changes", "message"),
    [
        ("iv-infusion", {"in_person": None, "telehealth": "on"}, "must be bookable in person"),
        ("consultation", {"in_person": None, "telehealth": None}, "Tick in person, video"),
        ("consultation", {"duration_minutes": "700"}, "less than or equal to 600"),
        ("consultation", {"duration_minutes": "3"}, "greater than or equal to 5"),
        ("consultation", {"treatment_route": "iv_ketamine"}, "treatment chair, in person"),
        ("esketamine", {"treatment_route": "iv_ketamine"}, "Another active type"),
        ("consultation", {"instructions_source": ""}, "Say where the instructions come from"),
    ],
)
def test_a_type_that_makes_no_sense_is_refused_and_nothing_saved(
    schedule: dict[str, Any], key: str, changes: dict[str, Any], message: str
) -> None:
    slc = schedule["slc"]
    default = AppointmentType.objects.get(location__isnull=True, key=key)
    url = reverse("scheduling:settings_type_edit", args=[slc.pk, key])
    response = _client(schedule["director"]).post(
        url, _type_data(default, name="Typed name kept", **changes)
    )
    assert response.status_code == 200
    assert message in _text(response)
    assert 'value="Typed name kept"' in _text(response)
    assert not AppointmentType.objects.filter(location=slc).exists()
    assert not _audits("appointment_type")


def test_a_clinic_default_is_edited_for_every_location_without_its_own(
    schedule: dict[str, Any],
) -> None:
    default = AppointmentType.objects.get(location__isnull=True, key="follow-up")
    url = reverse("scheduling:settings_default_type_edit", args=["follow-up"])
    client = _client(schedule["director"])
    assert client.post(url, _type_data(default, reminder_hours_before="48")).status_code == 302
    default.refresh_from_db()
    assert default.reminder_hours_before == 48
    assert not AppointmentType.objects.filter(location__isnull=False).exists()
    types = client.get(reverse("scheduling:settings_types", args=[schedule["boise"].pk]))
    assert "Clinic default" in _text(types)


# --- chairs and rooms -------------------------------------------------------------------


def test_a_chair_with_booked_visits_stays_in_use_and_the_board_follows_the_others(
    schedule: dict[str, Any],
) -> None:
    slc = schedule["slc"]
    chair2, chair4 = schedule["chairs"][1], schedule["chairs"][3]
    day = next_weekday(1)
    for hhmm in ("08:00", "12:00"):
        appointment_book(
            actor=schedule["coordinator"],
            patient=schedule["patient_slc"],
            appointment_type=schedule["types"]["iv-infusion"],
            location=slc,
            starts_at=at(slc, day, hhmm),
            resource=chair2,
        )
    client = _client(schedule["director"])
    active = reverse("scheduling:settings_resource_active", args=[slc.pk, chair2.pk])
    page = client.post(active, {"active": "0"}, follow=True)
    first = f"{day:%a} {day.day} {day:%b}"
    assert f"Chair 2 has 2 booked visits from {first}" in _text(page)
    assert "move them first" in _text(page)
    chair2.refresh_from_db()
    assert chair2.is_active
    assert not _audits("resource")

    client.post(
        reverse("scheduling:settings_resource_active", args=[slc.pk, chair4.pk]), {"active": "0"}
    )
    chair4.refresh_from_db()
    slc.refresh_from_db()
    assert (chair4.is_active, slc.chair_count) == (False, 3)

    add = reverse("scheduling:settings_resources", args=[slc.pk])
    assert client.post(add, {"kind": "chair", "number": "6", "name": ""}).status_code == 302
    slc.refresh_from_db()
    assert slc.chair_count == 6
    assert Resource.objects.get(location=slc, kind="chair", number=6).name == "Chair 6"

    duplicate = client.post(add, {"kind": "chair", "number": "4", "name": "Typed chair"})
    assert "already has chair 4" in _text(duplicate)
    assert 'value="Typed chair"' in _text(duplicate)
    assert Resource.objects.filter(location=slc, kind="chair").count() == 5

    client.post(
        reverse("scheduling:settings_resource_active", args=[slc.pk, chair4.pk]), {"active": "1"}
    )
    slc.refresh_from_db()
    assert slc.chair_count == 6
    assert [e.detail.get("is_active") for e in _audits("resource")] == [False, None, True]
    assert all(e.patient_id is None for e in _audits("resource"))


def test_a_chair_is_renamed_and_another_locations_chair_is_not_found(
    schedule: dict[str, Any],
) -> None:
    slc, boise = schedule["slc"], schedule["boise"]
    chair = schedule["chairs"][0]
    client = _client(schedule["director"])
    url = reverse("scheduling:settings_resource_rename", args=[slc.pk, chair.pk])
    assert client.post(url, {"name": "Chair 1 (window)"}).status_code == 302
    chair.refresh_from_db()
    assert chair.name == "Chair 1 (window)"
    elsewhere = reverse("scheduling:settings_resource_rename", args=[boise.pk, chair.pk])
    assert client.get(elsewhere).status_code == 404


# --- opening hours and closed days ------------------------------------------------------


def _opening(location: Any) -> list[tuple[int, time, time]]:
    return list(
        OpeningHours.objects.filter(location=location).values_list(
            "weekday", "opens_at", "closes_at"
        )
    )


def test_a_week_of_opening_hours_is_saved_whole_or_not_at_all(schedule: dict[str, Any]) -> None:
    slc = schedule["slc"]
    before = _opening(slc)
    client = _client(schedule["director"])
    url = reverse("scheduling:settings_hours", args=[slc.pk])

    overlap = _week_data({0: [("08:00", "12:00"), ("11:00", "17:00")], 1: [("08:00", "17:00")]})
    response = client.post(url, overlap)
    assert response.status_code == 200
    assert "Monday: the spans overlap (08:00-12:00, 11:00-17:00)" in _text(response)
    assert 'value="11:00"' in _text(response)
    assert _opening(slc) == before

    backwards = client.post(url, _week_data({2: [("17:00", "08:00")]}))
    assert "The end must be after the start" in _text(backwards)
    half = client.post(url, _week_data({2: [("08:00", "")]}))
    assert "Give both times, or neither" in _text(half)
    assert _opening(slc) == before
    assert not _audits("opening_hours")

    good = _week_data({0: [("13:00", "17:00"), ("08:00", "12:00")], 5: [("09:00", "12:00")]})
    assert client.post(url, good).status_code == 302
    assert _opening(slc) == [
        (0, time(8), time(12)),
        (0, time(13), time(17)),
        (5, time(9), time(12)),
    ]
    entry = _audits("opening_hours")[-1]
    assert entry.detail["after"] == {"Mon": "08:00-12:00, 13:00-17:00", "Sat": "09:00-12:00"}
    assert entry.patient_id is None


def test_closed_days_are_today_or_later_and_removed_after_confirming(
    schedule: dict[str, Any],
) -> None:
    slc = schedule["slc"]
    client = _client(schedule["director"])
    add = reverse("scheduling:settings_closed_day_add", args=[slc.pk])
    yesterday = timezone.localdate(timezone=slc.tz) - timedelta(days=1)
    past = client.post(add, {"date": yesterday.isoformat(), "reason": "Typed reason"})
    assert past.status_code == 200
    assert "That day has passed" in _text(past)
    assert 'value="Typed reason"' in _text(past)
    assert not ClosedDay.objects.exists()

    day = next_weekday(3, weeks_ahead=2)
    assert (
        client.post(add, {"date": day.isoformat(), "reason": "Staff training"}).status_code == 302
    )
    again = client.post(add, {"date": day.isoformat(), "reason": "Twice"})
    assert "already closed on" in _text(again)
    closed = ClosedDay.objects.get()

    remove = reverse("scheduling:settings_closed_day_remove", args=[slc.pk, closed.pk])
    assert "Staff training" in _text(client.get(remove))
    assert ClosedDay.objects.exists()
    assert client.post(remove).status_code == 302
    assert not ClosedDay.objects.exists()
    assert [e.action for e in _audits("closed_day")] == ["create", "update"]


def test_a_providers_week_is_saved_and_only_for_providers_at_the_location(
    schedule: dict[str, Any],
) -> None:
    slc, nurse = schedule["slc"], schedule["nurse"]
    client = _client(schedule["director"])
    url = reverse("scheduling:settings_provider_hours", args=[slc.pk, nurse.pk])
    assert client.post(url, _week_data({1: [("09:00", "15:00")]})).status_code == 302
    rows = list(
        WorkingHours.objects.filter(provider=nurse, location=slc).values_list(
            "weekday", "starts_at", "ends_at"
        )
    )
    assert rows == [(1, time(9), time(15))]
    assert _audits("working_hours")[-1].object_id == str(nurse.pk)
    other = reverse("scheduling:settings_provider_hours", args=[slc.pk, schedule["nurse_boise"].pk])
    assert client.get(other).status_code == 404


# --- licenses ---------------------------------------------------------------------------


def test_a_license_is_recorded_once_with_who_recorded_it(schedule: dict[str, Any]) -> None:
    slc, prescriber = schedule["slc"], schedule["prescriber"]
    client = _client(schedule["admin"])
    url = reverse("scheduling:settings_licenses", args=[slc.pk])
    expires = (timezone.localdate() + timedelta(days=400)).isoformat()
    data = {"provider": prescriber.pk, "state": "UT", "kind": "MD", "expires_on": expires}
    duplicate = client.post(url, {**data, "number": "ut-md-1001"})
    assert duplicate.status_code == 200
    assert "already has MD license ut-md-1001 in UT on record" in _text(duplicate)
    assert ProviderLicense.objects.filter(provider=prescriber).count() == 1

    assert client.post(url, {**data, "state": "NV", "number": "NV-22"}).status_code == 302
    added = ProviderLicense.objects.get(state="NV")
    assert added.recorded_by == schedule["admin"]
    assert _audits("provider_license")[-1].patient_id is None

    active = reverse("scheduling:settings_license_active", args=[slc.pk, added.pk])
    client.post(active, {"active": "0"})
    added.refresh_from_db()
    assert not added.is_active
    assert "Suspended" in _text(client.get(url))


def test_expired_and_expiring_licenses_are_flagged(schedule: dict[str, Any]) -> None:
    slc, today = schedule["slc"], timezone.localdate()
    for number, days in (("SOON-1", 10), ("OLD-1", -3)):
        ProviderLicense.objects.create(
            provider=schedule["nurse"],
            state="UT",
            kind="RN",
            number=number,
            expires_on=today + timedelta(days=days),
            recorded_by=schedule["admin"],
        )
    client = _client(schedule["director"])
    page = _text(client.get(reverse("scheduling:settings_licenses", args=[slc.pk])))
    assert "Expires in 10 days" in page
    assert "Expired" in page
    overview = _text(client.get(reverse("scheduling:settings_location", args=[slc.pk])))
    assert "1 active license expired" in overview
    assert "1 license expires within 60 days" in overview
    past = client.post(
        reverse("scheduling:settings_licenses", args=[slc.pk]),
        {
            "provider": schedule["nurse"].pk,
            "state": "UT",
            "kind": "RN",
            "number": "NEW-1",
            "expires_on": (today - timedelta(days=1)).isoformat(),
        },
    )
    assert "already expired" in _text(past)


# --- query counts -----------------------------------------------------------------------


def _pages(slc: Any) -> list[str]:
    return [
        reverse("scheduling:settings_location", args=[slc.pk]),
        reverse("scheduling:settings_types", args=[slc.pk]),
        reverse("scheduling:settings_defaults"),
        reverse("scheduling:settings_resources", args=[slc.pk]),
        reverse("scheduling:settings_hours", args=[slc.pk]),
        reverse("scheduling:settings_providers", args=[slc.pk]),
        reverse("scheduling:settings_licenses", args=[slc.pk]),
    ]


def test_page_query_counts_do_not_grow_with_rows(
    schedule: dict[str, Any], make_user: Any, django_assert_max_num_queries: Any
) -> None:
    slc = schedule["slc"]
    today = timezone.localdate()
    # One row of each list already, so "small" is not "empty" (an empty page skips its query).
    ClosedDay.objects.create(location=slc, date=today + timedelta(days=60), reason="First")
    client = _client(schedule["director"])
    small = {}
    for url in _pages(slc):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        small[url] = len(queries)

    Resource.objects.bulk_create(
        Resource(location=slc, kind=kind, number=n, name=f"{kind} {n}")
        for kind in (ResourceKind.CHAIR, ResourceKind.ROOM)
        for n in range(10, 50)
    )
    ClosedDay.objects.bulk_create(
        ClosedDay(location=slc, date=today + timedelta(days=n), reason=f"Day {n}")
        for n in range(1, 40)
    )
    for n in range(30):
        provider = make_user(Role.NURSE if n % 2 else Role.PRESCRIBER, [slc])
        WorkingHours.objects.create(
            provider=provider, location=slc, weekday=n % 7, starts_at=time(8), ends_at=time(12)
        )
        ProviderLicense.objects.bulk_create(
            ProviderLicense(
                provider=provider,
                state=state,
                kind="RN",
                number=f"{state}-{n}",
                expires_on=today + timedelta(days=n * 5 - 20),
                recorded_by=schedule["admin"],
            )
            for state in ("UT", "ID", "NV")
        )
    AppointmentType.objects.bulk_create(
        AppointmentType(location=slc, key=f"extra-{n}", name=f"Extra {n}", duration_minutes=30)
        for n in range(20)
    )
    for url in _pages(slc):
        with django_assert_max_num_queries(small[url]):
            assert client.get(url).status_code == 200
