"""'After your treatment': the advice for the route of the patient's most recent treatment
that ended after a dose, from portal/discharge_instructions.json with its sources."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.conftest import make_course
from ketaclinic.portal.views import discharge_instructions

DISCHARGED = (SessionStatus.DISCHARGED, SessionStatus.SIGNED)


def _session(course: Any, number: int, status: str, *, days_ago: int, dosed: bool = True) -> Any:
    planned = course.planned_sessions.get(number=number)
    when = timezone.now() - timedelta(days=days_ago)
    return TreatmentSession.objects.create(
        planned_session=planned,
        course=course,
        patient=course.patient,
        location=course.location,
        route=course.protocol.route,
        status=status,
        scheduled_at=when,
        planned_dose_mg=planned.planned_dose_mg,
        dosing_started_at=when + timedelta(minutes=10) if dosed else None,
        discharged_at=when + timedelta(hours=2) if status in DISCHARGED else None,
    )


def _home(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.get("/portal/").content.decode()


def test_every_route_has_cited_plain_instructions_with_the_crisis_line() -> None:
    data = discharge_instructions()
    assert set(data) == {"iv_ketamine", "esketamine"}
    for items in data.values():
        assert items and all(set(item) == {"text", "source"} for item in items)
        assert all("clinical-reference.md section" in item["source"] for item in items)
        texts = " ".join(item["text"] for item in items)
        assert "988" in texts and "911" in texts
        assert "small children" in texts and "work" in texts
    assert "Do not drive for the rest of the day" in data["iv_ketamine"][0]["text"]
    assert "until the next day, after a restful night's sleep" in data["esketamine"][0]["text"]
    assert "section 5" in data["esketamine"][0]["source"]


@pytest.mark.django_db
def test_nothing_is_shown_before_a_first_treatment_or_while_one_is_under_way(
    clinic: dict[str, Any],
) -> None:
    assert "After your treatment" not in _home(clinic["patient_user"])
    course = make_course(
        clinic["patient_slc"], clinic["director"], first_day=timezone.localdate() - timedelta(7)
    )
    _session(course, 1, SessionStatus.MONITORING, days_ago=0)
    assert "After your treatment" not in _home(clinic["patient_user"])


@pytest.mark.django_db
def test_the_latest_discharged_iv_session_shows_the_iv_advice_and_sources(
    clinic: dict[str, Any],
) -> None:
    course = make_course(
        clinic["patient_slc"], clinic["director"], first_day=timezone.localdate() - timedelta(14)
    )
    first = _session(course, 1, SessionStatus.DISCHARGED, days_ago=7)
    _session(course, 2, SessionStatus.CANCELLED, days_ago=1, dosed=False)
    html = _home(clinic["patient_user"])
    assert "After your treatment" in html
    assert f"{first.treatment_date:%A}, {first.treatment_date:%B} {first.treatment_date.day}" in (
        html
    )
    assert "Do not drive for the rest of the day" in html
    assert "restful night" not in html
    assert "Where this advice comes from" in html and "clinical-reference.md section 1" in html


@pytest.mark.django_db
def test_an_esketamine_patient_is_told_not_to_drive_until_the_next_day(
    clinic: dict[str, Any],
) -> None:
    course = make_course(
        clinic["patient_boise"],
        clinic["director"],
        protocol_key="esketamine-trd",
        first_day=timezone.localdate() - timedelta(14),
    )
    _session(course, 1, SessionStatus.SIGNED, days_ago=3)
    html = _home(clinic["patient_user_boise"])
    assert "until the next day, after a restful night&#x27;s sleep" in html
    assert "Do not drive for the rest of the day" not in html
    assert "section 5" in html
    # Another patient's treatment never shows on Ada's page.
    assert "After your treatment" not in _home(clinic["patient_user"])
