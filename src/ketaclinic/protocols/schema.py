"""The shape of a protocol file and the plausibility of its numbers (validate_protocol).

Every load is validated so that a mistyped file fails loudly (ProtocolError naming the
file and field) rather than dosing or monitoring from a wrong number. The numeric limits
here are plausibility guards against typing errors, not clinical limits. Pure Python: no
Django imports.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from ketaclinic.instruments.schema import INSTRUMENT_KEYS

PROTOCOL_KEYS: tuple[str, ...] = (
    "iv-ketamine-standard",
    "iv-ketamine-titration",
    "esketamine-trd",
    "esketamine-mdd-si",
)
ELIGIBILITY_FILE = "eligibility-rules.json"
# Kept here (not imported from clinical.eligibility) so the data layer does not depend on
# the rules engine; a test checks that the two agree.
ROUTES: tuple[str, ...] = ("iv_ketamine", "esketamine")
WEIGHT_BASES: tuple[str, ...] = ("actual", "ideal", "adjusted")
MEASUREMENT_TIMES: tuple[str, ...] = (
    "baseline",
    "before_each_session",
    "after_each_session",
    "end_of_induction",
)
REQUIRED_KEYS: tuple[str, ...] = (
    "key",
    "version",
    "name",
    "route",
    "indication",
    "sources",
    "dose",
    "weight_basis",
    "schedule",
    "measurement_schedule",
    "monitoring",
    "thresholds",
    "discharge",
)
# Plausibility guards (typing errors, e.g. 5 for 0.5), not clinical limits.
MAX_MG_PER_KG = 2.0
MAX_INFUSION_MINUTES = 240
# Spravato label maximum single dose (clinical-reference.md section 4).
ESKETAMINE_MAX_MG = 84
# Spravato REMS: observe at least 2 hours (clinical-reference.md section 5).
ESKETAMINE_MIN_OBSERVATION_MIN = 120


class ProtocolError(ValueError):
    """A protocol file is unknown or invalid; the message names the file and the field."""


# --- validation --------------------------------------------------------------------------


class _Checker:
    def __init__(self, filename: str) -> None:
        self.filename = filename

    def fail(self, where: str, message: str) -> ProtocolError:
        return ProtocolError(f"{self.filename}: {where}: {message}")

    def section(self, data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
        value = data.get(where.rsplit(".", 1)[-1])
        if not isinstance(value, Mapping):
            raise self.fail(where, "must be an object")
        return value

    def text(self, data: Mapping[str, Any], name: str, where: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{name}", "must be non-empty text")
        return value

    def flag(self, data: Mapping[str, Any], name: str, where: str) -> bool:
        value = data.get(name)
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{name}", "must be true or false")
        return value

    def number(
        self,
        data: Mapping[str, Any],
        name: str,
        where: str,
        *,
        low: float,
        high: float,
        whole: bool = False,
        low_open: bool = False,
    ) -> float:
        value = data.get(name)
        return self.value(
            value, f"{where}.{name}", low=low, high=high, whole=whole, low_open=low_open
        )

    def value(
        self,
        value: Any,
        where: str,
        *,
        low: float,
        high: float,
        whole: bool = False,
        low_open: bool = False,
    ) -> float:
        kind = numbers.Integral if whole else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(where, f"must be a {'whole ' if whole else ''}number, not {value!r}")
        too_low = value <= low if low_open else value < low
        if too_low or value > high:
            bound = f"({low}" if low_open else f"[{low}"
            raise self.fail(where, f"{value!r} is outside {bound}, {high}]")
        return value

    def sourced(self, data: Mapping[str, Any], where: str) -> None:
        self.text(data, "source", where)
        self.flag(data, "verified", where)


def validate_protocol(data: Mapping[str, Any], *, filename: str) -> None:
    """Check a protocol's structure and that its numbers are plausible.

    Raises ProtocolError("<filename>: <field>: <problem>").
    """
    check = _Checker(filename)
    if not isinstance(data, Mapping):
        raise check.fail("(file)", "must hold a JSON object")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise check.fail(", ".join(missing), "required field missing")
    expected_key = filename.rsplit("/", 1)[-1].removesuffix(".json")
    if data["key"] != expected_key:
        raise check.fail("key", f"{data['key']!r} does not match the file name")
    check.number(data, "version", "(file)", low=1, high=10_000, whole=True)
    check.text(data, "name", "(file)")
    check.text(data, "indication", "(file)")
    route = data["route"]
    if route not in ROUTES:
        raise check.fail("route", f"must be one of {', '.join(ROUTES)}, not {route!r}")
    sources = data["sources"]
    if (
        not isinstance(sources, list)
        or not sources
        or not all(isinstance(s, str) and s.strip() for s in sources)
    ):
        raise check.fail("sources", "must be a non-empty list of non-empty text")
    if route == "iv_ketamine":
        _check_iv_dose(check, data)
        if data["weight_basis"] not in WEIGHT_BASES:
            raise check.fail("weight_basis", f"must be one of {', '.join(WEIGHT_BASES)}")
    else:
        _check_esketamine_dose(check, data)
        if data["weight_basis"] is not None:
            raise check.fail("weight_basis", "must be null for a fixed (not per-kg) dose")
    _check_schedule(check, data)
    _check_measurements(check, data)
    _check_monitoring(check, data)
    _check_thresholds(check, data)
    _check_discharge(check, data, route)


def _check_iv_dose(check: _Checker, data: Mapping[str, Any]) -> None:
    dose = check.section(data, "dose")
    check.sourced(dose, "dose")
    if dose.get("unit") != "mg/kg":
        raise check.fail("dose.unit", "must be 'mg/kg' for IV ketamine")
    maximum = check.number(dose, "max_mg_per_kg", "dose", low=0, high=MAX_MG_PER_KG, low_open=True)
    default = check.number(dose, "default_mg_per_kg", "dose", low=0, high=maximum, low_open=True)
    steps = dose.get("steps_mg_per_kg")
    if not isinstance(steps, list) or not steps:
        raise check.fail("dose.steps_mg_per_kg", "must be a non-empty list")
    for position, step in enumerate(steps):
        check.value(step, f"dose.steps_mg_per_kg[{position}]", low=0, high=maximum, low_open=True)
    if steps != sorted(set(steps)):
        raise check.fail("dose.steps_mg_per_kg", "must rise step by step without repeats")
    if default not in steps:
        raise check.fail("dose.default_mg_per_kg", "must be one of the steps")
    check.number(dose, "infusion_minutes", "dose", low=1, high=MAX_INFUSION_MINUTES, whole=True)


def _check_mg_list(check: _Checker, values: Any, where: str, device: float, maximum: float) -> None:
    if not isinstance(values, list) or not values:
        raise check.fail(where, "must be a non-empty list")
    for position, value in enumerate(values):
        check.value(value, f"{where}[{position}]", low=device, high=maximum, whole=True)
        if value % device:
            raise check.fail(f"{where}[{position}]", f"{value} is not a whole number of devices")
    if values != sorted(set(values)):
        raise check.fail(where, "must rise without repeats")


def _check_esketamine_dose(check: _Checker, data: Mapping[str, Any]) -> None:
    dose = check.section(data, "dose")
    check.sourced(dose, "dose")
    if dose.get("unit") != "mg":
        raise check.fail("dose.unit", "must be 'mg' for esketamine")
    device = check.number(dose, "device_mg", "dose", low=1, high=ESKETAMINE_MAX_MG, whole=True)
    maximum = check.number(dose, "max_mg", "dose", low=device, high=ESKETAMINE_MAX_MG, whole=True)
    step = check.number(dose, "step_mg", "dose", low=device, high=maximum, whole=True)
    if step % device:
        raise check.fail("dose.step_mg", "must be a whole number of devices")
    check.number(dose, "minutes_between_devices", "dose", low=0, high=60, whole=True)
    variants = dose.get("age_variants", [])
    if not isinstance(variants, list):
        raise check.fail("dose.age_variants", "must be a list")
    for where, block in [("dose", dose)] + [
        (f"dose.age_variants[{i}]", v) for i, v in enumerate(variants)
    ]:
        if not isinstance(block, Mapping):
            raise check.fail(where, "must be an object")
        if block is not dose:
            check.number(block, "min_age_years", where, low=0, high=120, whole=True)
        _check_mg_list(check, block.get("allowed_mg"), f"{where}.allowed_mg", device, maximum)
        first = check.number(block, "first_dose_mg", where, low=device, high=maximum, whole=True)
        if first not in block["allowed_mg"]:
            raise check.fail(f"{where}.first_dose_mg", "must be one of allowed_mg")


def _check_schedule(check: _Checker, data: Mapping[str, Any]) -> None:
    schedule = check.section(data, "schedule")
    check.sourced(schedule, "schedule")
    phases = schedule.get("phases")
    if not isinstance(phases, list) or not phases:
        raise check.fail("schedule.phases", "must be a non-empty list")
    names: set[str] = set()
    for position, phase in enumerate(phases):
        where = f"schedule.phases[{position}]"
        if not isinstance(phase, Mapping):
            raise check.fail(where, "must be an object")
        name = check.text(phase, "name", where)
        if name in names:
            raise check.fail(f"{where}.name", f"{name!r} used twice")
        names.add(name)
        sessions = phase.get("sessions")
        if sessions is not None or position == 0:
            check.number(phase, "sessions", where, low=1, high=100, whole=True)
        per_week = check.number(phase, "max_per_week", where, low=1, high=7, whole=True)
        check.flag(phase, "no_consecutive_days", where)
        check.number(phase, "min_days_between", where, low=1, high=28, whole=True)
        weekdays = phase.get("allowed_weekdays")
        if not isinstance(weekdays, list) or not weekdays:
            raise check.fail(f"{where}.allowed_weekdays", "must be a non-empty list")
        for i, day in enumerate(weekdays):
            check.value(day, f"{where}.allowed_weekdays[{i}]", low=0, high=6, whole=True)
        if len(set(weekdays)) != len(weekdays):
            raise check.fail(f"{where}.allowed_weekdays", "has repeats")
        weeks = phase.get("weeks")
        if weeks is None:
            continue
        if not isinstance(weeks, list) or len(weeks) != 2:
            raise check.fail(f"{where}.weeks", "must be [first, last] (last may be null)")
        first = check.value(weeks[0], f"{where}.weeks[0]", low=1, high=520, whole=True)
        if weeks[1] is None:
            continue
        last = check.value(weeks[1], f"{where}.weeks[1]", low=first, high=520, whole=True)
        if sessions is not None and sessions > per_week * (last - first + 1):
            raise check.fail(f"{where}.sessions", "do not fit in the weeks at max_per_week")


def _check_measurements(check: _Checker, data: Mapping[str, Any]) -> None:
    entries = data["measurement_schedule"]
    if not isinstance(entries, list) or not entries:
        raise check.fail("measurement_schedule", "must be a non-empty list")
    for position, entry in enumerate(entries):
        where = f"measurement_schedule[{position}]"
        if not isinstance(entry, Mapping):
            raise check.fail(where, "must be an object")
        if entry.get("instrument") not in INSTRUMENT_KEYS:
            raise check.fail(
                f"{where}.instrument", f"unknown instrument {entry.get('instrument')!r}"
            )
        if entry.get("when") not in MEASUREMENT_TIMES:
            raise check.fail(f"{where}.when", f"must be one of {', '.join(MEASUREMENT_TIMES)}")


def _check_monitoring(check: _Checker, data: Mapping[str, Any]) -> None:
    monitoring = check.section(data, "monitoring")
    check.sourced(monitoring, "monitoring")
    check.number(monitoring, "vitals_interval_min", "monitoring", low=1, high=120, whole=True)
    if "recovery_vitals_interval_min" in monitoring:
        check.number(
            monitoring, "recovery_vitals_interval_min", "monitoring", low=1, high=120, whole=True
        )
    if not isinstance(monitoring.get("pregnancy_test_each_session", False), bool):
        raise check.fail("monitoring.pregnancy_test_each_session", "must be true or false")
    for name in ("sedation_scale", "dissociation_scale"):
        if monitoring.get(name) not in INSTRUMENT_KEYS:
            raise check.fail(f"monitoring.{name}", "must name an instrument")


def _bp_pair(check: _Checker, thresholds: Mapping[str, Any], name: str) -> tuple[int, int]:
    pair = thresholds.get(name)
    where = f"thresholds.{name}"
    if not isinstance(pair, list) or len(pair) != 2:
        raise check.fail(where, "must be [systolic, diastolic]")
    systolic = check.value(pair[0], f"{where}[0]", low=60, high=300, whole=True)
    diastolic = check.value(pair[1], f"{where}[1]", low=30, high=200, whole=True)
    if diastolic >= systolic:
        raise check.fail(where, "diastolic must be below systolic")
    return int(systolic), int(diastolic)


def _check_thresholds(check: _Checker, data: Mapping[str, Any]) -> None:
    thresholds = check.section(data, "thresholds")
    check.sourced(thresholds, "thresholds")
    predose = _bp_pair(check, thresholds, "predose_caution_bp")
    critical = _bp_pair(check, thresholds, "critical_bp")
    single = _bp_pair(check, thresholds, "critical_bp_single")
    if "predose_hold_bp" in thresholds:
        hold = _bp_pair(check, thresholds, "predose_hold_bp")
        if not (hold[0] >= predose[0] and hold[1] >= predose[1]):
            raise check.fail("thresholds.predose_hold_bp", "must be at or above predose_caution_bp")
    if not (predose[0] < critical[0] <= single[0] and predose[1] < critical[1] <= single[1]):
        raise check.fail(
            "thresholds",
            "BP limits must rise: predose_caution_bp < critical_bp <= critical_bp_single",
        )
    check.number(
        thresholds, "critical_bp_confirm_readings", "thresholds", low=1, high=5, whole=True
    )
    check.number(thresholds, "critical_bp_confirm_min", "thresholds", low=1, high=30, whole=True)
    check.number(thresholds, "critical_hr_bpm", "thresholds", low=60, high=250, whole=True)
    check.number(thresholds, "critical_hr_sustained_min", "thresholds", low=0, high=60, whole=True)
    check.number(thresholds, "spo2_floor_pct", "thresholds", low=70, high=100)
    check.number(thresholds, "moaas_alert_at_or_below", "thresholds", low=0, high=5, whole=True)
    provenance = check.section(thresholds, "thresholds.provenance")
    values = set(thresholds) - {"source", "verified", "provenance", "note"}
    for name in sorted(values):
        entry = provenance.get(name)
        if not isinstance(entry, Mapping):
            raise check.fail(
                f"thresholds.provenance.{name}", "missing: every threshold needs a source"
            )
        check.sourced(entry, f"thresholds.provenance.{name}")
    extra = sorted(set(provenance) - values)
    if extra:
        raise check.fail("thresholds.provenance", f"names unknown thresholds {extra}")


def _check_discharge(check: _Checker, data: Mapping[str, Any], route: str) -> None:
    discharge = check.section(data, "discharge")
    check.sourced(discharge, "discharge")
    low = ESKETAMINE_MIN_OBSERVATION_MIN if route == "esketamine" else 0
    check.number(discharge, "minimum_observation_min", "discharge", low=low, high=1440, whole=True)
    check.number(discharge, "moaas_required", "discharge", low=0, high=5, whole=True)
