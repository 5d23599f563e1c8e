"""Spravato REMS Patient Monitoring Form (clinical-reference.md section 6)."""

from __future__ import annotations

import ast
import inspect
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical import rems
from ketaclinic.clinical.rems import (
    BP_CHECK_MINUTES,
    BP_CHECK_TOLERANCE_MIN,
    CONCOMITANT_CLASSES,
    DEFAULT_FORM_DUE_DAYS,
    REMS_MIN_MONITORING_MIN,
    BloodPressure,
    FormStatus,
    RemsFacts,
    RemsForm,
    build_rems_form,
    rems_due_date,
    rems_form_status,
)

NY = ZoneInfo("America/New_York")
# 2026-03-02 14:00 UTC is 09:00 in New York (EST, UTC-5).
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)

EXPECTED_KEYS = (
    "patient_name",
    "patient_date_of_birth",
    "patient_sex",
    "first_treatment",
    "patient_enrolled",
    "concomitant_benzodiazepine",
    "concomitant_non_benzo_hypnotic",
    "concomitant_psychostimulant",
    "concomitant_maoi",
    "concomitant_opioid",
    "monitoring_provider",
    "setting_name",
    "setting_address",
    "treatment_date",
    "dose",
    "lot_numbers",
    "total_monitoring_minutes",
    "ready_to_leave_minute",
    "vitals_acceptable_before_dosing",
    "vitals_acceptable_at_completion",
    "bp_before_dosing",
    "bp_at_40_min",
    "bp_before_completion",
    "sedation",
    "dissociation",
    "respiratory_depression",
    "serious_adverse_events",
)
NO_BP_NEAR_40 = "No BP was recorded between 30 and 50 min after the first device."
NO_SETTING_ID = "The setting has no REMS certification number on record."


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def bp(minutes: float, systolic: int = 130, diastolic: int = 80) -> BloodPressure:
    return BloodPressure(at=at(minutes), systolic=systolic, diastolic=diastolic)


def make_facts(**changes: Any) -> RemsFacts:
    facts = RemsFacts(
        patient_name="Jane Doe",
        patient_date_of_birth=date(1980, 5, 17),
        patient_sex="Female",
        patient_rems_id="P-12345",
        patient_enrolled=True,
        first_treatment=False,
        concomitant_classes=frozenset({"benzodiazepine", "opioid"}),
        monitoring_provider="Sam Nurse, RN",
        setting_name="Lakeside Ketamine Clinic",
        setting_address="1 Main St, Springfield",
        setting_rems_id="S-999",
        treatment_date=date(2026, 3, 2),
        dose_mg=56,
        lot_numbers=("AB123",),
        first_device_at=at(0),
        monitoring_ended_at=at(125.9),
        ready_to_leave_at=at(95.5),
        predose_bp=bp(-10, 128, 82),
        session_bps=(bp(41, 142, 88), bp(118, 126, 80)),
        vitals_acceptable_before_dosing=True,
        vitals_acceptable_at_completion=True,
        sedation=True,
        dissociation=True,
        respiratory_depression=False,
        serious_adverse_event=False,
    )
    return replace(facts, **changes)


def build(**changes: Any) -> RemsForm:
    return build_rems_form(make_facts(**changes), tz=NY)


def field(form: RemsForm, key: str) -> rems.RemsField:
    return next(f for f in form.fields if f.key == key)


# --- structure -----------------------------------------------------------------------


def test_every_field_key_present_in_form_order() -> None:
    form = build()
    assert tuple(f.key for f in form.fields) == EXPECTED_KEYS
    assert all(f.label for f in form.fields)


def test_concomitant_keys_follow_the_classes() -> None:
    keys = [f"concomitant_{key}" for key, _label in CONCOMITANT_CLASSES]
    assert keys == [k for k in EXPECTED_KEYS if k.startswith("concomitant_")]


def test_constants() -> None:
    assert REMS_MIN_MONITORING_MIN == 120
    assert DEFAULT_FORM_DUE_DAYS == 7
    assert BP_CHECK_MINUTES == 40
    assert BP_CHECK_TOLERANCE_MIN == 10
    before = inspect.getsource(rems).split("\nBP_CHECK_TOLERANCE_MIN = ")[0]
    assert "ketaclinic default" in before[-200:]


