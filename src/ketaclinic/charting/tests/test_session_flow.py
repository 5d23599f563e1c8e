"""A session through its lifecycle, through the services and the pages."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting import services
from ketaclinic.charting.models import SessionNote, SessionStatus, TreatmentSession
from ketaclinic.charting.selectors import discharge_assessment, dosing_blockers
from ketaclinic.charting.tests.conftest import ago, prechecked, vitals
from ketaclinic.conftest import PASSWORD


def _start(nurse: Any, session: Any, minutes_ago: float) -> Any:
    return services.dosing_record(
        actor=nurse,
        session=session,
        kind="start",
        at=ago(minutes_ago),
        lot_number="KET-2291",
        amount_drawn_ml=Decimal("0.36"),
        pump_rate_ml_per_h=Decimal("150.0"),
    )


def _refresh(session: Any) -> TreatmentSession:
    return TreatmentSession.objects.get(pk=session.pk)


@pytest.mark.parametrize("day", ["2026-12-05", "2026-12-06"])  # a Saturday, a Sunday
@pytest.mark.django_db
def test_a_session_today_is_charted_on_a_saturday_and_a_sunday(
    clinic: dict[str, Any], make_patient: Any, day: str
) -> None:
    """The charting fixtures work at the weekend (docs/testing.md): the suite must pass
    whatever day it runs, and the packaged protocols plan sessions Monday to Friday."""
    with time_machine.travel(f"{day}T14:00:00-07:00", tick=False):
        for chair, protocol in enumerate(("iv-ketamine-standard", "esketamine-trd"), start=2):
            patient = make_patient(clinic["slc"], "Ada", protocol)
            session = prechecked(clinic, protocol, patient=patient, chair=chair)
            vitals(clinic["nurse"], session, 10, (128, 80))
            assert session.treatment_date.isoformat() == day
            assert session.vital_signs.count() == 1


@pytest.mark.django_db
def test_a_whole_iv_session(clinic: dict[str, Any], iv_session: Any) -> None:
    nurse, prescriber = clinic["nurse"], clinic["prescriber"]
    session = iv_session
    assert session.status == SessionStatus.CHECKED_IN
    assert session.dose_mg == Decimal("36.0")  # 0.5 mg/kg x today's 72 kg
    assert "Take the pre-dose vital signs." in dosing_blockers(session)
    with pytest.raises(ValidationError, match="Take the pre-dose vital signs"):
        _start(nurse, session, 115)

    vitals(nurse, session, 120, (128, 82), heart_rate=72)
    session = _refresh(session)
    assert session.status == SessionStatus.PRECHECKED and dosing_blockers(session) == []
    _start(nurse, session, 115)
    for minutes in (105, 95, 90):
        vitals(nurse, _refresh(session), minutes, (136, 86))
    # Two critical readings 5 minutes apart raise one alert, once.
    vitals(nurse, _refresh(session), 85, (185, 115), heart_rate=96)
    assert not _refresh(session).alerts.filter(kind="critical_bp_repeated").exists()
    vitals(nurse, _refresh(session), 80, (185, 115), heart_rate=98)
    alert = _refresh(session).alerts.get(kind="critical_bp_repeated")
    assert "185/115" in alert.message and alert.is_open
    with pytest.raises(ValidationError, match="Say what was done"):
        services.alert_acknowledge(actor=nurse, alert=alert, action_taken=" ")
    services.alert_acknowledge(
        actor=nurse, alert=alert, action_taken="Infusion slowed, prescriber informed"
    )
    services.dosing_record(actor=nurse, session=_refresh(session), kind="stop", at=ago(75))
    session = _refresh(session)
    assert session.status == SessionStatus.MONITORING

    # Not yet: MOAA/S not recorded, the last vitals far from baseline, no escort confirmed.
    vitals(nurse, session, 70, (150, 95))
    with pytest.raises(ValidationError, match="Discharge is not yet safe"):
        services.session_discharge(actor=nurse, session=_refresh(session))
    for minutes in (55, 40, 25, 10):
        vitals(nurse, _refresh(session), minutes, (130, 84), heart_rate=74)
    services.score_record(
        actor=nurse, session=_refresh(session), instrument="moaas", score=5, taken_at=ago(10)
    )
    services.discharge_confirmations_record(
        actor=nurse,
        session=_refresh(session),
        symptoms_resolved=True,
        escort_present=True,
        instructions_given=True,
    )
    session = _refresh(session)
    for open_alert in session.alerts.filter(acknowledged_at__isnull=True):
        services.alert_acknowledge(actor=nurse, alert=open_alert, action_taken="late entries")
    session = _refresh(session)
    assert discharge_assessment(session, timezone.now()).ready, [
        c.explanation for c in discharge_assessment(session, timezone.now()).criteria
    ]
    assert session.status == SessionStatus.READY and session.ready_at is not None
    services.session_discharge(actor=nurse, session=session)
    session = _refresh(session)
    assert session.status == SessionStatus.DISCHARGED
    assert all(c["met"] for c in session.discharge_assessment)

    with pytest.raises(ValidationError, match="password is not right"):
        services.note_sign(actor=nurse, session=session, password="wrong")
    note = services.note_sign(actor=nurse, session=session, password=PASSWORD, comment="Tolerated.")
    assert "185/115" in note.body and "Tolerated." in note.body and "KET-2291" in note.body
    assert _refresh(session).status == SessionStatus.SIGNED
    note.body = "rewritten"
    with pytest.raises(PermissionError):
        note.save()
    with pytest.raises(ValidationError, match="already signed"):
        services.note_sign(actor=nurse, session=_refresh(session), password=PASSWORD)
    services.note_addendum_add(actor=nurse, note=note, body="Called next day: well.")
    assert SessionNote.objects.get(pk=note.pk).body != "rewritten"
    # Co-signature: a prescriber, not the signer.
    services.note_cosign(actor=prescriber, note=note, password=PASSWORD)
    # A signed session takes no more charting.
    with pytest.raises(ValidationError, match="nothing more can be charted"):
        vitals(nurse, _refresh(session), 1, (120, 80))
    steps = list(session.transitions.values_list("to_status", flat=True))
    assert steps == [
        "checked_in",
        "prechecked",
        "dosing",
        "monitoring",
        "ready",
        "discharged",
        "signed",
    ]
    audited = set(
        AuditEntry.objects.filter(patient_id=session.patient_id).values_list(
            "object_type", flat=True
        )
    )
    assert {"treatment_session", "vital_sign", "session_alert", "session_note"} <= audited


@pytest.mark.django_db
def test_predose_caution_needs_a_prescriber_and_a_hold_blocks(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse, prescriber = clinic["nurse"], clinic["prescriber"]
    vitals(nurse, iv_session, 30, (182, 100))
    session = _refresh(iv_session)
    assert any("hold level" in b for b in dosing_blockers(session))
    assert session.status == SessionStatus.CHECKED_IN
    vitals(nurse, session, 20, (146, 88))
    session = _refresh(session)
    caution = session.alerts.get(kind="predose_bp_caution")
    assert any("prescriber must acknowledge" in b for b in dosing_blockers(session))
    with pytest.raises(Exception, match=r"sessions\.prescribe"):
        services.alert_acknowledge(actor=nurse, alert=caution, action_taken="ok")
    hold = session.alerts.get(kind="predose_bp_hold")
    services.alert_acknowledge(actor=nurse, alert=hold, action_taken="rested, rechecked")
    services.alert_acknowledge(
        actor=prescriber, alert=caution, action_taken="Benefit outweighs; proceed"
    )
    session = _refresh(session)
    assert dosing_blockers(session) == []
    assert session.status == SessionStatus.PRECHECKED


@pytest.mark.django_db
def test_dose_changes_only_by_a_prescriber_with_a_reason(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    with pytest.raises(Exception, match=r"sessions\.prescribe"):
        services.dose_change(
            actor=clinic["nurse"], session=iv_session, dose_mg=Decimal("30"), reason="x"
        )
    with pytest.raises(ValidationError, match="reason"):
        services.dose_change(
            actor=clinic["prescriber"], session=iv_session, dose_mg=Decimal("30"), reason=""
        )
    # 30 mg is 0.42 mg/kg of today's 72 kg, not the protocol's 0.5 mg/kg step: confirmed.
    with pytest.raises(services.ConfirmationNeeded, match=r"0\.42 mg/kg"):
        services.dose_change(
            actor=clinic["prescriber"], session=iv_session, dose_mg=Decimal("30"), reason="nausea"
        )
    assert _refresh(iv_session).dose_mg == Decimal("36.0")
    services.dose_change(
        actor=clinic["prescriber"],
        session=iv_session,
        dose_mg=Decimal("30"),
        reason="nausea",
        confirm=True,
    )
    session = _refresh(iv_session)
    assert session.dose_mg == Decimal("30") and session.planned_dose_mg == Decimal("35.0")
    entry = AuditEntry.objects.filter(object_type="treatment_session").latest("sequence")
    assert entry.detail["confirmed"] == ["dose_off_protocol_step"]
    # Above the protocol's maximum of 0.5 mg/kg: refused, whatever is confirmed.
    with pytest.raises(ValidationError, match=r"above this protocol's maximum of 0\.5 mg/kg"):
        services.dose_change(
            actor=clinic["prescriber"],
            session=session,
            dose_mg=Decimal("60"),
            reason="more",
            confirm=True,
        )
    assert _refresh(session).dose_mg == Decimal("30")


@pytest.mark.django_db
def test_bad_input_explains_and_changes_nothing(clinic: dict[str, Any], iv_session: Any) -> None:
    nurse = clinic["nurse"]
    before = _refresh(iv_session).version
    for bad, message in (
        ({"systolic": 120, "diastolic": None}, "both systolic and diastolic"),
        ({"systolic": 80, "diastolic": 90}, "below systolic"),
        ({"systolic": None, "diastolic": None}, "at least one"),
    ):
        with pytest.raises(ValidationError, match=message):
            services.vitals_record(
                actor=nurse,
                session=iv_session,
                heart_rate=None,
                spo2=None,
                respiratory_rate=None,
                **bad,
            )
    with pytest.raises(ValidationError, match="future"):
        vitals(nurse, iv_session, -30, (120, 80))
    with pytest.raises(ValidationError, match="before the patient checked in"):
        vitals(nurse, iv_session, 13 * 60, (120, 80))
    session = _refresh(iv_session)
    assert session.version == before and session.vital_signs.count() == 0
    # The page keeps what was typed and says what is wrong.
    client = Client()
    client.force_login(nurse)
    url = f"/patients/{session.patient_id}/sessions/{session.pk}/vitals/"
    response = client.post(url, {"systolic": "80", "diastolic": "90"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"must be below systolic" in response.content
    assert "HX-Trigger" not in response
    response = client.post(url, {"systolic": "120", "diastolic": "80"}, HTTP_HX_REQUEST="true")
    assert response["HX-Trigger"] == "vitalsSaved" and b"120/80" in response.content


@pytest.mark.django_db
def test_cancel_and_stop_early_need_reasons(clinic: dict[str, Any], iv_session: Any) -> None:
    nurse = clinic["nurse"]
    later = iv_session.course.planned_sessions.last()
    with pytest.raises(ValidationError, match="reason"):
        services.session_cancel(actor=clinic["coordinator"], planned=later, reason="")
    cancelled = services.session_cancel(
        actor=clinic["coordinator"], planned=later, reason="patient unwell"
    )
    assert cancelled.status == SessionStatus.CANCELLED and cancelled.end_reason == "patient unwell"
    with pytest.raises(ValidationError, match="already checked in"):
        services.session_check_in(actor=nurse, planned=later, chair=2)
    # The next session is on another day, after this one: not checked in today.
    with pytest.raises(ValidationError, match="can be checked in on its day"):
        services.session_check_in(
            actor=nurse, planned=iv_session.course.planned_sessions.all()[1], chair=1
        )
    stopped = services.session_stop_early(
        actor=nurse, session=iv_session, reason="patient chose to leave"
    )
    assert stopped.status == SessionStatus.STOPPED_EARLY


@pytest.mark.django_db
def test_discharge_override_needs_a_prescriber_reason_and_signature(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    nurse, prescriber = clinic["nurse"], clinic["prescriber"]
    vitals(nurse, iv_session, 60, (128, 82))
    _start(nurse, _refresh(iv_session), 50)
    services.dosing_record(actor=nurse, session=_refresh(iv_session), kind="stop", at=ago(10))
    session = _refresh(iv_session)
    with pytest.raises(ValidationError, match="not yet safe"):
        services.session_discharge(actor=prescriber, session=session)
    with pytest.raises(Exception, match="Only a prescriber"):
        services.session_discharge(
            actor=nurse, session=session, override_reason="transport", password=PASSWORD
        )
    with pytest.raises(ValidationError, match="password"):
        services.session_discharge(
            actor=prescriber, session=session, override_reason="transport", password="no"
        )
    services.session_discharge(
        actor=prescriber, session=session, override_reason="ambulance transfer", password=PASSWORD
    )
    session = _refresh(session)
    assert session.status == SessionStatus.DISCHARGED
    assert session.discharge_override_by == prescriber
    assert not all(c["met"] for c in session.discharge_assessment)


@pytest.mark.django_db
def test_esketamine_devices_wait_five_minutes_and_need_rems(clinic: dict[str, Any]) -> None:
    from ketaclinic.charting.tests.conftest import prechecked

    session = prechecked(clinic, "esketamine-trd")
    nurse = clinic["nurse"]
    vitals(nurse, session, 60, (128, 82))
    session = _refresh(session)
    assert session.dose_mg == Decimal("56") and dosing_blockers(session) == []
    services.dosing_record(
        actor=nurse, session=session, kind="device", at=ago(50), lot_number="SPR-77"
    )
    with pytest.raises(ValidationError, match="Wait 5 minutes"):
        services.dosing_record(actor=nurse, session=_refresh(session), kind="device", at=ago(48))
    services.dosing_record(actor=nurse, session=_refresh(session), kind="device", at=ago(45))
    session = _refresh(session)
    assert session.status == SessionStatus.MONITORING
    assert session.dosing_ended_at == session.dosing_events.last().at
    with pytest.raises(ValidationError, match="All 2 devices"):
        services.dosing_record(actor=nurse, session=session, kind="device", at=ago(40))
    # Not certified: a new session cannot start.
    location = session.location
    location.spravato_rems_certified = False
    location.save()
    planned = session.course.planned_sessions.all()[1]
    with pytest.raises(ValidationError, match="not a REMS-certified setting"):
        services.session_check_in(actor=nurse, planned=planned, chair=2)


@pytest.mark.django_db
def test_esketamine_observation_counts_120_minutes_from_the_first_device(
    clinic: dict[str, Any],
) -> None:
    from ketaclinic.charting.tests.conftest import prechecked

    session = prechecked(clinic, "esketamine-trd")
    nurse = clinic["nurse"]
    vitals(nurse, session, 130, (128, 82))
    services.dosing_record(
        actor=nurse, session=_refresh(session), kind="device", at=ago(119), lot_number="L"
    )
    services.dosing_record(actor=nurse, session=_refresh(session), kind="device", at=ago(114))
    session = _refresh(session)
    now = timezone.now()
    observation = discharge_assessment(session, now).criteria[0]
    assert observation.key == "observation_time" and not observation.met
    assert "first device" in observation.explanation
    later = discharge_assessment(session, now + timedelta(minutes=2)).criteria[0]
    assert later.met


@pytest.mark.django_db
def test_prechecks_show_todays_presession_questionnaires(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    from ketaclinic.charting.selectors import presession_questionnaires
    from ketaclinic.measures.services import response_record

    # The fixture's patient answered both before check-in.
    assert [check.response is not None for check in presession_questionnaires(iv_session)] == [
        True,
        True,
    ]
    response_record(
        actor=clinic["nurse"],
        patient=iv_session.patient,
        instrument_key="phq9",
        answers=[1] * 8 + [0],
        context="pre_session",
    )
    found = presession_questionnaires(iv_session)
    assert (
        found[0].title.startswith("Patient Health Questionnaire") and found[0].response.total == 8
    )
    assert found[1].response is not None and not found[1].blocks
    client = Client()
    client.force_login(clinic["nurse"])
    page = client.get(f"/patients/{iv_session.patient_id}/sessions/{iv_session.pk}/")
    assert b"within 7 days" in page.content and b"score 8" in page.content


@pytest.mark.django_db
def test_ready_time_is_recorded_at_discharge_when_no_write_noticed_it(
    clinic: dict[str, Any],
) -> None:
    """Confirmations saved before the observation time was up: nothing wrote READY, yet
    the REMS form needs the minute the patient was ready."""
    from ketaclinic.charting.tests.conftest import prechecked

    nurse = clinic["nurse"]
    session = prechecked(clinic, "esketamine-trd")
    vitals(nurse, session, 140, (128, 82))
    services.dosing_record(
        actor=nurse, session=_refresh(session), kind="device", at=ago(118), lot_number="L"
    )
    services.dosing_record(actor=nurse, session=_refresh(session), kind="device", at=ago(113))
    vitals(nurse, _refresh(session), 5, (130, 84))
    services.score_record(
        actor=nurse, session=_refresh(session), instrument="moaas", score=5, taken_at=ago(4)
    )
    for alert in _refresh(session).alerts.filter(acknowledged_at__isnull=True):
        services.alert_acknowledge(actor=nurse, alert=alert, action_taken="late entries")
    services.discharge_confirmations_record(
        actor=nurse,
        session=_refresh(session),
        symptoms_resolved=True,
        escort_present=True,
        instructions_given=True,
    )
    assert _refresh(session).ready_at is None  # 118 < 120 minutes
    with time_machine.travel(timezone.now() + timedelta(minutes=3), tick=False):
        services.session_discharge(actor=nurse, session=_refresh(session))
    session = _refresh(session)
    first_device = session.dosing_started_at
    assert session.ready_at == first_device + timedelta(minutes=120)


@pytest.mark.django_db
def test_scores_are_checked_against_the_instruments_ranges(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    from ketaclinic.charting.models import SessionScore

    assert SessionScore.score_range("moaas") == (0, 5)
    assert SessionScore.score_range("cadss") == (0, 92)
    assert SessionScore.score_range("cadss6") == (0, 24)
    for instrument, score in (("moaas", 6), ("cadss6", 25), ("cadss", 93)):
        with pytest.raises(ValidationError, match="must be from 0"):
            services.score_record(
                actor=clinic["nurse"], session=iv_session, instrument=instrument, score=score
            )
    assert not iv_session.scores.exists()
