"""Session monitoring alerts and discharge readiness (clinical-reference.md section 5)."""

from __future__ import annotations

import ast
import inspect
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical import monitoring
from ketaclinic.clinical.monitoring import (
    AlertKind,
    DischargeCriteria,
    MonitoringThresholds,
    SedationReading,
    VitalReading,
    assess_discharge,
    discharge_criteria_from_protocol,
    evaluate_readings,
    next_reading_due,
    overdue_alert,
    predose_check,
    thresholds_from_protocol,
)
from ketaclinic.protocols.loader import load_protocol
from ketaclinic.protocols.schema import PROTOCOL_KEYS

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
IV = thresholds_from_protocol(load_protocol("iv-ketamine-standard"))
ESK = thresholds_from_protocol(load_protocol("esketamine-trd"))
ESK_DISCHARGE = discharge_criteria_from_protocol(load_protocol("esketamine-trd"))
IV_DISCHARGE = discharge_criteria_from_protocol(load_protocol("iv-ketamine-standard"))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def bp(minutes: float, systolic: int, diastolic: int, **other: Any) -> VitalReading:
    return VitalReading(at=at(minutes), systolic=systolic, diastolic=diastolic, **other)


def hr(minutes: float, rate: int) -> VitalReading:
    return VitalReading(at=at(minutes), heart_rate=rate)


def kinds(alerts: list[monitoring.MonitoringAlert]) -> list[tuple[AlertKind, datetime]]:
    return [(alert.kind, alert.at) for alert in alerts]


def vitals_only(readings: list[VitalReading], t: MonitoringThresholds = IV) -> list[Any]:
    return kinds(evaluate_readings(readings, [], t))


# --- purity --------------------------------------------------------------------------


def test_module_does_not_import_django() -> None:
    tree = ast.parse(inspect.getsource(monitoring))
    names = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert names
    assert not [name for name in names if name.split(".")[0] == "django"]


# --- thresholds from the protocol files ------------------------------------------------


@pytest.mark.parametrize("key", PROTOCOL_KEYS)
def test_thresholds_load_from_each_protocol(key: str) -> None:
    t = thresholds_from_protocol(load_protocol(key))
    assert (t.predose_caution_systolic, t.predose_caution_diastolic) == (140, 90)
    assert (t.critical_systolic, t.critical_diastolic) == (180, 110)
    assert (t.severe_systolic, t.severe_diastolic) == (200, 120)
    assert (t.critical_confirm_readings, t.critical_repeat_minutes) == (2, 5)
    assert t.critical_confirm_window_minutes == 15
    assert (t.heart_rate_high, t.heart_rate_sustained_minutes) == (120, 5)
    assert t.spo2_floor == 92
    assert t.deep_sedation_moaas == 2
    assert t.vitals_interval_min == (40 if key.startswith("esketamine") else 10)
    # The reference calls the PRN triggers and the SpO2 floor unverified.
    for name in (
        "critical_systolic",
        "critical_repeat_minutes",
        "severe_systolic",
        "heart_rate_high",
        "heart_rate_sustained_minutes",
        "spo2_floor",
        "critical_confirm_window_minutes",
    ):
        assert name in t.unverified, name
    assert "predose_caution_systolic" not in t.unverified
    assert "deep_sedation_moaas" not in t.unverified
    assert ("vitals_interval_min" in t.unverified) is key.startswith("iv-")
    assert "Spravato label" in t.sources["predose_caution_systolic"]
    assert "PRN triggers" in t.sources["critical_systolic"]
    assert t.source_of("spo2_floor").endswith("(unverified)")
    assert not t.source_of("deep_sedation_moaas").endswith("(unverified)")


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (("thresholds",), "thresholds"),
        (("monitoring",), "monitoring"),
        (("thresholds", "critical_bp"), "thresholds.critical_bp"),
        (("thresholds", "critical_hr_bpm"), "thresholds.critical_hr_bpm"),
        (("thresholds", "provenance"), "thresholds.provenance"),
        (("thresholds", "provenance", "spo2_floor_pct"), "thresholds.provenance.spo2_floor_pct"),
        (
            ("thresholds", "provenance", "critical_bp", "verified"),
            "thresholds.provenance.critical_bp.verified",
        ),
        (("monitoring", "vitals_interval_min"), "monitoring.vitals_interval_min"),
    ],
)
def test_missing_threshold_field_is_named(path: tuple[str, ...], named: str) -> None:
    protocol = load_protocol("iv-ketamine-standard")
    holder = protocol
    for part in path[:-1]:
        holder = holder[part]
    del holder[path[-1]]
    with pytest.raises(ValueError, match=re.escape(f"{named} is missing")):
        thresholds_from_protocol(protocol)