def test_complete_form_values() -> None:
    form = build()
    assert form.complete
    assert form.warnings == ()
    assert form.value("patient_name") == "Jane Doe"
    assert form.value("patient_date_of_birth") == "1980-05-17"
    assert form.value("patient_sex") == "Female"
    assert form.value("first_treatment") == "No"
    assert form.value("patient_enrolled") == "Yes (REMS patient ID P-12345)"
    assert form.value("concomitant_benzodiazepine") == "Yes"
    assert form.value("concomitant_non_benzo_hypnotic") == "No"
    assert form.value("concomitant_psychostimulant") == "No"
    assert form.value("concomitant_maoi") == "No"
    assert form.value("concomitant_opioid") == "Yes"
    assert form.value("monitoring_provider") == "Sam Nurse, RN"
    assert form.value("setting_name") == "Lakeside Ketamine Clinic"
    assert form.value("setting_address") == "1 Main St, Springfield (REMS setting ID S-999)"
    assert form.value("treatment_date") == "2026-03-02"
    assert form.value("dose") == "56 mg"
    assert form.value("lot_numbers") == "AB123"
    assert form.value("total_monitoring_minutes") == "125 min"
    assert form.value("ready_to_leave_minute") == "95 min"
    assert form.value("vitals_acceptable_before_dosing") == "Yes"
    assert form.value("vitals_acceptable_at_completion") == "Yes"
    assert form.value("bp_before_dosing") == "128/82 mmHg at 08:50"
    assert form.value("bp_at_40_min") == "142/88 mmHg at 09:41"
    assert form.value("bp_before_completion") == "126/80 mmHg at 10:58"
    assert form.value("sedation") == "Yes"
    assert form.value("dissociation") == "Yes"
    assert form.value("respiratory_depression") == "No"
    assert form.value("serious_adverse_events") == "No"


def test_value_unknown_key_raises_key_error() -> None:
    with pytest.raises(KeyError):
        build().value("not_a_field")


def test_blood_pressure_text() -> None:
    assert BloodPressure(at=T0, systolic=142, diastolic=88).text == "142/88"


def test_times_follow_the_given_timezone() -> None:
    form = build_rems_form(make_facts(), tz=UTC)
    assert form.value("bp_at_40_min") == "142/88 mmHg at 14:41"


def test_module_is_pure() -> None:
    tree = ast.parse(inspect.getsource(rems))
    modules = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert not [m for m in modules if m.startswith("django")]
    assert "clinical-reference.md section 6 (Spravato REMS Patient Monitoring Form)" in (
        rems.__doc__ or ""
    )


# --- dose ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dose_mg", "expected"),
    [(56, "56 mg"), (84, "84 mg"), (28, "Other: 28 mg"), (112, "Other: 112 mg")],
)
def test_dose_categories(dose_mg: int, expected: str) -> None:
    assert build(dose_mg=dose_mg).value("dose") == expected


@pytest.mark.parametrize("dose_mg", [0, -28])
def test_non_positive_dose_refused(dose_mg: int) -> None:
    with pytest.raises(ValueError, match="dose"):
        build(dose_mg=dose_mg)


def test_several_lot_numbers_joined_and_none_is_missing() -> None:
    assert build(lot_numbers=("AB123", " CD456 ")).value("lot_numbers") == "AB123, CD456"
    form = build(lot_numbers=())
    assert field(form, "lot_numbers").missing
    assert form.value("lot_numbers") == ""
    assert not form.complete
    assert field(build(lot_numbers=("  ",)), "lot_numbers").missing


# --- BP at about 40 minutes ----------------------------------------------------------


def test_bp_at_40_picks_closest_within_tolerance() -> None:
    form = build(session_bps=(bp(5, 150, 90), bp(33, 140, 85), bp(44, 138, 84), bp(49, 136, 82)))
    assert form.value("bp_at_40_min") == "138/84 mmHg at 09:44"
    assert NO_BP_NEAR_40 not in form.warnings


def test_bp_at_40_session_bps_in_any_order() -> None:
    readings = (bp(49, 136, 82), bp(44, 138, 84), bp(33, 140, 85))
    assert build(session_bps=readings).value("bp_at_40_min") == "138/84 mmHg at 09:44"


def test_bp_at_40_tolerance_edges_are_inclusive() -> None:
    assert build(session_bps=(bp(30, 131, 81),)).value("bp_at_40_min").startswith("131/81")
    assert build(session_bps=(bp(50, 132, 82),)).value("bp_at_40_min").startswith("132/82")


