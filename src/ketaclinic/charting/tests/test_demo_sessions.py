"""The demo clinic's session charts: complete and signed past sessions, today's chair board,
the REMS worklist, and alerts that are exactly what the monitoring rules raise."""

from datetime import timedelta
from itertools import pairwise

import pytest
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.audit.services import audit_verify_chain
from ketaclinic.charting import services
from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.charting.rules import session_rules
from ketaclinic.charting.selectors import board_rows, note_compose, reading_alerts, rems_worklist
from ketaclinic.clinical.eligibility import adequate_trial_count
from ketaclinic.eligibility.selectors import trial_policy
from ketaclinic.eligibility.services import intake_trials
from ketaclinic.operations.demo import seed_demo
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient

pytestmark = pytest.mark.django_db

# Enough Salt Lake City patients for three courses on the board (demo_treatment keeps the
# first three open, so the 12-patient browser-test demo has room for two).
BOARD_DEMO_PATIENTS = 30
BROWSER_DEMO_PATIENTS = 12
LIFECYCLE = [
    SessionStatus.SCHEDULED,
    SessionStatus.CHECKED_IN,
    SessionStatus.PRECHECKED,
    SessionStatus.DOSING,
    SessionStatus.MONITORING,
    SessionStatus.READY,
    SessionStatus.DISCHARGED,
    SessionStatus.SIGNED,
]


def _expected_alerts(session: TreatmentSession) -> set[tuple[str, object]]:
    """What charting.services raises for the session's readings (none are overdue)."""
    t = session_rules(session.course.protocol).thresholds
    found = reading_alerts(
        list(session.vital_signs.all()), list(session.scores.all()), session.dosing_started_at, t
    )
    return {(str(a.kind), a.at) for a in found}


def _slc_today() -> tuple[Location, object]:
    slc = Location.objects.get(short_name="SLC")
    return slc, timezone.localdate(timezone=slc.tz)


def test_demo_charts_board_and_rems_worklist() -> None:
    seed_demo(patients=BOARD_DEMO_PATIENTS)
    sessions = list(
        TreatmentSession.objects.select_related("course__protocol", "location", "note")
        .prefetch_related("vital_signs", "scores", "alerts", "transitions", "dosing_events")
        .order_by("pk")
    )
    completed = [s for s in sessions if s.status == SessionStatus.SIGNED]
    assert len(completed) >= 10
    assert {s.route for s in completed} == {"iv_ketamine", "esketamine"}

    # Every past session went through the whole lifecycle and has its signed note.
    for session in completed:
        steps = [(t.from_status, t.to_status) for t in session.transitions.all()]
        assert steps == list(pairwise(LIFECYCLE)), session
        times = [t.at for t in session.transitions.all()]
        assert times == sorted(times) and times[-1] < timezone.now()
        assert session.note.body == note_compose(session)
        assert session.note.signed_by.username == "nurse"
        assert session.discharge_assessment and all(c["met"] for c in session.discharge_assessment)
        assert sum(v.predose for v in session.vital_signs.all()) == 1
        rules = session_rules(session.course.protocol)
        events = list(session.dosing_events.all())
        if session.route == "esketamine":
            gaps = [b.at - a.at for a, b in pairwise(events)]
            assert gaps and all(g == timedelta(minutes=5) for g in gaps)
            assert [e.device_number for e in events] == list(range(1, len(events) + 1))
        else:
            assert events[0].kind == "start" and events[-1].kind == "stop"
            infused = session.dosing_ended_at - session.dosing_started_at
            assert infused >= timedelta(minutes=rules.infusion_minutes)
        assert session.dosing_started_at == events[0].at
        assert session.dosing_ended_at == events[-1].at

    # Alerts are exactly what the monitoring rules raise, and every past one was acted on.
    for session in sessions:
        stored = {(a.kind, a.at) for a in session.alerts.all()}
        assert stored == _expected_alerts(session), session
    critical = [
        s for s in completed if any(a.kind == "critical_bp_repeated" for a in s.alerts.all())
    ]
    assert len(critical) == 1
    for alert in (a for s in completed for a in s.alerts.all()):
        assert alert.acknowledged_at and alert.acknowledged_by and alert.action_taken

    # Today's board: three patients in chairs, each at a different step.
    slc, today = _slc_today()
    rows = [
        r
        for r in board_rows(slc, today, timezone.now())
        if r.chair and r.session and r.session.is_open
    ]
    assert len(rows) >= 3
    assert len({r.chair for r in rows}) == len(rows)
    phases = {r.phase for r in rows}
    assert len(phases) == len(rows)
    assert {"Pre-checks done", "Dosing"} <= phases
    assert phases & {"Monitoring", "Ready for discharge"}
    dosing = next(r for r in rows if r.phase == "Dosing")
    assert 15 <= dosing.minutes_since_dosing <= 30 and not dosing.overdue
    assert all(not r.open_alerts for r in rows)

    # The REMS worklist has a form of every status.
    director = User.objects.get(username="director")
    for status in ("pending", "submitted", "overdue"):
        page = rems_worklist(director, location_id=None, today=today, status=status)
        assert page.rows and {str(r.status) for r in page} == {status}

    assert audit_verify_chain().ok