def test_malformed_threshold_values_are_refused() -> None:
    protocol = load_protocol("iv-ketamine-standard")
    protocol["thresholds"]["spo2_floor_pct"] = 92.5
    with pytest.raises(ValueError, match=r"thresholds\.spo2_floor_pct must be a whole number"):
        thresholds_from_protocol(protocol)
    protocol = load_protocol("iv-ketamine-standard")
    protocol["thresholds"]["critical_bp"] = [180]
    with pytest.raises(ValueError, match=r"thresholds\.critical_bp must be \[systolic"):
        thresholds_from_protocol(protocol)
    protocol = load_protocol("iv-ketamine-standard")
    protocol["thresholds"]["critical_bp_single"] = [170, 100]
    with pytest.raises(ValueError, match="must rise"):
        thresholds_from_protocol(protocol)


def test_confirm_window_grows_with_the_protocol() -> None:
    protocol = load_protocol("iv-ketamine-standard")
    protocol["thresholds"]["critical_bp_confirm_readings"] = 3
    protocol["thresholds"]["critical_bp_confirm_min"] = 10
    # Without a recheck window of its own, the protocol's window is derived.
    del protocol["thresholds"]["critical_bp_recheck_window_min"]
    t = thresholds_from_protocol(protocol)
    assert t.critical_confirm_window_minutes == 60
    with pytest.raises(ValueError, match="critical_confirm_window_minutes"):
        replace(t, critical_confirm_window_minutes=19)


# --- pre-dose check ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("systolic", "diastolic", "caution"),
    [
        (139, 89, False),
        (140, 80, True),
        (130, 90, True),
        (139, 90, True),
        (140, 89, True),
        (120, 70, False),
        (165, 100, True),
    ],
)
def test_predose_caution_at_or_above_140_90(systolic: int, diastolic: int, caution: bool) -> None:
    alert = predose_check(bp(0, systolic, diastolic), ESK)
    assert (alert is not None) is caution
    if alert is not None:
        assert alert.kind is AlertKind.PREDOSE_BP_CAUTION
        assert alert.at == T0
        assert f"{systolic}/{diastolic}" in alert.message
        assert "140/90" in alert.message
        assert "prescriber" in alert.message
        assert "Spravato label" in alert.source


def test_predose_check_needs_both_bp_values() -> None:
    with pytest.raises(ValueError, match="systolic and diastolic"):
        predose_check(VitalReading(at=T0, systolic=150), ESK)


# --- critical BP on repeated readings --------------------------------------------------


def test_one_critical_reading_does_not_alert() -> None:
    assert vitals_only([bp(0, 185, 100)]) == []


def test_two_critical_readings_five_minutes_apart_alert() -> None:
    alerts = evaluate_readings([bp(0, 185, 100), bp(5, 182, 105)], [], IV)
    assert kinds(alerts) == [(AlertKind.CRITICAL_BP_REPEATED, at(5))]
    assert "182/105" in alerts[0].message
    assert "180/110" in alerts[0].message
    assert "185/100" in alerts[0].message
    assert "PRN triggers" in alerts[0].source
    assert alerts[0].source.endswith("(unverified)")


def test_two_critical_readings_two_minutes_apart_not_yet() -> None:
    assert vitals_only([bp(0, 185, 100), bp(2, 186, 100)]) == []
    # A third reading 5 minutes after the first confirms it.
    assert vitals_only([bp(0, 185, 100), bp(2, 186, 100), bp(5, 184, 100)]) == [
        (AlertKind.CRITICAL_BP_REPEATED, at(5))
    ]
    assert vitals_only([bp(0, 185, 100), bp(4.9, 186, 100)]) == []


def test_critical_bp_both_sides_of_the_level() -> None:
    assert vitals_only([bp(0, 179, 109), bp(5, 179, 109)]) == []
    assert vitals_only([bp(0, 180, 100), bp(5, 180, 100)]) == [
        (AlertKind.CRITICAL_BP_REPEATED, at(5))
    ]
    # Diastolic alone is enough.
    assert vitals_only([bp(0, 150, 110), bp(5, 150, 112)]) == [
        (AlertKind.CRITICAL_BP_REPEATED, at(5))
    ]


