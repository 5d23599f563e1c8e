"""Issue 19, chair-side safety, through the services and the pages: implausible entries
refused and unusual ones confirmed, today's dose derived from the current decision, what was
given from the minutes run, corrections by strike-through, check-in on its day and in
order, and every limit taken from the protocol version the course runs under."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting import services
from ketaclinic.charting.models import DosingEvent, SessionStatus, TreatmentSession, VitalSign
from ketaclinic.charting.rules import session_rules
from ketaclinic.charting.selectors import (
    discharge_assessment,
    dosing_blockers,
    note_compose,
    session_chart,
    session_draws,
    todays_dose,
)
from ketaclinic.charting.tests.conftest import ago, prechecked, vitals
from ketaclinic.conftest import PASSWORD, make_course
from ketaclinic.protocols.loader import load_protocol
from ketaclinic.register.models import EntryKind, LedgerEntry
from ketaclinic.register.tests.conftest import ketamine_vials
from ketaclinic.treatment.models import ProtocolVersion
from ketaclinic.treatment.services import course_end, protocol_version_create

pytestmark = pytest.mark.django_db


def _refresh(session: Any) -> TreatmentSession:
    return TreatmentSession.objects.get(pk=session.pk)


def _start(nurse: Any, session: Any, minutes_ago: float, **overrides: Any) -> DosingEvent:
    arguments = {
        "actor": nurse,
        "session": _refresh(session),
        "kind": "start",
        "at": ago(minutes_ago),
        "lot_number": "KET-2291",
        "amount_drawn_ml": Decimal("0.40"),
        "pump_rate_ml_per_h": Decimal("150.0"),
        **overrides,
    }
    return services.dosing_record(**arguments)


def _url(session: Any, action: str = "") -> str:
    return f"/patients/{session.patient_id}/sessions/{session.pk}/{action}"


# --- implausible and unusual entries ------------------------------------------------------


def test_an_implausible_vital_is_refused_and_nothing_is_saved(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    before = (_refresh(iv_session).version, AuditEntry.objects.count())
    with pytest.raises(ValidationError, match="Diastolic BP 20 mmHg is outside 30-200"):
        vitals(nurse, iv_session, 30, (130, 20))
    with pytest.raises(ValidationError, match="Heart rate 400 bpm"):
        vitals(nurse, iv_session, 30, (130, 80), heart_rate=400)
    assert VitalSign.objects.count() == 0
    assert (_refresh(iv_session).version, AuditEntry.objects.count()) == before


def test_an_unusual_vital_is_saved_only_once_confirmed(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    with pytest.raises(services.ConfirmationNeeded) as needed:
        vitals(nurse, iv_session, 30, (230, 120))
    assert [f.code for f in needed.value.findings] == ["systolic_unusual"]
    assert VitalSign.objects.count() == 0
    reading = services.vitals_record(
        actor=nurse,
        session=_refresh(iv_session),
        systolic=230,
        diastolic=120,
        heart_rate=80,
        spo2=97,
        respiratory_rate=14,
        taken_at=ago(30),
        confirm=True,
    )
    assert reading.confirmed == ["systolic_unusual"]
    entry = AuditEntry.objects.filter(object_type="vital_sign").latest("sequence")
    assert entry.detail["confirmed"] == ["systolic_unusual"]


def test_the_page_asks_to_confirm_and_keeps_the_reading_until_then(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    client = Client()
    client.force_login(clinic["nurse"])
    typed = {"systolic": "230", "diastolic": "120", "heart_rate": "80"}
    response = client.post(_url(iv_session, "vitals/"), typed, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="vitals-confirm"' in html and "outside the usual 80-220" in html
    assert 'name="systolic" value="230"' in html and VitalSign.objects.count() == 0
    client.post(_url(iv_session, "vitals/"), {**typed, "confirm": "on"}, HTTP_HX_REQUEST="true")
    assert VitalSign.objects.get().confirmed == ["systolic_unusual"]
    # Without htmx, a confirmation page that posts the same values again.
    page = client.post(_url(iv_session, "vitals/"), {"systolic": "150", "diastolic": "35"})
    assert b"Check this before it is saved" in page.content
    assert b'name="diastolic" value="35"' in page.content
    assert VitalSign.objects.count() == 1


@pytest.mark.parametrize(
    ("minutes_ago", "message"),
    # The fixture checked the patient in 180 minutes ago.
    [(-10, "in the future"), (200, "before the patient checked in")],
)
def test_a_charted_time_is_after_check_in_and_not_ahead(
    clinic: dict[str, Any], iv_session: Any, minutes_ago: int, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        vitals(clinic["nurse"], iv_session, minutes_ago, (128, 82))
    with pytest.raises(ValidationError, match=message):
        services.score_record(
            actor=clinic["nurse"],
            session=iv_session,
            instrument="moaas",
            score=5,
            taken_at=ago(minutes_ago),
        )
    assert not _refresh(iv_session).vital_signs.exists() and not iv_session.scores.exists()


def test_a_far_off_pump_rate_is_refused_and_a_little_off_one_confirmed(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    vitals(nurse, iv_session, 60, (128, 82))
    vial = ketamine_vials(clinic, count=1)[0]
    with pytest.raises(ValidationError, match="more than 2 times off"):
        _start(nurse, iv_session, 50, pump_rate_ml_per_h=Decimal("9999"), container=vial)
    session = _refresh(iv_session)
    assert session.status == SessionStatus.PRECHECKED and session.dosing_started_at is None
    assert (
        not session.dosing_events.exists()
        and not LedgerEntry.objects.filter(kind=EntryKind.DRAW).exists()
    )
    with pytest.raises(services.ConfirmationNeeded, match="confirm the rate"):
        _start(nurse, iv_session, 50, pump_rate_ml_per_h=Decimal("170"), container=vial)
    # Less drawn than the dose needs (36 mg of 50 mg/mL is 0.72 mL) is confirmed too.
    with pytest.raises(services.ConfirmationNeeded, match=r"less than the 0\.72 mL"):
        _start(nurse, iv_session, 50, amount_drawn_ml=Decimal("0.5"), container=vial)
    _start(nurse, iv_session, 50, pump_rate_ml_per_h=Decimal("170"), container=vial, confirm=True)
    assert _refresh(iv_session).pump_rate_ml_per_h == Decimal("170.0")


# --- one source of truth for the dose ------------------------------------------------------


def test_a_dose_change_recomputes_the_chart_the_note_and_the_register(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse, prescriber = clinic["nurse"], clinic["prescriber"]
    before = todays_dose(iv_session)
    assert (
        before.preparation.text
        == "36 mg: 0.36 mL of 100 mg/mL in a 100 mL bag at 150 mL/h over 40 min"
    )
    services.dose_change(
        actor=prescriber, session=iv_session, dose_mg=Decimal("30"), reason="nausea", confirm=True
    )
    dose = todays_dose(_refresh(iv_session))
    assert dose.dose_mg == Decimal("30") and dose.mg_per_kg == Decimal("0.42")
    assert (
        dose.preparation.text
        == "30 mg: 0.30 mL of 100 mg/mL in a 100 mL bag at 150 mL/h over 40 min"
    )
    client = Client()
    client.force_login(nurse)
    html = client.get(_url(iv_session)).content.decode()
    assert "30 mg: 0.30 mL of 100 mg/mL" in html and "36 mg: 0.36 mL" not in html
    vitals(nurse, iv_session, 60, (128, 82))
    assert dosing_blockers(_refresh(iv_session)) == [], _refresh(iv_session).status
    html = client.get(_url(iv_session)).content.decode()
    assert "needs 0.30 mL" in html and 'value="150.0"' in html  # the dosing panel
    # The register's container is 50 mg/mL: the same dose is 0.6 mL of it.
    vial = ketamine_vials(clinic, count=1)[0]
    with pytest.raises(services.ConfirmationNeeded, match=r"0\.6 mL today's dose needs"):
        _start(nurse, iv_session, 55, amount_drawn_ml=Decimal("0.5"), container=vial)
    _start(nurse, iv_session, 55, amount_drawn_ml=Decimal("1.0"), container=vial)
    services.dosing_record(actor=nurse, session=_refresh(iv_session), kind="stop", at=ago(15))
    session = _refresh(iv_session)
    [draw] = session_draws(session)
    assert draw.given_ml == Decimal("0.600") and draw.wasted_ml == Decimal("0.400")
    assert "Dose: 30.0 mg" in note_compose(session) and "Given: 30.0 mg (100% of the bag" in (
        note_compose(session)
    )


def test_stopping_at_2_of_40_minutes_gives_a_twentieth_not_the_dose(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    vitals(nurse, iv_session, 60, (128, 82))
    vial = ketamine_vials(clinic, count=1)[0]
    _start(nurse, iv_session, 50, amount_drawn_ml=Decimal("0.8"), container=vial)
    services.dosing_record(
        actor=nurse, session=_refresh(iv_session), kind="stop", at=ago(48), reason="vomiting"
    )
    session = _refresh(iv_session)
    dose = todays_dose(session, stock_mg_per_ml=Decimal("50"))
    assert dose.administered.minutes_running.quantize(Decimal("0.1")) == Decimal("2.0")
    assert dose.administered.percent_of_bag == 5
    assert dose.given_mg == Decimal("1.8")
    [draw] = session_draws(session)
    assert draw.given_ml == Decimal("0.036") and draw.wasted_ml == Decimal("0.764")
    assert "Given: 1.8 mg (5% of the bag; the pump ran 2.0 min)" in note_compose(session)
    # The chart offers what ran, never the planned dose.
    client = Client()
    client.force_login(nurse)
    html = client.get(_url(session)).content.decode()
    assert 'value="0.036"' in html and 'value="0.764"' in html


def test_a_dose_of_0_and_one_above_the_maximum_are_refused_in_words(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    client = Client()
    client.force_login(clinic["prescriber"])
    response = client.post(_url(iv_session, "dose/"), {"dose_mg": "0", "reason": "x"}, follow=True)
    assert b"The dose must be more than 0 mg." in response.content
    assert b"must be &gt;= 0" not in response.content and b"greater than or equal" not in (
        response.content
    )
    response = client.post(_url(iv_session, "dose/"), {"dose_mg": "60", "reason": "x"}, follow=True)
    assert b"60 mg is 0.83 mg/kg of 72 kg (actual weight)" in response.content
    assert _refresh(iv_session).dose_mg == Decimal("36.0")


# --- corrections by strike-through ------------------------------------------------------------


def test_a_struck_reading_no_longer_counts_but_stays_on_record(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse, prescriber = clinic["nurse"], clinic["prescriber"]
    # A typo for the pre-dose BP (100/60 for 130/80) becomes the baseline ...
    typo = vitals(nurse, iv_session, 130, (100, 60))
    _start(nurse, iv_session, 120)
    for minutes in (110, 100, 90):
        vitals(nurse, _refresh(iv_session), minutes, (134, 84))
    services.dosing_record(actor=nurse, session=_refresh(iv_session), kind="stop", at=ago(80))
    for minutes in (65, 50, 35, 20, 5):
        vitals(nurse, _refresh(iv_session), minutes, (130, 82))
    services.score_record(
        actor=nurse, session=_refresh(iv_session), instrument="moaas", score=5, taken_at=ago(2)
    )
    services.discharge_confirmations_record(
        actor=nurse,
        session=_refresh(iv_session),
        symptoms_resolved=True,
        escort_present=True,
        instructions_given=True,
    )
    # Charted late from the paper flowsheet: the overdue-reading alerts are acknowledged.
    for alert in _refresh(iv_session).alerts.filter(acknowledged_at__isnull=True):
        services.alert_acknowledge(actor=nurse, alert=alert, action_taken="charted late")
    unmet = [
        c.key
        for c in discharge_assessment(_refresh(iv_session), timezone.now()).criteria
        if not c.met
    ]
    assert unmet == ["vitals_near_baseline"]
    # ... which only the person who charted it or a nurse may strike, with a reason.
    with pytest.raises(ValidationError, match="Say why"):
        services.entry_strike(actor=nurse, session=_refresh(iv_session), entry=typo, reason=" ")
    with pytest.raises(PermissionDenied, match="Only the person who charted it"):
        services.entry_strike(
            actor=prescriber, session=_refresh(iv_session), entry=typo, reason="x"
        )
    services.entry_strike(
        actor=nurse, session=_refresh(iv_session), entry=typo, reason="typed 100/60 for 130/80"
    )
    # The right pre-dose reading, as a late entry: the baseline now.
    vitals(nurse, _refresh(iv_session), 128, (130, 80))
    session = _refresh(iv_session)
    assert discharge_assessment(session, timezone.now()).ready
    with pytest.raises(ValidationError, match="already struck"):
        services.entry_strike(actor=nurse, session=session, entry=typo, reason="again")
    # The original stays: on the chart, in the audit log and in the note's history.
    chart = session_chart(session, timezone.now())
    assert typo.pk in [v.pk for v in chart.vitals] and typo.pk not in [
        v.pk for v in chart.counted_vitals
    ]
    entry = AuditEntry.objects.filter(
        object_type="vital_sign", detail__has_key="struck_through"
    ).get()
    assert entry.detail["struck_through"] == "typed 100/60 for 130/80"
    assert "100/60" in entry.detail["original"] and entry.actor_id == nurse.pk
    html = Client()
    html.force_login(nurse)
    page = html.get(_url(session)).content.decode()
    assert 'class=" struck"' in page or "struck" in page
    assert "typed 100/60 for 130/80" in page
    services.session_discharge(actor=nurse, session=session)
    services.note_sign(actor=nurse, session=_refresh(session), password=PASSWORD)
    note = _refresh(session).note.body
    assert "Corrections (struck through" in note and "typed 100/60 for 130/80" in note
    # After signing, nothing is struck: only addenda.
    later = VitalSign.objects.filter(session=session, struck_at__isnull=True).first()
    with pytest.raises(ValidationError, match="addendum"):
        services.entry_strike(actor=nurse, session=_refresh(session), entry=later, reason="x")


def test_a_struck_reading_leaves_the_critical_pattern(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    vitals(nurse, iv_session, 60, (128, 82))
    _start(nurse, iv_session, 50)
    wrong = vitals(nurse, _refresh(iv_session), 30, (185, 115))
    services.entry_strike(
        actor=nurse, session=_refresh(iv_session), entry=wrong, reason="wrong patient's cuff"
    )
    vitals(nurse, _refresh(iv_session), 25, (186, 116))
    session = _refresh(iv_session)
    assert not session.alerts.filter(kind="critical_bp_repeated").exists()
    # One critical reading alone asks for its repeat.
    prompt = session_chart(session, timezone.now()).recheck
    assert prompt is not None and "186/116" in prompt.message and prompt.late


def test_a_pre_dose_typo_that_held_dosing_is_struck_and_dosing_can_start(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    typo = vitals(nurse, iv_session, 30, (182, 112))  # 182 for 128: at the hold level
    assert any("hold" in b.lower() or "180/110" in b for b in dosing_blockers(_refresh(iv_session)))
    services.entry_strike(actor=nurse, session=_refresh(iv_session), entry=typo, reason="typo")
    vitals(nurse, _refresh(iv_session), 29, (128, 82))
    session = _refresh(iv_session)
    # The caution alert the typo raised stays until a person acknowledges it.
    for alert in session.alerts.filter(acknowledged_at__isnull=True):
        actor = clinic["prescriber"] if alert.kind == "predose_bp_caution" else nurse
        services.alert_acknowledge(actor=actor, alert=alert, action_taken="entered in error")
    assert dosing_blockers(_refresh(iv_session)) == []


# --- order and dates -----------------------------------------------------------------------


def test_sessions_are_checked_in_on_their_day_and_in_order(clinic: dict[str, Any]) -> None:
    nurse = clinic["nurse"]
    course = make_course(clinic["patient_slc"], clinic["director"])
    planned = list(course.planned_sessions.order_by("number"))
    with pytest.raises(ValidationError) as refused:
        services.session_check_in(actor=nurse, planned=planned[5], chair=1)
    assert "can be checked in on its day" in str(refused.value)
    assert "Earlier sessions 1, 2, 3, 4, 5 of this course" in str(refused.value)
    # On session 2's day, session 1 still open: refused until it is skipped with a reason.
    with time_machine.travel(planned[1].starts_at, tick=False):
        with pytest.raises(ValidationError, match="Earlier session 1 "):
            services.session_check_in(actor=nurse, planned=planned[1], chair=1)
        services.session_cancel(actor=nurse, planned=planned[0], reason="patient unwell")
        session = services.session_check_in(actor=nurse, planned=planned[1], chair=1)
    assert session.status == SessionStatus.CHECKED_IN
    assert TreatmentSession.objects.filter(course=course).count() == 2


def test_ending_a_course_cancels_what_was_planned_and_booked(clinic: dict[str, Any]) -> None:
    from ketaclinic.scheduling.models import AppointmentStatus
    from ketaclinic.scheduling.services import appointment_types_seed_defaults, course_series_book

    appointment_types_seed_defaults()
    director = clinic["director"]
    course = make_course(
        clinic["patient_slc"], director, first_day=timezone.localdate() + timedelta(days=7)
    )
    booked = course_series_book(actor=director, course=course)
    assert len(booked) == 6
    course_end(actor=director, course=course, reason="patient moved away")
    sessions = TreatmentSession.objects.filter(course=course)
    assert sessions.count() == 6
    assert set(sessions.values_list("status", flat=True)) == {SessionStatus.CANCELLED}
    assert set(sessions.values_list("end_reason", flat=True)) == {
        "Course ended: patient moved away"
    }
    assert {a.status for a in course.patient.appointments.all()} == {AppointmentStatus.CANCELLED}
    with pytest.raises(ValidationError, match="already ended"):
        course_end(actor=director, course=course, reason="again")


def test_a_course_is_not_ended_while_a_session_is_in_the_chair(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    vitals(nurse, iv_session, 60, (128, 82))
    _start(nurse, iv_session, 50)
    with pytest.raises(ValidationError, match="Session 1 of this course is in progress"):
        course_end(actor=clinic["director"], course=iv_session.course, reason="x")
    course = iv_session.course
    course.refresh_from_db()
    assert course.phase != course.Phase.ENDED
    assert TreatmentSession.objects.filter(course=course).count() == 1


# --- before dosing: allergies and the pre-dose questionnaires ------------------------------------


def test_dosing_waits_for_the_allergy_status(clinic: dict[str, Any], iv_session: Any) -> None:
    patient = iv_session.patient
    patient.nkda_verified_at = patient.nkda_verified_by = None
    patient.save(update_fields=["nkda_verified_at", "nkda_verified_by"])
    vitals(clinic["nurse"], iv_session, 30, (128, 82))
    session = _refresh(iv_session)
    assert any("Allergies are not recorded" in b for b in dosing_blockers(session))
    with pytest.raises(ValidationError, match="Allergies are not recorded"):
        _start(clinic["nurse"], session, 20)
    assert not _refresh(session).dosing_events.exists()


def test_the_screening_hard_stop_is_the_protocols(
    clinic: dict[str, Any], make_patient: Any
) -> None:
    session = prechecked(clinic, screened=False)
    vitals(clinic["nurse"], session, 30, (128, 82))
    blockers = dosing_blockers(_refresh(session))
    assert any("Columbia" in b and "needs it before dosing" in b for b in blockers), blockers
    assert not any("Patient Health Questionnaire" in b for b in blockers)  # a reminder only
    # A clinic that lets nurses dose without it sets hard_stop false in a new version.
    _new_version(
        clinic,
        lambda data: data["safety_limits"]["predose_questionnaires"]["rules"][1].update(
            hard_stop=False
        ),
    )
    other = prechecked(
        clinic, screened=False, patient=make_patient(clinic["slc"], "Mary", "Shelley"), chair=2
    )
    vitals(clinic["nurse"], other, 30, (128, 82))
    assert dosing_blockers(_refresh(other)) == []


# --- limits as protocol data ----------------------------------------------------------------


def _new_version(clinic: dict[str, Any], change: Any) -> ProtocolVersion:
    current = ProtocolVersion.objects.filter(key="iv-ketamine-standard").order_by("-version")[0]
    data = dict(current.data)
    change(data)
    return protocol_version_create(
        actor=clinic["director"], key="iv-ketamine-standard", data=data, change_note="test"
    )


def test_a_new_protocol_version_changes_the_limits(
    clinic: dict[str, Any], iv_session: Any, make_patient: Any
) -> None:
    nurse = clinic["nurse"]
    with pytest.raises(ValidationError, match="Diastolic BP 25"):
        vitals(nurse, iv_session, 30, (130, 25))

    def wider(data: dict) -> None:
        data["safety_limits"]["vitals"]["diastolic"].update(
            refuse_outside=[20, 200], confirm_outside=[20, 130]
        )
        data["safety_limits"]["vitals"].pop("pulse_pressure")

    _new_version(clinic, wider)
    # A course planned on the new version; the first course keeps its own version's limits.
    other = prechecked(clinic, patient=make_patient(clinic["slc"], "Mary", "Shelley"), chair=2)
    assert other.course.protocol.version == 2
    vitals(nurse, other, 30, (130, 25))
    with pytest.raises(ValidationError, match="Diastolic BP 25"):
        vitals(nurse, _refresh(iv_session), 29, (130, 25))
    with pytest.raises(ValidationError):
        _new_version(clinic, lambda data: data["safety_limits"]["vitals"].pop("spo2"))


# --- what the chart and the board show -------------------------------------------------------


def test_one_critical_bp_asks_for_its_repeat_on_the_chart_and_the_board(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    vitals(nurse, iv_session, 60, (128, 82))
    _start(nurse, iv_session, 50)
    vitals(nurse, _refresh(iv_session), 1, (184, 112))
    client = Client()
    client.force_login(nurse)
    chart = client.get(_url(iv_session)).content.decode()
    assert 'id="recheck-bp"' in chart and "repeat the reading 5-15 minutes after it" in chart
    board = client.get("/board/rows/", {"location": iv_session.location_id}).content.decode()
    assert "data-recheck" in board and "Repeat BP" in board
    vitals(nurse, _refresh(iv_session), 0, (150, 94))
    assert 'id="recheck-bp"' not in client.get(_url(iv_session)).content.decode()


def test_after_discharge_the_chart_no_longer_says_not_yet(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse = clinic["nurse"]
    vitals(nurse, iv_session, 60, (128, 82))
    _start(nurse, iv_session, 50)
    services.dosing_record(actor=nurse, session=_refresh(iv_session), kind="stop", at=ago(10))
    client = Client()
    client.force_login(nurse)
    assert 'id="readiness"' in client.get(_url(iv_session)).content.decode()
    services.session_discharge(
        actor=clinic["prescriber"],
        session=_refresh(iv_session),
        override_reason="ambulance transfer",
        password=PASSWORD,
    )
    html = client.get(_url(iv_session)).content.decode()
    assert 'id="readiness"' not in html and "Not yet" not in html
    assert "Discharged" in html


def test_a_protocol_version_saved_before_the_limits_takes_the_shipped_ones() -> None:
    data = load_protocol("iv-ketamine-standard")
    del data["safety_limits"]
    older = ProtocolVersion(key="iv-ketamine-standard", version=7, data=data)
    limits = session_rules(older).limits
    assert limits.vitals_refuse["diastolic"].low == 30
    assert limits.source_of("vitals").startswith("as shipped with ketaclinic")
