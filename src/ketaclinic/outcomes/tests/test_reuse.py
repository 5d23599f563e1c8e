"""Reusing computed outcomes between requests, and what stops it: the database gives a
patient a new token on every write to their scores, sessions or courses (by any path: the
ORM, a queryset update, a bulk insert, a delete; a rolled-back write restores the token),
the page then reads again that patient only, a window that closes is seen the moment it
closes, and a page that reuses everything shows what a fresh computation shows."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic import plugins
from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.measures.models import AssessmentResponse
from ketaclinic.operations import gunicorn_config
from ketaclinic.outcomes.models import PatientOutcomeStamp
from ketaclinic.outcomes.selectors import (
    CohortFilters,
    outcomes_cache_clear,
    outcomes_report,
    outcomes_warm,
)
from ketaclinic.outcomes.tests.conftest import (
    NON_RESPONDER,
    NOW,
    RESPONDER,
    record_score,
    timepoint_row,
)
from ketaclinic.plugins import register_warm_up, warm_ups
from ketaclinic.treatment.models import TreatmentCourse

pytestmark = [pytest.mark.django_db, pytest.mark.now(NOW)]

SCORES = "measures_assessmentresponse"
SESSIONS = "charting_treatmentsession"


def _token(patient_id: int) -> int | None:
    stamp = PatientOutcomeStamp.objects.filter(patient_id=patient_id).first()
    return stamp.token if stamp else None


def _reads(captured: CaptureQueriesContext, table: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if f'FROM "{table}"' in q["sql"]]


def _get(client: Client, url: str = "/outcomes/") -> tuple[str, CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), captured


def _counts(report: Any) -> dict[str, tuple[int, ...]]:
    return {
        p.key: (p.due, p.assessed, p.response_itt.count, p.remission_itt.count)
        for p in report.summary.timepoints
    }


def test_every_write_to_a_patients_inputs_gives_them_a_new_token(
    clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    course = dosed_course(clinic["slc"], director, RESPONDER, last="One")
    other = dosed_course(clinic["boise"], director, RESPONDER, last="Two")
    patient = course.patient
    untouched = _token(other.patient_id)
    seen = {_token(patient.pk)}
    assert None not in seen and untouched is not None

    def changed() -> None:
        token = _token(patient.pk)
        assert token not in seen
        seen.add(token)
        assert _token(other.patient_id) == untouched

    score = record_score(patient, "phq9", 3, timezone.now())
    changed()
    AssessmentResponse.objects.filter(pk=score.pk).update(total=4)
    changed()
    AssessmentResponse.objects.bulk_create(
        [AssessmentResponse(**{**_fields(score), "completed_at": score.completed_at})]
    )
    changed()
    score.delete()
    changed()
    session = TreatmentSession.objects.filter(course=course).order_by("scheduled_at").last()
    TreatmentSession.objects.filter(pk=session.pk).update(status=SessionStatus.CANCELLED)
    changed()
    session.status = SessionStatus.SIGNED
    session.save()
    changed()
    TreatmentCourse.objects.filter(pk=course.pk).update(phase=TreatmentCourse.Phase.ENDED)
    changed()
    # A write rolled back leaves the token as it was, with the data as it was.
    before = _token(patient.pk)
    with pytest.raises(RuntimeError), transaction.atomic():
        record_score(patient, "phq9", 9, timezone.now())
        assert _token(patient.pk) != before
        raise RuntimeError
    assert _token(patient.pk) == before


def _fields(response: AssessmentResponse) -> dict[str, Any]:
    return {
        name: getattr(response, name)
        for name in (
            "patient_id",
            "instrument_key",
            "answers",
            "total",
            "context",
            "completed_by_patient",
        )
    }


def test_a_page_that_reuses_everything_reads_no_doses_or_scores_and_shows_the_same(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    for n in range(3):
        dosed_course(clinic["slc"], director, RESPONDER, last=f"R{n}")
        dosed_course(clinic["boise"], director, NON_RESPONDER, last=f"N{n}")
    client.force_login(director)
    outcomes_cache_clear()
    first, cold = _get(client)
    assert _reads(cold, SESSIONS) and _reads(cold, SCORES)
    again, warm = _get(client)
    assert not _reads(warm, SESSIONS) and not _reads(warm, SCORES)
    assert len(warm.captured_queries) == len(cold.captured_queries) - 2
    for key in ("eoi", "w4", "w8", "w12", "w26"):
        assert timepoint_row(again, key) == timepoint_row(first, key)
    assert again.count("<path") == first.count("<path")  # the same charts
    # The same numbers as a computation from nothing kept.
    now = timezone.now()
    kept = outcomes_report(director, CohortFilters(), now=now)
    outcomes_cache_clear()
    fresh = outcomes_report(director, CohortFilters(), now=now)
    assert _counts(kept) == _counts(fresh)
    assert kept.outcomes == fresh.outcomes and kept.comparisons == fresh.comparisons


def test_after_the_warm_up_every_user_s_first_view_reads_no_doses_or_scores(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director, prescriber = clinic["director"], clinic["prescriber"]
    for n in range(3):
        dosed_course(clinic["slc"], director, RESPONDER, last=f"R{n}")
        dosed_course(clinic["boise"], director, NON_RESPONDER, last=f"N{n}")
    outcomes_cache_clear()
    client.force_login(director)
    cold, _ = _get(client)
    outcomes_cache_clear()
    assert outcomes_warm().startswith("6 courses' outcomes kept")
    for user in (director, prescriber):  # all locations, and Salt Lake City only
        client.force_login(user)
        page, captured = _get(client)
        assert not _reads(captured, SESSIONS) and not _reads(captured, SCORES), user
    assert timepoint_row(page, "w4") != timepoint_row(cold, "w4")  # the prescriber's cohort
    client.force_login(director)
    page, _ = _get(client)
    for key in ("eoi", "w4", "w8", "w12", "w26"):
        assert timepoint_row(page, key) == timepoint_row(cold, key)
    # The warm-up shows nobody anything: it writes no audit entry.
    assert not AuditEntry.objects.filter(object_type="outcomes_cohort", actor=None).exists()


@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_warm_ups_in_the_background_and_logs_a_failing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert ("outcomes", outcomes_warm) in warm_ups()

    def broken() -> str:
        raise RuntimeError("no database")

    register_warm_up("broken-for-this-test", broken)
    worker = SimpleNamespace(log=logging.getLogger("test.warm_up"))
    try:
        with caplog.at_level(logging.INFO, logger="test.warm_up"):
            thread = gunicorn_config.post_worker_init(worker)
            thread.join(timeout=30)
    finally:
        plugins._warm_ups.pop("broken-for-this-test")
    assert not thread.is_alive() and thread.daemon
    said = [record.getMessage() for record in caplog.records]
    assert any(s.startswith("Warm-up 'broken-for-this-test' failed") for s in said), said
    assert any(s.startswith("Warm-up 'outcomes': 0 courses' outcomes kept") for s in said), said


def test_a_new_score_is_read_for_that_patient_only_and_changes_the_page(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    changing = dosed_course(clinic["slc"], director, [(-2, 20), (12, 15)], last="Late")
    for n in range(4):
        dosed_course(clinic["boise"], director, NON_RESPONDER, last=f"N{n}")
    client.force_login(director)
    before, _ = _get(client)
    # Due, assessed, missing, responders (ITT): Late has no week-4 score yet.
    assert timepoint_row(before, "w4").startswith("Week 4 5 4 1 of 5 0/5")
    first_dose = TreatmentSession.objects.filter(course=changing).earliest("dosing_started_at")
    record_score(changing.patient, "phq9", 4, first_dose.dosing_started_at + timedelta(days=28))
    after, captured = _get(client)
    assert timepoint_row(after, "w4").startswith("Week 4 5 5 0 of 5 1/5")
    for table in (SESSIONS, SCORES):
        (read,) = _reads(captured, table)
        assert re.search(rf'"patient_id" IN \({changing.patient_id}\)', read), read


def test_a_dose_cancelled_by_a_queryset_update_and_a_course_ended_are_seen(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    dropped = dosed_course(clinic["slc"], director, [(-2, 20), (3, 18)], sessions=2, last="D")
    dosed_course(clinic["slc"], director, RESPONDER, last="R")
    client.force_login(director)
    html, _ = _get(client)
    assert "<strong>2 courses</strong>" in html
    TreatmentSession.objects.filter(course=dropped).update(status=SessionStatus.CANCELLED)
    html, _ = _get(client)
    assert "<strong>1 course</strong>" in html and "1 more planned, not started" in html


def test_an_outcome_kept_before_a_window_closes_is_not_reused_after(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    course = dosed_course(clinic["slc"], director, [(-2, 20), (12, 9)], last="Recent")
    first = TreatmentSession.objects.filter(course=course).earliest("dosing_started_at")
    start: datetime = first.dosing_started_at
    # Week 4 (day 28, within 7 days) closes on day 35 after the first dose.
    with time_machine.travel(start + timedelta(days=35, minutes=-5), tick=False):
        client.force_login(director)
        html, _ = _get(client)
        assert timepoint_row(html, "w4").startswith("Week 4 0 0")
    with time_machine.travel(start + timedelta(days=35), tick=False):
        html, captured = _get(client)
        assert timepoint_row(html, "w4").startswith("Week 4 1 0 1 of 1")
        assert not _reads(captured, SCORES)  # the data was kept; the outcome was not