def test_late_entry_out_of_order_gives_the_same_alert() -> None:
    readings = [bp(5, 182, 105), bp(10, 150, 90), bp(0, 185, 100)]
    assert vitals_only(readings) == [(AlertKind.CRITICAL_BP_REPEATED, at(5))]


def test_a_normal_reading_between_breaks_the_confirmation() -> None:
    assert vitals_only([bp(0, 185, 100), bp(3, 150, 90), bp(5, 185, 100)]) == []


def test_readings_without_bp_do_not_break_the_confirmation() -> None:
    readings = [bp(0, 185, 100), VitalReading(at=at(3), spo2=97, heart_rate=80), bp(5, 185, 100)]
    assert vitals_only(readings) == [(AlertKind.CRITICAL_BP_REPEATED, at(5))]


def test_critical_readings_too_far_apart_wait_for_a_recheck() -> None:
    # 20 minutes apart is outside the 15-minute window; the recheck at 25 confirms.
    assert vitals_only([bp(0, 185, 100), bp(20, 185, 100)]) == []
    assert vitals_only([bp(0, 185, 100), bp(15, 185, 100)]) == [
        (AlertKind.CRITICAL_BP_REPEATED, at(15))
    ]
    assert vitals_only([bp(0, 185, 100), bp(20, 185, 100), bp(25, 185, 100)]) == [
        (AlertKind.CRITICAL_BP_REPEATED, at(25))
    ]


def test_critical_bp_alerts_once_per_episode() -> None:
    high = [bp(m, 185, 100) for m in range(0, 25, 5)]
    assert vitals_only(high) == [(AlertKind.CRITICAL_BP_REPEATED, at(5))]
    # Back below the level, then high again: a new episode, a new alert.
    again = [*high, bp(25, 150, 90), bp(30, 185, 100), bp(35, 185, 100)]
    assert vitals_only(again) == [
        (AlertKind.CRITICAL_BP_REPEATED, at(5)),
        (AlertKind.CRITICAL_BP_REPEATED, at(35)),
    ]


def test_three_reading_confirmation_from_protocol() -> None:
    t = replace(IV, critical_confirm_readings=3, critical_confirm_window_minutes=None)
    assert t.critical_confirm_window_minutes == 30
    assert vitals_only([bp(0, 185, 100), bp(5, 185, 100)], t) == []
    assert vitals_only([bp(0, 185, 100), bp(5, 185, 100), bp(7, 185, 100)], t) == []
    assert vitals_only([bp(0, 185, 100), bp(5, 185, 100), bp(10, 185, 100)], t) == [
        (AlertKind.CRITICAL_BP_REPEATED, at(10))
    ]


# --- severe BP -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("systolic", "diastolic", "severe"),
    [(199, 119, False), (200, 100, True), (150, 120, True), (210, 125, True)],
)
def test_severe_bp_once_is_enough(systolic: int, diastolic: int, severe: bool) -> None:
    alerts = evaluate_readings([bp(0, systolic, diastolic)], [], IV)
    assert kinds(alerts) == ([(AlertKind.SEVERE_BP, T0)] if severe else [])
    if severe:
        assert f"{systolic}/{diastolic}" in alerts[0].message
        assert "200/120" in alerts[0].message


def test_severe_bp_does_not_repeat_nor_add_a_critical_alert() -> None:
    readings = [bp(0, 205, 100), bp(5, 206, 100), bp(10, 210, 100)]
    assert vitals_only(readings) == [(AlertKind.SEVERE_BP, at(0))]


def test_severe_after_critical_escalates() -> None:
    readings = [bp(0, 185, 100), bp(5, 185, 100), bp(10, 205, 100), bp(15, 205, 100)]
    assert vitals_only(readings) == [
        (AlertKind.CRITICAL_BP_REPEATED, at(5)),
        (AlertKind.SEVERE_BP, at(10)),
    ]


def test_severe_rearms_below_the_severe_level() -> None:
    readings = [bp(0, 205, 100), bp(5, 190, 100), bp(10, 206, 100)]
    assert vitals_only(readings) == [(AlertKind.SEVERE_BP, at(0)), (AlertKind.SEVERE_BP, at(10))]


# --- heart rate ----------------------------------------------------------------------


def test_sustained_tachycardia_alerts_after_five_minutes() -> None:
    assert vitals_only([hr(0, 130)]) == []
    assert vitals_only([hr(0, 130), hr(3, 125)]) == []
    alerts = evaluate_readings([hr(0, 130), hr(3, 135), hr(5, 125)], [], IV)
    assert kinds(alerts) == [(AlertKind.TACHYCARDIA_SUSTAINED, at(5))]
    assert "120 bpm" in alerts[0].message
    assert "135" in alerts[0].message
    assert "125" in alerts[0].message


