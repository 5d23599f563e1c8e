"""Dosed courses with scores, written out day by day for the outcomes tests."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.clinical.scoring import get_instrument
from ketaclinic.conftest import make_course
from ketaclinic.measures.models import AssessmentResponse, ResponseContext
from ketaclinic.operations.demo_measures import answers_summing_to

RESPONDER = [(-2, 20), (12, 8), (28, 4), (56, 6)]  # responds by the end of induction
NON_RESPONDER = [(-2, 20), (12, 15), (28, 14), (56, 16)]
FIRST_DAY = date(2026, 3, 2)  # a Monday; every test here runs months later (NOW)
NOW = "2026-12-01T12:00:00-07:00"


def timepoint_row(html: str, key: str) -> str:
    """The text of the summary table's row for timepoint `key`."""
    match = re.search(rf'<tr data-timepoint="{key}">(.*?)</tr>', html, re.S)
    assert match, key
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def record_score(patient: Any, key: str, total: int, at: datetime) -> AssessmentResponse:
    instrument = get_instrument(key)
    answers = answers_summing_to(
        random.Random(total), instrument, total, [8] if key == "phq9" else []
    )
    return AssessmentResponse.objects.create(
        patient=patient,
        instrument_key=key,
        answers=answers,
        total=total,
        context=ResponseContext.FOLLOW_UP,
        completed_by_patient=key != "madrs",
        completed_at=at,
    )


def dose(course: Any, count: int | None = None, *, start: int = 0) -> list[datetime]:
    """Chart the planned sessions from the `start`-th (the first by default) up to the
    `count`-th (all by default) as given and signed."""
    planned = list(course.planned_sessions.order_by("number"))[start:count]
    given = []
    for p in planned:
        TreatmentSession.objects.create(
            planned_session=p,
            course=course,
            patient=course.patient,
            location=course.location,
            route=course.protocol.route,
            status=SessionStatus.SIGNED,
            scheduled_at=p.starts_at,
            planned_dose_mg=p.planned_dose_mg,
            dose_mg=p.planned_dose_mg,
            dosing_started_at=p.starts_at,
            dosing_ended_at=p.starts_at + timedelta(minutes=40),
        )
        given.append(p.starts_at)
    return given


@pytest.fixture
def dosed_course(make_patient: Any) -> Callable[..., Any]:
    """A patient at `location` with a course from FIRST_DAY, `sessions` doses given, and
    PHQ-9 totals at day offsets from the first dose: [(day, total), ...]."""

    def make(
        location: Any,
        director: Any,
        scores: Sequence[tuple[float, int]],
        *,
        sessions: int | None = None,
        last: str = "Patient",
        protocol_key: str = "iv-ketamine-standard",
        instrument: str = "phq9",
        **patient_fields: Any,
    ) -> Any:
        patient = make_patient(location, "Test", last, **patient_fields)
        course = make_course(patient, director, protocol_key, FIRST_DAY)
        given = dose(course, sessions)
        for offset, total in scores:
            record_score(patient, instrument, total, given[0] + timedelta(days=offset))
        return course

    return make
