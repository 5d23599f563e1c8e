"""The chair board, the session chart (page and live fragment) and the REMS worklist run a
fixed number of queries whatever the number of sessions and readings."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.accounts.roles import Role
from ketaclinic.charting.models import (
    RemsSubmission,
    SessionAlert,
    SessionScore,
    SessionStatus,
    TreatmentSession,
    VitalSign,
)
from ketaclinic.conftest import make_course
from ketaclinic.treatment.models import PlannedSession, TreatmentCourse

pytestmark = pytest.mark.django_db


def _first_day() -> date:
    """Courses planned in the past, so none of their own planned sessions is today."""
    return timezone.localdate() - timedelta(days=60)


def _queries(client: Client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(context), response.content.decode()


def _courses(patients: list[Any], director: Any, protocol_key: str) -> list[TreatmentCourse]:
    """One signed-off course per patient (make_course: intake, approval, consent)."""
    return [
        make_course(patient, director, protocol_key=protocol_key, first_day=_first_day())
        for patient in patients
    ]


def _planned(course: TreatmentCourse, number: int, starts_at: datetime) -> PlannedSession:
    return PlannedSession.objects.create(
        course=course, number=number, starts_at=starts_at, planned_dose_mg=course.planned_dose_mg
    )


def _in_progress(
    course: TreatmentCourse, planned: PlannedSession, now: datetime, index: int, nurse: Any
) -> TreatmentSession:
    """A session in the chair: dosing (even index) or monitoring after the infusion."""
    dosing = index % 2 == 0
    return TreatmentSession(
        planned_session=planned,
        course=course,
        patient=course.patient,
        location=course.location,
        route=course.protocol.route,
        status=SessionStatus.DOSING if dosing else SessionStatus.MONITORING,
        version=6,
        scheduled_at=planned.starts_at,
        chair=index + 1,  # one patient per chair: a large clinic
        monitoring_provider=nurse,
        checked_in_at=now - timedelta(minutes=110),
        weight_kg=Decimal("70.0"),
        food_and_drink="Nothing since 6 am",
        escort_name="Sam",
        escort_phone="(801) 555-0199",
        pregnancy_test="negative",
        prechecks_by=nurse,
        prechecks_at=now - timedelta(minutes=105),
        planned_dose_mg=planned.planned_dose_mg,
        dose_mg=planned.planned_dose_mg,
        lot_number="LOT-1",
        amount_drawn_ml=Decimal("0.35"),
        pump_rate_ml_per_h=Decimal("150.0"),
        dosing_started_at=now - timedelta(minutes=100),
        dosing_ended_at=None if dosing else now - timedelta(minutes=60),
    )


def _readings(
    session: TreatmentSession,
    nurses: list[Any],
    now: datetime,
    *,
    start: int,
    stop: int,
    spacing: timedelta,
) -> list[VitalSign]:
    """Reading k (0 = the pre-dose reading, then newest first, the newest 30 s ago so none
    is overdue), for k in [start, stop); each nurse in turn recorded them."""
    rows = []
    for k in range(start, stop):
        predose = k == 0
        taken_at = (
            session.dosing_started_at - timedelta(minutes=5)
            if predose
            else now - timedelta(seconds=30) - (k - 1) * spacing
        )
        assert predose or taken_at > session.dosing_started_at
        rows.append(
            VitalSign(
                session=session,
                predose=predose,
                taken_at=taken_at,
                recorded_at=taken_at,
                recorded_by=nurses[k % len(nurses)],
                systolic=120 + k % 30,
                diastolic=75 + k % 10,
                heart_rate=70 + k % 20,
                spo2=96 + k % 4,
                respiratory_rate=14,
            )
        )
    return rows


def _scores(session: TreatmentSession, nurse: Any, now: datetime, count: int) -> list[Any]:
    return [
        SessionScore(
            session=session,
            instrument="moaas" if k % 2 == 0 else "cadss",
            score=5 if k % 2 == 0 else 3,
            taken_at=now - timedelta(minutes=2, seconds=k),
            recorded_at=now,
            recorded_by=nurse,
        )
        for k in range(count)
    ]


def _alerts(
    session: TreatmentSession, nurses: list[Any], now: datetime, count: int, offset: int = 0
) -> list[SessionAlert]:
    """Alternately open and acknowledged (by each nurse in turn)."""
    rows = []
    for k in range(offset, offset + count):
        acknowledged = k % 2 == 1
        rows.append(
            SessionAlert(
                session=session,
                location_id=session.location_id,
                kind="severe_bp",
                at=now - timedelta(minutes=3, seconds=k),
                message=f"BP 205/125 is at or above the severe level ({k}).",
                source="clinical-reference.md section 5",
                raised_at=now,
                acknowledged_at=now if acknowledged else None,
                acknowledged_by=nurses[k % len(nurses)] if acknowledged else None,
                action_taken="Rechecked, prescriber told." if acknowledged else "",
            )
        )
    return rows


@pytest.fixture
def staff(clinic: dict[str, Any], make_user: Any) -> dict[str, Any]:
    """The clinic with a second SLC nurse, so readings have more than one author."""
    return {**clinic, "nurse2": make_user(Role.NURSE, [clinic["slc"]])}


def test_chair_board_queries_do_not_grow_with_sessions_or_readings(
    staff: dict[str, Any], make_patient: Any
) -> None:
    slc = staff["slc"]
    nurses = [staff["nurse"], staff["nurse2"]]
    now = timezone.now()
    today = timezone.localdate(now, timezone=slc.tz)
    # Scheduled today in SLC's time zone (at most 2 h ago, never before local midnight).
    day_start = datetime.combine(today, datetime.min.time(), tzinfo=slc.tz)
    scheduled = max(day_start, now - timedelta(hours=2))
    patients = [make_patient(slc, f"Chairfirst{i:02d}", f"Boardpatient{i:02d}") for i in range(40)]
    courses = _courses(patients, staff["director"], "iv-ketamine-standard")

    def add_sessions(indices: range, readings: int) -> list[TreatmentSession]:
        sessions = TreatmentSession.objects.bulk_create(
            _in_progress(courses[i], _planned(courses[i], 100, scheduled), now, i, nurses[0])
            for i in indices
        )
        sessions = list(TreatmentSession.objects.filter(pk__in=[s.pk for s in sessions]))
        VitalSign.objects.bulk_create(
            v
            for s in sessions
            for v in _readings(s, nurses, now, start=0, stop=readings, spacing=timedelta(minutes=1))
        )
        SessionScore.objects.bulk_create(
            x for s in sessions for x in _scores(s, nurses[0], now, readings // 5)
        )
        SessionAlert.objects.bulk_create(a for s in sessions for a in _alerts(s, nurses, now, 2))
        return sessions

    client = Client()
    client.force_login(staff["nurse"])
    url = f"/board/?location={slc.pk}"

    # Small: 2 sessions x 10 readings.
    first = add_sessions(range(2), 10)
    client.get(url)  # the first request after login may write the login session
    small, content = _queries(client, url)
    assert _queries(client, url)[0] == small
    for patient in patients[:2]:
        assert patient.display_name in content
    assert "OVERDUE" not in content

    # Large: 40 sessions x 50 readings (the first two topped up to 50).
    VitalSign.objects.bulk_create(
        v
        for s in first
        for v in _readings(s, nurses, now, start=10, stop=50, spacing=timedelta(minutes=1))
    )
    SessionScore.objects.bulk_create(x for s in first for x in _scores(s, nurses[1], now, 8))
    SessionAlert.objects.bulk_create(
        a for s in first for a in _alerts(s, nurses, now, 4, offset=10)
    )
    add_sessions(range(2, 40), 50)
    assert TreatmentSession.objects.filter(location=slc).count() == 40
    assert VitalSign.objects.filter(session__location=slc).count() == 2000

    client.get(url)  # the board records the 38 new sessions' access; then it refreshes
    large, content = _queries(client, url)
    assert large == small, f"{small} queries with 2 sessions, {large} with 40"
    for patient in patients:
        assert patient.display_name in content, patient.display_name
    assert content.count("data-session=") == 40
    assert "OVERDUE" not in content


def test_session_chart_queries_do_not_grow_with_readings(staff: dict[str, Any]) -> None:
    nurses = [staff["nurse"], staff["nurse2"]]
    patient = staff["patient_slc"]
    now = timezone.now()
    (course,) = _courses([patient], staff["director"], "iv-ketamine-standard")
    planned = _planned(course, 100, now - timedelta(hours=2))
    session = TreatmentSession.objects.bulk_create(
        [_in_progress(course, planned, now, 1, nurses[0])]
    )[0]
    session = TreatmentSession.objects.get(pk=session.pk)
    assert session.status == SessionStatus.MONITORING
    spacing = timedelta(seconds=2)

    VitalSign.objects.bulk_create(
        _readings(session, nurses, now, start=0, stop=10, spacing=spacing)
    )
    SessionScore.objects.bulk_create(_scores(session, nurses[0], now, 2))
    SessionAlert.objects.bulk_create(_alerts(session, nurses, now, 2))

    client = Client()
    client.force_login(staff["nurse"])
    urls = [
        f"/patients/{patient.pk}/sessions/{session.pk}/",
        f"/patients/{patient.pk}/sessions/{session.pk}/live/",
    ]
    # Warm up: the login session, and the live panel's access entry (a self-refreshing view
    # is recorded once per interval, so every measured request is a refresh).
    for url in urls:
        client.get(url)
    small = {url: _queries(client, url)[0] for url in urls}
    assert {url: _queries(client, url)[0] for url in urls} == small

    VitalSign.objects.bulk_create(
        _readings(session, nurses, now, start=10, stop=2000, spacing=spacing)
    )
    SessionScore.objects.bulk_create(_scores(session, nurses[1], now, 200))
    SessionAlert.objects.bulk_create(_alerts(session, nurses, now, 60, offset=10))
    assert session.vital_signs.count() == 2000

    for url in urls:
        large, content = _queries(client, url)
        assert large == small[url], f"{url}: {small[url]} queries with 10 readings, {large}"
        # Every reading is listed in the vitals table (a header row, then one per reading).
        table = content.split('id="vitals-table"', 1)[1].split("</table>", 1)[0]
        assert table.count("<tr") == 1 + 2000, url


def test_rems_worklist_queries_do_not_grow_with_sessions(
    staff: dict[str, Any], make_patient: Any
) -> None:
    slc = staff["slc"]
    nurse = staff["nurse"]
    patients = [make_patient(slc, f"Remsfirst{i:02d}", f"Remspatient{i:02d}") for i in range(6)]
    courses = _courses(patients, staff["director"], "esketamine-trd")
    now = timezone.now()
    number = iter(range(100, 100_000, 1000))  # each batch numbers its sessions from here

    def add_ended(count: int) -> None:
        starts = [now - timedelta(days=1 + k % 20, hours=k % 5) for k in range(count)]
        sessions = _ended_esketamine(courses, nurse, starts, next(number))
        RemsSubmission.objects.bulk_create(
            RemsSubmission(
                session=s,
                submitted_on=timezone.localdate(s.scheduled_at, slc.tz),
                method="online",
                confirmation_number=f"CONF-{s.pk}",
                form=[],
                recorded_by=nurse,
            )
            for k, s in enumerate(sessions)
            if k % 2 == 0
        )

    client = Client()
    client.force_login(nurse)
    add_ended(3)
    client.get("/rems/")
    small, content = _queries(client, "/rems/")
    assert content.count("data-session=") == 3
    add_ended(57)
    large, content = _queries(client, "/rems/")
    assert content.count("data-session=") == 50  # one page
    assert large == small, f"{small} queries with 3 sessions, {large} with 60"


def _ended_esketamine(
    courses: list[TreatmentCourse], nurse: Any, starts: list[datetime], first_number: int
) -> list[TreatmentSession]:
    planned = [
        _planned(courses[k % len(courses)], first_number + k, at) for k, at in enumerate(starts)
    ]
    return TreatmentSession.objects.bulk_create(
        TreatmentSession(
            planned_session=p,
            course=p.course,
            patient=p.course.patient,
            location=p.course.location,
            route="esketamine",
            status=SessionStatus.SIGNED if k % 3 else SessionStatus.DISCHARGED,
            scheduled_at=p.starts_at,
            monitoring_provider=nurse,
            planned_dose_mg=p.planned_dose_mg,
            dose_mg=p.planned_dose_mg,
            dosing_started_at=p.starts_at + timedelta(minutes=10),
            dosing_ended_at=p.starts_at + timedelta(minutes=20),
            discharged_at=p.starts_at + timedelta(hours=2),
            discharged_by=nurse,
        )
        for k, p in enumerate(planned)
    )


def _submit(sessions: list[TreatmentSession], nurse: Any) -> None:
    RemsSubmission.objects.bulk_create(
        RemsSubmission(
            session=s,
            submitted_on=timezone.localdate(s.scheduled_at, s.location.tz),
            method="online",
            confirmation_number=f"CONF-{s.pk}",
            form=[],
            recorded_by=nurse,
        )
        for s in sessions
    )


def test_rems_worklist_filters_match_the_rule_in_every_time_zone(
    staff: dict[str, Any], make_patient: Any
) -> None:
    """The database's pending/overdue/submitted conditions pick exactly the sessions that
    clinical.rems.rems_form_status gives that status, with each location's own date (two
    locations a day apart) or a given date, around the due date's midnight."""
    from ketaclinic.charting.selectors import rems_worklist
    from ketaclinic.clinical.rems import rems_form_status

    slc, boise = staff["slc"], staff["boise"]
    slc.timezone, boise.timezone = "Pacific/Pago_Pago", "Pacific/Kiritimati"  # UTC-11, UTC+14
    slc.save()
    boise.save()
    nurse, director = staff["nurse"], staff["director"]
    courses = []
    for location in (slc, boise):
        patients = [make_patient(location, f"Tzfirst{i}", f"Tz{location.pk}p{i}") for i in range(2)]
        courses += _courses(patients, director, "esketamine-trd")
    now = timezone.now()
    # Every 3 hours over the last 12 days: dosing on each side of every local midnight.
    starts = [now - timedelta(hours=3 * k + 1) for k in range(96)]
    sessions = _ended_esketamine(courses, nurse, starts, 500)
    _submit([s for k, s in enumerate(sessions) if k % 4 == 0], nurse)

    everyone = list(
        TreatmentSession.objects.filter(route="esketamine")
        .select_related("location", "rems_submission")
        .order_by("-scheduled_at", "-pk")
    )
    for today in (None, timezone.localdate() - timedelta(days=1), timezone.localdate()):
        for status in ("pending", "overdue", "submitted"):
            expected = [
                s.pk
                for s in everyone
                if rems_form_status(
                    treatment_date=s.treatment_date,
                    submitted_on=getattr(s, "rems_submission", None)
                    and s.rems_submission.submitted_on,
                    today=today or timezone.localdate(timezone=s.location.tz),
                    due_days=7,
                )
                == status
            ]
            page = rems_worklist(
                director, location_id=None, today=today, status=status, per_page=1000
            )
            assert [r.session.pk for r in page] == expected, (today, status)
            assert {str(r.status) for r in page} <= {status}
        assert {"pending", "overdue"} <= {
            str(r.status)
            for r in rems_worklist(director, location_id=None, today=today, per_page=1000)
        }