def test_bp_at_40_none_outside_tolerance_is_missing_with_warning() -> None:
    form = build(session_bps=(bp(29, 140, 85), bp(50.5, 138, 84), bp(110, 126, 80)))
    f = field(form, "bp_at_40_min")
    assert f.missing
    assert f.value == ""
    assert NO_BP_NEAR_40 in form.warnings
    assert not form.complete


def test_bp_at_40_tie_goes_to_earlier_reading() -> None:
    form = build(session_bps=(bp(45, 120, 70), bp(35, 140, 85)))
    assert form.value("bp_at_40_min") == "140/85 mmHg at 09:35"


def test_bp_before_completion_is_latest_at_or_before_end() -> None:
    form = build(
        monitoring_ended_at=at(120),
        session_bps=(bp(40, 140, 85), bp(120, 124, 78), bp(100, 128, 80), bp(121, 150, 95)),
    )
    assert form.value("bp_before_completion") == "124/78 mmHg at 11:00"


def test_bp_before_completion_single_reading_is_shared_with_40_min() -> None:
    form = build(session_bps=(bp(40, 140, 85),))
    assert form.value("bp_at_40_min") == form.value("bp_before_completion")
    assert any("40-minute reading" in w for w in form.warnings)


def test_no_session_bps() -> None:
    form = build(session_bps=())
    assert field(form, "bp_at_40_min").missing
    assert field(form, "bp_before_completion").missing
    assert NO_BP_NEAR_40 in form.warnings


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=180 * 60),  # seconds after the first device
            st.integers(min_value=80, max_value=200),
            st.integers(min_value=40, max_value=120),
        ),
        max_size=8,
    )
)
def test_bp_at_40_property(raw: list[tuple[int, int, int]]) -> None:
    readings = tuple(
        BloodPressure(at=T0 + timedelta(seconds=s), systolic=sy, diastolic=di) for s, sy, di in raw
    )
    form = build_rems_form(make_facts(session_bps=readings), tz=UTC)
    value = form.value("bp_at_40_min")
    target = T0 + timedelta(minutes=BP_CHECK_MINUTES)
    tolerance = timedelta(minutes=BP_CHECK_TOLERANCE_MIN)
    within = [r for r in readings if abs(r.at - target) <= tolerance]
    if value == "":
        assert not within
        assert NO_BP_NEAR_40 in form.warnings
        return
    chosen = [r for r in within if value == f"{r.text} mmHg at {r.at.strftime('%H:%M')}"]
    assert chosen, value
    best = min(abs(r.at - target) for r in chosen)
    assert all(abs(r.at - target) >= best for r in readings)
    assert NO_BP_NEAR_40 not in form.warnings


# --- minutes -------------------------------------------------------------------------


def test_minutes_are_floored() -> None:
    form = build(monitoring_ended_at=at(120 + 59 / 60), ready_to_leave_at=at(89 + 59 / 60))
    assert form.value("total_monitoring_minutes") == "120 min"
    assert form.value("ready_to_leave_minute") == "89 min"
    assert not any("under the REMS minimum" in w for w in form.warnings)


def test_under_120_minutes_warns_but_is_not_missing() -> None:
    form = build(monitoring_ended_at=at(119.99), session_bps=(bp(40), bp(110)))
    f = field(form, "total_monitoring_minutes")
    assert f.value == "119 min"
    assert not f.missing
    assert "Monitoring lasted 119 min, under the REMS minimum of 120 min." in form.warnings
    assert form.complete


def test_missing_first_device_makes_minutes_missing() -> None:
    form = build(first_device_at=None)
    assert field(form, "total_monitoring_minutes").missing
    assert field(form, "ready_to_leave_minute").missing
    assert field(form, "bp_at_40_min").missing
    assert form.value("total_monitoring_minutes") == ""


def test_missing_end_and_ready_times() -> None:
    form = build(monitoring_ended_at=None, ready_to_leave_at=None)
    assert field(form, "total_monitoring_minutes").missing
    assert field(form, "ready_to_leave_minute").missing
    assert field(form, "bp_before_completion").missing


def test_end_before_first_device_is_missing_with_warning() -> None:
    form = build(monitoring_ended_at=at(-5), ready_to_leave_at=None)
    assert field(form, "total_monitoring_minutes").missing
    assert any("before the first device" in w for w in form.warnings)


# --- enrolment, setting, judgements, events -------------------------------------------