def test_heart_rate_limit_both_sides() -> None:
    assert vitals_only([hr(0, 120), hr(5, 120), hr(10, 120)]) == []
    assert vitals_only([hr(0, 121), hr(5, 121)]) == [(AlertKind.TACHYCARDIA_SUSTAINED, at(5))]


def test_short_spike_does_not_alert() -> None:
    assert vitals_only([hr(0, 100), hr(2, 150), hr(4, 100), hr(6, 145), hr(8, 100)]) == []


def test_tachycardia_interrupted_restarts_the_clock() -> None:
    assert vitals_only([hr(0, 130), hr(3, 110), hr(5, 130), hr(9, 130)]) == []
    assert vitals_only([hr(0, 130), hr(3, 110), hr(5, 130), hr(10, 130)]) == [
        (AlertKind.TACHYCARDIA_SUSTAINED, at(10))
    ]


def test_tachycardia_alerts_once_per_episode() -> None:
    readings = [hr(m, 130) for m in range(0, 30, 2)]
    assert vitals_only(readings) == [(AlertKind.TACHYCARDIA_SUSTAINED, at(6))]
    readings += [hr(30, 90), hr(32, 130), hr(37, 130)]
    assert vitals_only(readings) == [
        (AlertKind.TACHYCARDIA_SUSTAINED, at(6)),
        (AlertKind.TACHYCARDIA_SUSTAINED, at(37)),
    ]


# --- SpO2 and sedation ---------------------------------------------------------------


def spo2(minutes: float, value: int) -> VitalReading:
    return VitalReading(at=at(minutes), spo2=value)


def test_low_spo2_both_sides_of_the_floor() -> None:
    assert vitals_only([spo2(0, 92), spo2(5, 99)]) == []
    alerts = evaluate_readings([spo2(0, 91)], [], IV)
    assert kinds(alerts) == [(AlertKind.LOW_SPO2, T0)]
    assert "91%" in alerts[0].message
    assert "92%" in alerts[0].message
    assert alerts[0].source.endswith("(unverified)")


def test_low_spo2_once_per_episode() -> None:
    assert vitals_only([spo2(0, 90), spo2(1, 89), spo2(2, 88)]) == [(AlertKind.LOW_SPO2, at(0))]
    assert vitals_only([spo2(0, 90), spo2(1, 95), spo2(2, 90)]) == [
        (AlertKind.LOW_SPO2, at(0)),
        (AlertKind.LOW_SPO2, at(2)),
    ]


def moaas(minutes: float, score: int) -> SedationReading:
    return SedationReading(at=at(minutes), moaas=score)


def test_deep_sedation_both_sides() -> None:
    assert evaluate_readings([], [moaas(0, 5), moaas(10, 3)], IV) == []
    alerts = evaluate_readings([], [moaas(0, 2)], IV)
    assert kinds(alerts) == [(AlertKind.DEEP_SEDATION, T0)]
    assert "MOAA/S 2" in alerts[0].message


def test_deep_sedation_once_per_episode_and_out_of_order() -> None:
    scores = [moaas(20, 1), moaas(10, 2), moaas(0, 4), moaas(30, 2)]
    assert kinds(evaluate_readings([], scores, IV)) == [(AlertKind.DEEP_SEDATION, at(10))]
    scores.append(moaas(25, 4))
    assert kinds(evaluate_readings([], scores, IV)) == [
        (AlertKind.DEEP_SEDATION, at(10)),
        (AlertKind.DEEP_SEDATION, at(30)),
    ]


def test_alerts_of_different_kinds_come_sorted_by_time() -> None:
    readings = [
        VitalReading(at=at(10), systolic=205, diastolic=100, spo2=90),
        hr(0, 130),
        hr(6, 130),
    ]
    alerts = evaluate_readings(readings, [moaas(8, 1)], IV)
    assert kinds(alerts) == [
        (AlertKind.TACHYCARDIA_SUSTAINED, at(6)),
        (AlertKind.DEEP_SEDATION, at(8)),
        (AlertKind.SEVERE_BP, at(10)),
        (AlertKind.LOW_SPO2, at(10)),
    ]


def test_readings_are_validated() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        VitalReading(at=datetime(2026, 3, 2, 15, 0), systolic=120, diastolic=80)
    with pytest.raises(ValueError, match="spo2"):
        VitalReading(at=T0, spo2=101)
    with pytest.raises(ValueError, match="below systolic"):
        VitalReading(at=T0, systolic=80, diastolic=90)
    with pytest.raises(ValueError, match="MOAA/S"):
        SedationReading(at=T0, moaas=6)


