"""Two nurses charting the same session at once lose nothing, and the alert rules see every
reading whoever typed it (real threads, real connections; SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from ketaclinic.accounts.roles import Role
from ketaclinic.charting import services
from ketaclinic.charting.models import (
    SessionAlert,
    SessionStatus,
    TreatmentSession,
    VitalSign,
)
from ketaclinic.charting.tests.conftest import presession_screening
from ketaclinic.clinical.monitoring import AlertKind
from ketaclinic.conftest import make_course
from ketaclinic.patients.services import patient_nkda_verify
from ketaclinic.treatment.models import PlannedSession

pytestmark = pytest.mark.django_db(transaction=True)

# A writer waiting on the row lock longer than this is a deadlock, not a queue.
JOIN_TIMEOUT_SECONDS = 120


def _dosing_session(
    nurse: Any, planned: PlannedSession, now: datetime, *, started_ago: int = 50
) -> TreatmentSession:
    """Check in (a little before the pre-dose reading), pre-checks, a normal pre-dose
    reading and the infusion started `started_ago` minutes before `now`, all through the
    services."""
    with time_machine.travel(now - timedelta(minutes=started_ago + 15), tick=False):
        session = services.session_check_in(actor=nurse, planned=planned, chair=None)
    session = services.prechecks_record(
        actor=nurse,
        session=session,
        version=session.version,
        weight_kg=Decimal("70.0"),
        food_and_drink="Nothing since 6 am",
        escort_name="Sam Lovelace",
        escort_phone="(801) 555-0199",
        pregnancy_test="negative",
        medication_changes="",
    )
    services.vitals_record(
        actor=nurse,
        session=session,
        systolic=122,
        diastolic=78,
        heart_rate=72,
        spo2=98,
        respiratory_rate=14,
        taken_at=now - timedelta(minutes=started_ago + 5),
    )
    services.dosing_record(
        actor=nurse,
        session=session,
        kind="start",
        at=now - timedelta(minutes=started_ago),
        lot_number="LOT-2026-11",
        amount_drawn_ml=Decimal("0.35"),
        pump_rate_ml_per_h=Decimal("150.0"),
    )
    session.refresh_from_db()
    assert session.status == SessionStatus.DOSING
    return session


def _run_together(workers: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run each worker in its own thread, all released at once by a barrier; each thread
    closes its own database connection. Returns the results and the exceptions raised."""
    barrier = threading.Barrier(len(workers))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(work: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            result = work()
            with lock:
                results.append(result)
        except BaseException as error:
            with lock:
                errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=JOIN_TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a writer never finished"
    return results, errors


@pytest.fixture
def nurses(clinic: dict[str, Any], make_user: Any) -> tuple[Any, Any]:
    return clinic["nurse"], make_user(Role.NURSE, [clinic["slc"]])


@pytest.fixture
def course(clinic: dict[str, Any]) -> Any:
    """A course whose first session is today (the day of the check-ins in these tests, an
    hour or so ago), the patient's allergies and pre-dose questionnaires done."""
    patient = clinic["patient_slc"]
    first_day = timezone.localdate(
        timezone.now() - timedelta(minutes=80), timezone=patient.primary_location.tz
    )
    course = make_course(patient, clinic["director"], first_day=first_day)
    patient_nkda_verify(actor=clinic["nurse"], patient=patient)
    presession_screening(patient, at=timezone.now() - timedelta(minutes=90))
    return course


def _planned(course: Any, index: int = 0) -> PlannedSession:
    return course.planned_sessions.order_by("number")[index]


def test_two_nurses_recording_vitals_at_once_lose_nothing(
    nurses: tuple[Any, Any], course: Any
) -> None:
    nurse_a, nurse_b = nurses
    session = _dosing_session(nurse_a, _planned(course), timezone.now())
    version_before = session.version
    readings_before = VitalSign.objects.filter(session=session).count()
    per_nurse = 25

    def values(offset: int, i: int) -> dict[str, int]:
        # Distinct, all inside normal limits (no alert noise): systolic identifies the
        # nurse's range, heart rate the reading.
        return {
            "systolic": 100 + offset + i,
            "diastolic": 70,
            "heart_rate": 60 + offset + i,
            "spo2": 97,
            "respiratory_rate": 14,
        }

    def chart(nurse: Any, offset: int) -> int:
        for i in range(per_nurse):
            services.vitals_record(
                actor=nurse,
                session=TreatmentSession.objects.get(pk=session.pk),
                **values(offset, i),
            )
        return nurse.pk

    results, errors = _run_together([lambda: chart(nurse_a, 0), lambda: chart(nurse_b, per_nurse)])

    assert errors == []
    assert sorted(results) == sorted([nurse_a.pk, nurse_b.pk])
    stored = VitalSign.objects.filter(session=session, predose=False)
    assert stored.count() == 2 * per_nurse
    assert VitalSign.objects.filter(session=session).count() == readings_before + 2 * per_nurse
    got = set(
        stored.values_list(
            "recorded_by_id", "systolic", "diastolic", "heart_rate", "spo2", "respiratory_rate"
        )
    )
    expected = {
        (nurse.pk, *values(offset, i).values())
        for nurse, offset in ((nurse_a, 0), (nurse_b, per_nurse))
        for i in range(per_nurse)
    }
    assert got == expected
    session.refresh_from_db()
    assert session.version == version_before + 2 * per_nurse


def _bp(nurse: Any, session_pk: int, systolic: int, diastolic: int, at: datetime) -> Any:
    """One reading with this BP, from the nurse's own copy of the session (as a request)."""
    return services.vitals_record(
        actor=nurse,
        session=TreatmentSession.objects.get(pk=session_pk),
        systolic=systolic,
        diastolic=diastolic,
        heart_rate=88,
        spo2=98,
        respiratory_rate=14,
        taken_at=at,
    )


def _acknowledge(nurse: Any, alert_pk: int) -> SessionAlert:
    return services.alert_acknowledge(
        actor=nurse,
        alert=SessionAlert.objects.select_related("session").get(pk=alert_pk),
        action_taken=f"Rechecked BP, told the prescriber ({nurse.username}).",
    )


def test_two_critical_readings_by_two_nurses_still_make_the_pattern(
    nurses: tuple[Any, Any], course: Any
) -> None:
    """Nurse A charts 185/115 at t while nurse B charts 186/116 at t+5 min: whichever
    commits second must see the first, so the repeated-critical rule fires once."""
    nurse_a, nurse_b = nurses
    rounds = 3
    first_start = _planned(course, 0).starts_at
    session: TreatmentSession | None = None
    for round_ in range(rounds):
        now = timezone.now()
        if session is not None:
            # The previous round's session ends; the next one is moved to today.
            services.session_stop_early(actor=nurse_a, session=session, reason="next round")
            PlannedSession.objects.filter(pk=_planned(course, round_).pk).update(
                starts_at=first_start + timedelta(minutes=round_)
            )
        session = _dosing_session(nurse_a, _planned(course, round_), now)
        t = now - timedelta(minutes=20)

        results, errors = _run_together(
            [
                partial(_bp, nurse_a, session.pk, 185, 115, t),
                partial(_bp, nurse_b, session.pk, 186, 116, t + timedelta(minutes=5)),
            ]
        )

        assert errors == [], f"round {round_}"
        assert {r.recorded_by_id for r in results} == {nurse_a.pk, nurse_b.pk}
        critical = list(
            SessionAlert.objects.filter(session=session, kind=AlertKind.CRITICAL_BP_REPEATED)
        )
        assert len(critical) == 1, f"round {round_}: {critical}"
        assert critical[0].at == t + timedelta(minutes=5)
        assert critical[0].kind == "critical_bp_repeated"


def test_one_acknowledgement_wins_when_two_nurses_acknowledge_at_once(
    nurses: tuple[Any, Any], course: Any
) -> None:
    nurse_a, nurse_b = nurses
    now = timezone.now()
    session = _dosing_session(nurse_a, _planned(course), now)
    # Three separate critical-BP episodes (each closed by a normal reading): three alerts.
    for start in (45, 30, 15):
        for minutes_ago, systolic, diastolic in (
            (start, 185, 115),
            (start - 5, 186, 116),
            (start - 7, 130, 80),
        ):
            services.vitals_record(
                actor=nurse_a,
                session=session,
                systolic=systolic,
                diastolic=diastolic,
                heart_rate=80,
                spo2=98,
                respiratory_rate=14,
                taken_at=now - timedelta(minutes=minutes_ago),
            )
    alerts = list(SessionAlert.objects.filter(session=session, kind=AlertKind.CRITICAL_BP_REPEATED))
    assert len(alerts) == 3

    for alert in alerts:
        results, errors = _run_together(
            [partial(_acknowledge, nurse_a, alert.pk), partial(_acknowledge, nurse_b, alert.pk)]
        )

        assert len(results) == 1, errors
        assert len(errors) == 1
        assert isinstance(errors[0], ValidationError), repr(errors[0])
        assert "already acknowledged" in " ".join(errors[0].messages)
        alert.refresh_from_db()
        assert alert.acknowledged_at is not None
        assert alert.acknowledged_by_id == results[0].acknowledged_by_id
        assert alert.acknowledged_by_id in (nurse_a.pk, nurse_b.pk)
        winner = nurse_a if alert.acknowledged_by_id == nurse_a.pk else nurse_b
        assert alert.action_taken == (f"Rechecked BP, told the prescriber ({winner.username}).")