def test_not_enrolled_warns() -> None:
    form = build(patient_enrolled=False, patient_rems_id="")
    assert form.value("patient_enrolled") == "No"
    assert not field(form, "patient_enrolled").missing
    assert any("not enrolled" in w for w in form.warnings)


def test_enrolled_without_id_says_yes() -> None:
    assert build(patient_rems_id="").value("patient_enrolled") == "Yes"


def test_first_treatment_yes() -> None:
    assert build(first_treatment=True).value("first_treatment") == "Yes"


def test_setting_without_rems_id_warns() -> None:
    form = build(setting_rems_id="")
    assert form.value("setting_address") == "1 Main St, Springfield"
    assert NO_SETTING_ID in form.warnings
    assert form.complete


@pytest.mark.parametrize(
    "key",
    [
        "patient_name",
        "patient_sex",
        "monitoring_provider",
        "setting_name",
        "setting_address",
    ],
)
def test_empty_text_is_missing(key: str) -> None:
    form = build(**{key: "  "})
    f = field(form, key)
    assert f.missing
    assert f.value == ""
    assert not form.complete
    assert [g.key for g in form.fields if g.missing] == [key]


def test_unjudged_acceptability_is_missing() -> None:
    form = build(vitals_acceptable_before_dosing=None, vitals_acceptable_at_completion=False)
    assert field(form, "vitals_acceptable_before_dosing").missing
    assert form.value("vitals_acceptable_before_dosing") == ""
    assert not field(form, "vitals_acceptable_at_completion").missing
    assert form.value("vitals_acceptable_at_completion") == "No"


def test_missing_predose_bp() -> None:
    form = build(predose_bp=None)
    assert field(form, "bp_before_dosing").missing
    assert form.value("bp_before_dosing") == ""


def test_adverse_events_never_missing() -> None:
    form = build(sedation=False, dissociation=False)
    for key in ("sedation", "dissociation", "respiratory_depression", "serious_adverse_events"):
        assert form.value(key) == "No"
        assert not field(form, key).missing


def test_serious_adverse_event_with_description() -> None:
    form = build(serious_adverse_event=True, adverse_event_description="Syncope, sent to ED")
    assert form.value("serious_adverse_events") == "Yes: Syncope, sent to ED"
    form = build(serious_adverse_event=True)
    assert form.value("serious_adverse_events") == "Yes"
    assert any("without a description" in w for w in form.warnings)


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"first_device_at": datetime(2026, 3, 2, 9, 0)},
        {"monitoring_ended_at": datetime(2026, 3, 2, 11, 0)},
        {"ready_to_leave_at": datetime(2026, 3, 2, 10, 30)},
        {"predose_bp": BloodPressure(at=datetime(2026, 3, 2, 8, 50), systolic=1, diastolic=1)},
        {"session_bps": (BloodPressure(at=datetime(2026, 3, 2, 9, 40), systolic=1, diastolic=1),)},
    ],
)
def test_naive_datetime_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        build(**changes)


def test_unknown_concomitant_class_refused() -> None:
    with pytest.raises(ValueError, match="ketamine"):
        build(concomitant_classes=frozenset({"opioid", "ketamine"}))


# --- status ----------------------------------------------------------------------------


def test_due_date_is_seven_days_after_treatment() -> None:
    assert rems_due_date(date(2026, 3, 2)) == date(2026, 3, 9)
    assert rems_due_date(date(2026, 3, 2), due_days=3) == date(2026, 3, 5)


def test_status_pending_until_due_date_then_overdue() -> None:
    treated = date(2026, 3, 2)

    def status(today: date) -> FormStatus:
        return rems_form_status(treatment_date=treated, submitted_on=None, today=today)

    assert status(date(2026, 3, 2)) is FormStatus.PENDING
    assert status(date(2026, 3, 9)) is FormStatus.PENDING
    assert status(date(2026, 3, 10)) is FormStatus.OVERDUE


def test_status_submitted_even_late() -> None:
    status = rems_form_status(
        treatment_date=date(2026, 3, 2), submitted_on=date(2026, 3, 20), today=date(2026, 3, 21)
    )
    assert status is FormStatus.SUBMITTED
    assert status == "submitted"


def test_status_custom_due_days() -> None:
    status = rems_form_status(
        treatment_date=date(2026, 3, 2), submitted_on=None, today=date(2026, 3, 4), due_days=1
    )
    assert status is FormStatus.OVERDUE