# --- readings due --------------------------------------------------------------------


def test_nothing_due_before_dosing() -> None:
    assert next_reading_due(dosing_started_at=None, last_reading_at=T0, now=at(60), t=IV) == (
        None,
        False,
    )
    assert next_reading_due(dosing_started_at=at(10), last_reading_at=None, now=T0, t=IV) == (
        None,
        False,
    )


def test_first_reading_due_one_interval_after_dosing() -> None:
    # The pre-dose reading (before dosing) does not move the due time.
    due = next_reading_due(dosing_started_at=T0, last_reading_at=at(-5), now=at(10), t=IV)
    assert due == (at(10), False)
    due = next_reading_due(dosing_started_at=T0, last_reading_at=None, now=at(10.5), t=IV)
    assert due == (at(10), True)


def test_next_reading_due_after_the_last_reading() -> None:
    assert next_reading_due(dosing_started_at=T0, last_reading_at=at(15), now=at(25), t=IV) == (
        at(25),
        False,
    )
    assert next_reading_due(dosing_started_at=T0, last_reading_at=at(15), now=at(26), t=IV) == (
        at(25),
        True,
    )
    # Esketamine: BP at about 40 minutes (REMS).
    assert next_reading_due(dosing_started_at=T0, last_reading_at=None, now=at(39), t=ESK) == (
        at(40),
        False,
    )


def test_overdue_alert() -> None:
    assert overdue_alert(dosing_started_at=T0, last_reading_at=None, now=at(10), t=IV) is None
    alert = overdue_alert(dosing_started_at=T0, last_reading_at=at(10), now=at(27), t=IV)
    assert alert is not None
    assert alert.kind is AlertKind.READING_OVERDUE
    assert alert.at == at(20)
    assert "7 min overdue" in alert.message


def test_due_times_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_reading_due(
            dosing_started_at=T0,
            last_reading_at=None,
            now=datetime(2026, 3, 2, 16, 0),
            t=IV,
        )


# --- discharge criteria from the protocol files ---------------------------------------


@pytest.mark.parametrize("key", PROTOCOL_KEYS)
def test_discharge_criteria_load_from_each_protocol(key: str) -> None:
    criteria = discharge_criteria_from_protocol(load_protocol(key))
    esketamine = key.startswith("esketamine")
    assert criteria.minimum_observation_min == (120 if esketamine else 60)
    assert criteria.observation_from == ("first_device" if esketamine else "end_of_infusion")
    assert criteria.moaas_required == 5
    assert criteria.vitals_margin_percent == 20
    assert criteria.require_no_open_alert
    assert criteria.require_escort
    assert criteria.require_instructions
    assert criteria.require_symptoms_resolved is esketamine
    assert criteria.spo2_floor == 92
    assert "vitals_margin_percent" in criteria.unverified
    assert "spo2_floor" in criteria.unverified
    assert ("minimum_observation_min" in criteria.unverified) is not esketamine
    if esketamine:
        assert "REMS" in criteria.sources["minimum_observation_min"]


@pytest.mark.parametrize(
    "name",
    [
        "minimum_observation_min",
        "observation_from",
        "moaas_required",
        "no_active_alert",
        "escort_required",
        "vitals_baseline_margin_pct",
        "sedation_dissociation_respiratory_resolved",
    ],
)
def test_missing_discharge_field_is_named(name: str) -> None:
    protocol = load_protocol("esketamine-trd")
    del protocol["discharge"][name]
    with pytest.raises(ValueError, match=rf"discharge\.{name} is missing"):
        discharge_criteria_from_protocol(protocol)


def test_margin_not_read_when_baseline_comparison_is_off() -> None:
    protocol = load_protocol("iv-ketamine-standard")
    protocol["discharge"]["vitals_near_baseline_required"] = False
    del protocol["discharge"]["vitals_baseline_margin_pct"]
    assert discharge_criteria_from_protocol(protocol).vitals_margin_percent is None


def test_esketamine_discharge_must_keep_the_rems_rules() -> None:
    protocol = load_protocol("esketamine-trd")
    protocol["discharge"]["minimum_observation_min"] = 90
    with pytest.raises(ValueError, match="REMS minimum of 120"):
        discharge_criteria_from_protocol(protocol)
    protocol = load_protocol("esketamine-trd")
    protocol["discharge"]["observation_from"] = "end_of_infusion"
    with pytest.raises(ValueError, match="first device"):
        discharge_criteria_from_protocol(protocol)
    protocol = load_protocol("iv-ketamine-standard")
    protocol["discharge"]["observation_from"] = "after_lunch"
    with pytest.raises(ValueError, match="observation_from must be one of"):
        discharge_criteria_from_protocol(protocol)


