"""Chair-side safety limits read from the protocol data, and the checks built on them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.monitoring import VitalReading, bp_recheck_prompt, thresholds_from_protocol
from ketaclinic.clinical.safety_limits import (
    Level,
    check_drawn_volume,
    check_entry_time,
    check_esketamine_dose,
    check_in_problems,
    check_iv_dose,
    check_pump_rate,
    check_vitals,
    safety_limits_from_protocol,
)
from ketaclinic.protocols.loader import load_protocol
from ketaclinic.protocols.schema import PROTOCOL_KEYS

NOW = datetime(2027, 1, 6, 17, 0, tzinfo=UTC)
IV = safety_limits_from_protocol(load_protocol("iv-ketamine-standard"))


def _codes(findings: list) -> dict[str, Level]:
    return {f.code: f.level for f in findings}


@pytest.mark.parametrize("key", PROTOCOL_KEYS)
def test_every_shipped_protocol_has_sourced_limits(key: str) -> None:
    limits = safety_limits_from_protocol(load_protocol(key))
    for section in ("vitals", "entry_time", "check_in", "predose_questionnaires"):
        assert limits.source_of(section) != "source not recorded"
    iv = load_protocol(key)["route"] == "iv_ketamine"
    assert (limits.pump_rate_refuse_factor is not None) == iv
    assert {r.instrument for r in limits.questionnaires} == {"phq9", "cssrs-screen"}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"systolic": 130, "diastolic": 20}, {"diastolic_implausible": Level.REFUSE}),
        ({"systolic": 130, "diastolic": 85}, {}),
        ({"systolic": 230, "diastolic": 120}, {"systolic_unusual": Level.CONFIRM}),
        ({"systolic": 301, "diastolic": 90}, {"systolic_implausible": Level.REFUSE}),
        ({"systolic": 150, "diastolic": 40}, {"pulse_pressure_unusual": Level.CONFIRM}),
        ({"systolic": 90, "diastolic": 95}, {"bp_inverted": Level.REFUSE}),
        ({"heart_rate": 19}, {"heart_rate_implausible": Level.REFUSE}),
        ({"heart_rate": 155}, {"heart_rate_unusual": Level.CONFIRM}),
        ({"spo2": 88}, {"spo2_unusual": Level.CONFIRM}),
        ({"respiratory_rate": 3}, {"respiratory_rate_implausible": Level.REFUSE}),
    ],
)
def test_vitals_against_their_ranges(values: dict, expected: dict) -> None:
    assert _codes(check_vitals(values, IV)) == expected


def test_a_clinic_changes_a_range_in_its_protocol() -> None:
    data = load_protocol("iv-ketamine-standard")
    data["safety_limits"]["vitals"]["diastolic"]["refuse_outside"] = [15, 200]
    data["safety_limits"]["vitals"]["diastolic"]["confirm_outside"] = [15, 130]
    findings = check_vitals({"systolic": 130, "diastolic": 20}, safety_limits_from_protocol(data))
    # No longer refused: only the wide pulse pressure asks for a confirmation.
    assert _codes(findings) == {"pulse_pressure_unusual": Level.CONFIRM}


@pytest.mark.parametrize(
    "broken",
    [
        lambda d: d["safety_limits"]["vitals"].pop("spo2"),
        lambda d: d["safety_limits"]["vitals"]["systolic"].update(confirm_outside=[40, 220]),
        lambda d: d["safety_limits"]["pump_rate"].update(refuse_if_off_by_factor=1),
        lambda d: d["safety_limits"]["check_in"].update(days_before=-1),
        lambda d: d["safety_limits"]["predose_questionnaires"]["rules"][0].pop("hard_stop"),
        lambda d: d["safety_limits"]["vitals"].pop("source"),
        lambda d: d.pop("safety_limits"),
    ],
)
def test_a_malformed_limit_is_refused_by_name(broken) -> None:
    data = load_protocol("iv-ketamine-standard")
    broken(data)
    with pytest.raises(ValueError, match="safety_limits"):
        safety_limits_from_protocol(data)


def test_pump_rate_checks() -> None:
    def check(rate: str) -> dict:
        return _codes(
            check_pump_rate(
                entered_ml_per_h=Decimal(rate),
                computed_ml_per_h=Decimal("150"),
                bag_ml=Decimal("100"),
                limits=IV,
            )
        )

    assert check("150") == {}
    assert check("9999") == {"pump_rate_far_off": Level.REFUSE}
    assert check("60") == {"pump_rate_far_off": Level.REFUSE}
    assert check("170") == {"pump_rate_off": Level.CONFIRM}
    assert check("155") == {}
    message = check_pump_rate(
        entered_ml_per_h=Decimal("9999"),
        computed_ml_per_h=Decimal("150"),
        bag_ml=Decimal("100"),
        limits=IV,
    )[0].message
    assert "runs the 100 mL bag in 0.6 min" in message and "150 mL/h" in message


def test_infusion_time_bands_apply_when_the_rate_is_near() -> None:
    data = load_protocol("iv-ketamine-standard")
    data["safety_limits"]["pump_rate"]["confirm_if_off_by_pct"] = 40
    data["safety_limits"]["pump_rate"]["refuse_if_off_by_factor"] = 3
    limits = safety_limits_from_protocol(data)
    # 190 mL/h: 31.6 min for 100 mL, within the usual 30-60.
    assert (
        check_pump_rate(
            entered_ml_per_h=Decimal("190"),
            computed_ml_per_h=Decimal("150"),
            bag_ml=Decimal("100"),
            limits=limits,
        )
        == []
    )
    # 220 mL/h: 27.3 min, outside the usual band but not refused.
    findings = check_pump_rate(
        entered_ml_per_h=Decimal("220"),
        computed_ml_per_h=Decimal("150"),
        bag_ml=Decimal("100"),
        limits=limits,
    )
    assert _codes(findings) == {"pump_rate_off": Level.CONFIRM}


def test_an_esketamine_protocol_has_no_pump_limits() -> None:
    limits = safety_limits_from_protocol(load_protocol("esketamine-trd"))
    with pytest.raises(ValueError, match="pump-rate"):
        check_pump_rate(
            entered_ml_per_h=Decimal("150"),
            computed_ml_per_h=Decimal("150"),
            bag_ml=Decimal("100"),
            limits=limits,
        )


def test_drawn_less_than_the_dose_needs_is_confirmed() -> None:
    assert check_drawn_volume(drawn_ml=Decimal("0.40"), dose_volume_ml=Decimal("0.35")) == []
    assert _codes(check_drawn_volume(drawn_ml=Decimal("0.30"), dose_volume_ml=Decimal("0.35"))) == {
        "drawn_below_dose": Level.CONFIRM
    }


@pytest.mark.parametrize(
    ("dose", "expected"),
    [
        ("35.2", {}),
        ("35.3", {}),
        ("60", {"dose_above_protocol_maximum": Level.REFUSE}),
        ("30", {"dose_off_protocol_step": Level.CONFIRM}),
        ("0", {"dose_not_positive": Level.REFUSE}),
    ],
)
def test_iv_dose_changes_by_mg_per_kg(dose: str, expected: dict) -> None:
    findings = check_iv_dose(
        dose_mg=Decimal(dose),
        basis_weight_kg=Decimal("70.5"),
        weight_basis="actual",
        steps_mg_per_kg=[Decimal("0.5")],
        max_mg_per_kg=Decimal("0.5"),
    )
    assert _codes(findings) == expected


def test_the_refusal_names_the_dose_per_kg() -> None:
    [finding] = check_iv_dose(
        dose_mg=Decimal("60"),
        basis_weight_kg=Decimal("69.8"),
        weight_basis="actual",
        steps_mg_per_kg=[Decimal("0.5")],
        max_mg_per_kg=Decimal("0.5"),
    )
    assert "60 mg is 0.86 mg/kg of 69.8 kg (actual weight)" in finding.message
    assert "maximum of 0.5 mg/kg" in finding.message


@given(
    weight=st.decimals(min_value=Decimal("40"), max_value=Decimal("200"), places=1),
    step=st.sampled_from([Decimal("0.5"), Decimal("0.75"), Decimal("1.0")]),
)
def test_every_protocol_step_dose_passes(weight: Decimal, step: Decimal) -> None:
    dose = (weight * step).quantize(Decimal("0.1"))
    assert (
        check_iv_dose(
            dose_mg=dose,
            basis_weight_kg=weight,
            weight_basis="actual",
            steps_mg_per_kg=[Decimal("0.5"), Decimal("0.75"), Decimal("1.0")],
            max_mg_per_kg=Decimal("1.0"),
        )
        == []
    )


def test_esketamine_doses_follow_the_label() -> None:
    def check(dose: str, planned: str = "56", allowed: tuple = (56, 84)) -> dict:
        return _codes(
            check_esketamine_dose(
                dose_mg=Decimal(dose), planned_mg=Decimal(planned), allowed_mg=allowed, step_mg=28
            )
        )

    assert check("84") == {}
    assert check("28") == {"esketamine_dose_not_allowed": Level.REFUSE}
    assert check("28", allowed=(28, 56, 84)) == {}
    assert check("84", planned="28", allowed=(28, 56, 84)) == {
        "esketamine_dose_jump": Level.CONFIRM
    }
    assert check("60") == {"esketamine_dose_not_allowed": Level.REFUSE}


def test_entry_times() -> None:
    checked_in = NOW - timedelta(hours=1)

    def check(at: datetime) -> dict:
        return _codes(check_entry_time(taken_at=at, now=NOW, checked_in_at=checked_in, limits=IV))

    assert check(NOW - timedelta(minutes=30)) == {}
    assert check(NOW + timedelta(minutes=5)) == {"time_in_future": Level.REFUSE}
    assert check(NOW - timedelta(hours=2)) == {"time_before_check_in": Level.REFUSE}
    no_check_in = check_entry_time(
        taken_at=NOW - timedelta(hours=13), now=NOW, checked_in_at=None, limits=IV
    )
    assert _codes(no_check_in) == {"time_too_late": Level.REFUSE}


def test_check_in_on_its_day_and_in_order() -> None:
    rule = IV.check_in
    day = date(2027, 1, 6)
    assert check_in_problems(session_day=day, today=day, rule=rule, unfinished_earlier=[]) == []
    early = check_in_problems(
        session_day=date(2027, 1, 20), today=day, rule=rule, unfinished_earlier=[]
    )
    assert "planned for Wednesday Jan 20" in early[0] and "on its day" in early[0]
    out_of_order = check_in_problems(session_day=day, today=day, rule=rule, unfinished_earlier=[1])
    assert out_of_order == [
        "Earlier session 1 of this course must be done, cancelled or skipped (with a reason) first."
    ]


def test_a_wider_check_in_window_from_the_protocol() -> None:
    data = load_protocol("iv-ketamine-standard")
    data["safety_limits"]["check_in"].update(days_before=1, days_after=2)
    rule = safety_limits_from_protocol(data).check_in
    day = date(2027, 1, 6)
    for today in (date(2027, 1, 5), date(2027, 1, 8)):
        assert (
            check_in_problems(session_day=day, today=today, rule=rule, unfinished_earlier=[]) == []
        )
    assert check_in_problems(
        session_day=day, today=date(2027, 1, 9), rule=rule, unfinished_earlier=[]
    )


# --- the repeat BP after one critical reading -------------------------------------------------

T = thresholds_from_protocol(load_protocol("iv-ketamine-standard"))


def _bp(minutes: int, systolic: int, diastolic: int) -> VitalReading:
    return VitalReading(at=NOW + timedelta(minutes=minutes), systolic=systolic, diastolic=diastolic)


def test_one_critical_reading_prompts_a_repeat_in_the_window() -> None:
    prompt = bp_recheck_prompt([_bp(0, 130, 80), _bp(10, 185, 112)], T, NOW + timedelta(minutes=11))
    assert prompt is not None and not prompt.late
    assert prompt.due_from == NOW + timedelta(minutes=15)
    assert prompt.due_by == NOW + timedelta(minutes=25)
    assert "repeat the reading 5-15 minutes after it" in prompt.message
    late = bp_recheck_prompt([_bp(10, 185, 112)], T, NOW + timedelta(minutes=30))
    assert late is not None and late.late and "overdue" in late.message


def test_no_prompt_once_rechecked_below_confirmed_or_severe() -> None:
    later = NOW + timedelta(minutes=40)
    assert bp_recheck_prompt([_bp(10, 185, 112), _bp(16, 150, 95)], T, later) is None
    assert bp_recheck_prompt([_bp(10, 185, 112), _bp(16, 186, 114)], T, later) is None
    assert bp_recheck_prompt([_bp(10, 205, 125)], T, later) is None
    assert bp_recheck_prompt([], T, later) is None


def test_the_recheck_window_is_protocol_data() -> None:
    data = load_protocol("iv-ketamine-standard")
    data["thresholds"]["critical_bp_recheck_window_min"] = 10
    prompt = bp_recheck_prompt([_bp(0, 185, 112)], thresholds_from_protocol(data), NOW)
    assert prompt is not None and prompt.due_by == NOW + timedelta(minutes=10)