@pytest.mark.parametrize("status", ["", "pending", "overdue", "submitted"])
def test_rems_worklist_reads_one_page_whatever_the_sessions(
    staff: dict[str, Any], make_patient: Any, status: str
) -> None:
    """Each filter of the worklist lists one page of at most 50 rows, in a fixed number of
    queries, and reads from the database no more than that page (and one row to know
    there is a next page) whatever the number of sessions."""
    slc, nurse = staff["slc"], staff["nurse"]
    patients = [make_patient(slc, f"Pagefirst{i:02d}", f"Pagepatient{i:02d}") for i in range(6)]
    courses = _courses(patients, staff["director"], "esketamine-trd")
    now = timezone.now()
    number = iter(range(2000, 100_000, 1000))
    url = f"/rems/?status={status}"

    def add(count: int) -> None:
        # Pending (the last 7 days), overdue (older) and submitted, a third each.
        starts = [
            now - timedelta(days=(1 if k % 3 == 0 else 10 + k % 20), hours=k % 5)
            for k in range(count)
        ]
        sessions = _ended_esketamine(courses, nurse, starts, next(number))
        _submit([s for k, s in enumerate(sessions) if k % 3 == 2], nurse)

    client = Client()
    client.force_login(nurse)
    add(6)
    client.get(url)
    small, content = _queries(client, url)
    assert 1 <= content.count("data-session=") <= 6
    add(300)
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    content = response.content.decode()
    assert content.count("data-session=") == 50  # one page
    assert 'rel="next"' in content
    assert len(context) == small, f"{small} queries with 6 sessions, {len(context)} with 306"
    listing = [
        q["sql"]
        for q in context.captured_queries
        if q["sql"].startswith("SELECT") and 'FROM "charting_treatmentsession"' in q["sql"]
    ]
    # The page's query is limited in SQL (50 rows and one more), never every session.
    assert listing and "LIMIT 51" in listing[-1]
    second = client.get(url + "&page=2").content.decode()
    assert 1 <= second.count("data-session=") <= 50 and 'rel="prev"' in second


def test_sessions_tab_reads_one_page_whatever_the_sessions(
    staff: dict[str, Any], make_patient: Any
) -> None:
    """The patient's sessions tab shows 50 planned sessions a page, in a fixed number of
    queries whatever the number of planned and charted sessions."""
    slc, nurse = staff["slc"], staff["nurse"]
    patient = make_patient(slc, "Tabfirst", "Tabpatient")
    (course,) = _courses([patient], staff["director"], "esketamine-trd")
    url = f"/patients/{patient.pk}/sessions/"
    client = Client()
    client.force_login(nurse)
    client.get(url)
    small, content = _queries(client, url)
    shown = content.count("<tr>\n    <td>")
    assert 1 <= shown < 50
    now = timezone.now()
    _ended_esketamine([course], nurse, [now - timedelta(days=40 + k) for k in range(30)], 300)
    for k in range(40):
        _planned(course, 400 + k, now + timedelta(days=1 + k))
    large, content = _queries(client, url)
    assert content.count("<tr>\n    <td>") == 50
    assert large == small, f"{small} queries with {shown} sessions, {large} with {shown + 70}"
    rest = client.get(url + "?page=2").content.decode()
    assert rest.count("<tr>\n    <td>") == shown + 70 - 50