# --- discharge assessment ------------------------------------------------------------

BASELINE = VitalReading(at=at(-10), systolic=120, diastolic=80, heart_rate=70, spo2=98)
LATEST = VitalReading(at=at(115), systolic=130, diastolic=85, heart_rate=75, spo2=97)


def ready_kwargs(**changes: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "criteria": ESK_DISCHARGE,
        "now": at(120),
        "observation_start": T0,
        "latest_moaas": 5,
        "baseline": BASELINE,
        "latest": LATEST,
        "open_alerts": 0,
        "escort_confirmed": True,
        "instructions_given": True,
        "symptoms_resolved": True,
    }
    kwargs.update(changes)
    return kwargs


def failing(assessment: monitoring.DischargeAssessment) -> list[str]:
    return [result.key for result in assessment.criteria if not result.met]


def test_esketamine_ready_at_exactly_120_minutes() -> None:
    assessment = assess_discharge(**ready_kwargs())
    assert assessment.ready
    assert failing(assessment) == []
    assert assessment.earliest_time == at(120)
    assert [result.key for result in assessment.criteria] == [
        "observation_time",
        "moaas",
        "vitals_near_baseline",
        "symptoms_resolved",
        "no_open_alert",
        "escort",
        "instructions",
    ]


@pytest.mark.parametrize("minutes", [119, 119.99])
def test_esketamine_not_ready_before_120_minutes(minutes: float) -> None:
    assessment = assess_discharge(**ready_kwargs(now=at(minutes)))
    assert not assessment.ready
    assert failing(assessment) == ["observation_time"]
    assert assessment.earliest_time == at(120)
    explanation = assessment.criteria[0].explanation
    assert "120 min" in explanation
    assert "first device" in explanation


def test_iv_minimum_counts_from_end_of_infusion() -> None:
    end = at(40)
    latest = replace(LATEST, at=at(95))
    kwargs = ready_kwargs(criteria=IV_DISCHARGE, observation_start=end, latest=latest)
    assert not assess_discharge(**{**kwargs, "now": at(99)}).ready
    assessment = assess_discharge(**{**kwargs, "now": at(100)})
    assert assessment.ready
    assert assessment.earliest_time == at(100)
    assert "end of the infusion" in assessment.criteria[0].explanation
    assert "symptoms_resolved" not in [r.key for r in assessment.criteria]


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"observation_start": None}, "observation_time"),
        ({"latest_moaas": 4}, "moaas"),
        ({"latest_moaas": None}, "moaas"),
        ({"baseline": None}, "vitals_near_baseline"),
        ({"latest": None}, "vitals_near_baseline"),
        ({"latest": BASELINE}, "vitals_near_baseline"),
        ({"latest": replace(LATEST, at=at(-1))}, "vitals_near_baseline"),
        ({"latest": replace(LATEST, systolic=145)}, "vitals_near_baseline"),
        ({"latest": replace(LATEST, systolic=95)}, "vitals_near_baseline"),
        ({"latest": replace(LATEST, diastolic=97)}, "vitals_near_baseline"),
        ({"latest": replace(LATEST, heart_rate=85)}, "vitals_near_baseline"),
        ({"latest": replace(LATEST, heart_rate=None)}, "vitals_near_baseline"),
        ({"latest": replace(LATEST, spo2=91)}, "vitals_near_baseline"),
        ({"latest": replace(LATEST, spo2=None)}, "vitals_near_baseline"),
        ({"symptoms_resolved": False}, "symptoms_resolved"),
        ({"open_alerts": 1}, "no_open_alert"),
        ({"escort_confirmed": False}, "escort"),
        ({"instructions_given": False}, "instructions"),
    ],
)
def test_each_criterion_failing_alone(changes: dict[str, Any], key: str) -> None:
    assessment = assess_discharge(**ready_kwargs(**changes))
    assert not assessment.ready
    assert failing(assessment) == [key]
    assert all(result.explanation for result in assessment.criteria)