def test_todays_sessions_carry_on_through_the_services() -> None:
    """The board's sessions are consistent with the rules the services apply: the next
    reading raises nothing, the ready patient is discharged and the note signed."""
    seed_demo(patients=BOARD_DEMO_PATIENTS)
    nurse = User.objects.get(username="nurse")
    open_sessions = TreatmentSession.objects.filter(status__in=["dosing", "ready"])
    dosing = open_sessions.get(status=SessionStatus.DOSING)
    services.vitals_record(
        actor=nurse,
        session=dosing,
        systolic=132,
        diastolic=84,
        heart_rate=78,
        spo2=98,
        respiratory_rate=15,
    )
    assert not dosing.alerts.exists()
    ready = open_sessions.get(status=SessionStatus.READY)
    ready = services.session_discharge(actor=nurse, session=ready)
    assert ready.discharge_override_by is None
    services.note_sign(actor=nurse, session=ready, password=DEMO_PASSWORD)
    ready.refresh_from_db()
    assert ready.status == SessionStatus.SIGNED
    assert audit_verify_chain().ok


def _browser_demo_values() -> list[tuple[object, ...]]:
    return [
        (s.patient.mrn, s.planned_session.number, s.status, s.dose_mg, s.chair, readings)
        for s in TreatmentSession.objects.order_by("pk")
        for readings in [
            tuple(s.vital_signs.values_list("systolic", "diastolic", "heart_rate", "spo2"))
        ]
    ]


def test_browser_demo_keeps_its_walkthrough_patients_and_is_deterministic() -> None:
    """The 12-patient demo (browser tests) charts two SLC courses: the intake walkthroughs
    still find patients without a course, eligible and not; and seeding twice gives the
    same charts."""

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        seed_demo(patients=BROWSER_DEMO_PATIENTS)
        first = _browser_demo_values()
        raise Rollback
    seed_demo(patients=BROWSER_DEMO_PATIENTS)
    assert _browser_demo_values() == first
    assert TreatmentSession.objects.filter(status=SessionStatus.SIGNED).count() >= 5

    slc, today = _slc_today()
    phases = {
        r.phase
        for r in board_rows(slc, today, timezone.now())
        if r.chair and r.session and r.session.is_open
    }
    assert phases == {"Dosing", "Ready for discharge"}

    policy = trial_policy()
    counts = [
        adequate_trial_count(intake_trials(p), policy)
        for p in Patient.objects.filter(
            primary_location__short_name="SLC", treatment_courses__isnull=True
        )
    ]
    assert any(c >= 2 for c in counts) and any(c < 2 for c in counts)
    assert audit_verify_chain().ok