@pytest.mark.parametrize(
    ("changes", "met"),
    [
        ({"systolic": 144}, True),  # +20% of 120
        ({"systolic": 145}, False),
        ({"systolic": 96}, True),  # -20% of 120
        ({"systolic": 95}, False),
        ({"diastolic": 96}, True),
        ({"heart_rate": 84}, True),
        ({"heart_rate": 56}, True),
        ({"heart_rate": 55}, False),
        ({"spo2": 92}, True),
    ],
)
def test_vitals_margin_both_sides(changes: dict[str, int], met: bool) -> None:
    assessment = assess_discharge(**ready_kwargs(latest=replace(LATEST, **changes)))
    assert assessment.ready is met
    vitals = next(r for r in assessment.criteria if r.key == "vitals_near_baseline")
    assert vitals.met is met
    if not met:
        assert "20%" in vitals.explanation


def test_earliest_time_without_observation_start() -> None:
    assessment = assess_discharge(**ready_kwargs(observation_start=None))
    assert assessment.earliest_time is None
    assert "not recorded" in assessment.criteria[0].explanation


def test_open_alert_explanation_names_the_count() -> None:
    assessment = assess_discharge(**ready_kwargs(open_alerts=2))
    assert "2 open alert" in next(r.explanation for r in assessment.criteria if not r.met)


def test_unrequired_criteria_are_not_listed() -> None:
    criteria = replace(
        IV_DISCHARGE,
        require_escort=False,
        require_instructions=False,
        require_no_open_alert=False,
        vitals_margin_percent=None,
    )
    assessment = assess_discharge(
        **ready_kwargs(
            criteria=criteria,
            observation_start=at(40),
            now=at(100),
            baseline=None,
            open_alerts=3,
            escort_confirmed=False,
            instructions_given=False,
        )
    )
    assert assessment.ready
    assert [r.key for r in assessment.criteria] == [
        "observation_time",
        "moaas",
        "vitals_near_baseline",
    ]


def test_discharge_criteria_are_validated() -> None:
    with pytest.raises(ValueError, match="observation_from"):
        DischargeCriteria(
            minimum_observation_min=60,
            observation_from="lunch",
            moaas_required=5,
            vitals_margin_percent=20,
            require_no_open_alert=True,
            require_escort=True,
        )
    with pytest.raises(ValueError, match="open_alerts"):
        assess_discharge(**ready_kwargs(open_alerts=-1))


# --- properties ----------------------------------------------------------------------

minutes_st = st.integers(min_value=-10 * 60, max_value=4 * 60 * 60).map(
    lambda s: T0 + timedelta(seconds=s)
)


@st.composite
def vital_readings(draw: st.DrawFn, *, within_limits: bool = False) -> VitalReading:
    t = IV
    when = draw(minutes_st)
    if within_limits:
        systolic = draw(st.none() | st.integers(80, t.critical_systolic - 1))
        top = t.critical_diastolic - 1
        heart_rate = draw(st.none() | st.integers(40, t.heart_rate_high))
        spo2_value = draw(st.none() | st.integers(t.spo2_floor, 100))
    else:
        systolic = draw(st.none() | st.integers(80, 240))
        top = 140
        heart_rate = draw(st.none() | st.integers(40, 180))
        spo2_value = draw(st.none() | st.integers(80, 100))
    if systolic is not None:
        top = min(top, systolic - 1)
    diastolic = draw(st.none() | st.integers(40, top))
    return VitalReading(
        at=when,
        systolic=systolic,
        diastolic=diastolic,
        heart_rate=heart_rate,
        spo2=spo2_value,
        respiratory_rate=draw(st.none() | st.integers(6, 30)),
    )


sedation_st = st.builds(SedationReading, at=minutes_st, moaas=st.integers(0, 5))


@settings(max_examples=200, deadline=None)
@given(
    readings=st.lists(vital_readings(), max_size=25),
    sedation=st.lists(sedation_st, max_size=10),
    data=st.data(),
)
def test_order_of_entry_does_not_matter(
    readings: list[VitalReading], sedation: list[SedationReading], data: st.DataObject
) -> None:
    expected = evaluate_readings(readings, sedation, IV)
    shuffled = data.draw(st.permutations(readings))
    shuffled_sedation = data.draw(st.permutations(sedation))
    assert evaluate_readings(shuffled, shuffled_sedation, IV) == expected


@settings(max_examples=200, deadline=None)
@given(
    readings=st.lists(vital_readings(within_limits=True), max_size=25),
    sedation=st.lists(
        st.builds(SedationReading, at=minutes_st, moaas=st.integers(IV.deep_sedation_moaas + 1, 5)),
        max_size=10,
    ),
)
def test_no_alert_while_everything_is_within_limits(
    readings: list[VitalReading], sedation: list[SedationReading]
) -> None:
    assert evaluate_readings(readings, sedation, IV) == []


@settings(max_examples=200, deadline=None)
@given(
    readings=st.lists(vital_readings(), max_size=25),
    sedation=st.lists(sedation_st, max_size=10),
)
def test_alerts_are_sorted_and_come_from_readings(
    readings: list[VitalReading], sedation: list[SedationReading]
) -> None:
    alerts = evaluate_readings(readings, sedation, IV)
    times = [alert.at for alert in alerts]
    assert times == sorted(times)
    reading_times = {r.at for r in readings} | {s.at for s in sedation}
    assert all(alert.at in reading_times for alert in alerts)
    assert all(alert.message and alert.source for alert in alerts)


@settings(max_examples=200, deadline=None)
@given(
    readings=st.lists(vital_readings(), max_size=25),
    sedation=st.lists(sedation_st, max_size=10),
)
def test_an_alert_kind_never_repeats_without_a_return_within_limits(
    readings: list[VitalReading], sedation: list[SedationReading]
) -> None:
    alerts = evaluate_readings(readings, sedation, IV)
    ordered = sorted(readings, key=lambda r: r.at)
    for kind, back_within in (
        (AlertKind.LOW_SPO2, lambda r: r.spo2 is not None and r.spo2 >= IV.spo2_floor),
        (
            AlertKind.TACHYCARDIA_SUSTAINED,
            lambda r: r.heart_rate is not None and r.heart_rate <= IV.heart_rate_high,
        ),
    ):
        times = [a.at for a in alerts if a.kind is kind]
        for first, second in pairwise(times):
            assert any(back_within(r) for r in ordered if first <= r.at <= second)


optional_reading = st.none() | vital_readings()


@settings(max_examples=300, deadline=None)
@given(
    criteria=st.sampled_from([ESK_DISCHARGE, IV_DISCHARGE]),
    now=minutes_st,
    observation_start=st.none() | minutes_st,
    latest_moaas=st.none() | st.integers(0, 5),
    baseline=optional_reading,
    latest=optional_reading,
    open_alerts=st.integers(0, 3),
    escort_confirmed=st.booleans(),
    instructions_given=st.booleans(),
    symptoms_resolved=st.booleans(),
)
def test_ready_iff_every_criterion_is_met(**kwargs: Any) -> None:
    assessment = assess_discharge(**kwargs)
    assert assessment.ready is all(result.met for result in assessment.criteria)
    assert assessment.criteria
    if kwargs["observation_start"] is None:
        assert assessment.earliest_time is None
    else:
        minimum = timedelta(minutes=kwargs["criteria"].minimum_observation_min)
        assert assessment.earliest_time == kwargs["observation_start"] + minimum
        if assessment.ready:
            assert kwargs["now"] >= assessment.earliest_time


def test_predose_hold_from_protocol_blocks_at_or_above_the_hold_level() -> None:
    t = thresholds_from_protocol(load_protocol("iv-ketamine-standard"))
    assert (t.predose_hold_systolic, t.predose_hold_diastolic) == (180, 110)
    assert "predose_hold_systolic" in t.unverified
    hold = predose_check(bp(0, 180, 95), t)
    assert hold is not None and hold.kind is AlertKind.PREDOSE_BP_HOLD
    assert "do not dose" in hold.message
    caution = predose_check(bp(0, 179, 95), t)
    assert caution is not None and caution.kind is AlertKind.PREDOSE_BP_CAUTION


def test_hold_below_caution_is_refused() -> None:
    with pytest.raises(ValueError, match="at or above the pre-dose caution"):
        replace(IV, predose_hold_systolic=130, predose_hold_diastolic=85)


def test_recovery_interval_applies_after_dosing_ends() -> None:
    t = thresholds_from_protocol(load_protocol("iv-ketamine-standard"))
    assert (t.vitals_interval_min, t.recovery_interval_min) == (10, 15)
    due, _ = next_reading_due(dosing_started_at=T0, last_reading_at=at(30), now=at(31), t=t)
    assert due == at(40)
    due, _ = next_reading_due(
        dosing_started_at=T0, last_reading_at=at(45), now=at(46), t=t, dosing_ended_at=at(40)
    )
    assert due == at(60)
    # A reading taken before the end of dosing is still followed by the dosing interval.
    due, _ = next_reading_due(
        dosing_started_at=T0, last_reading_at=at(38), now=at(39), t=t, dosing_ended_at=at(40)
    )
    assert due == at(48)
