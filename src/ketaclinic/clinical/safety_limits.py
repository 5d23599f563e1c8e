"""Chair-side safety limits: what a nurse or prescriber types is checked before it is saved.

Each check gives findings at one of two levels:

- **refuse**: the entry is almost certainly a typing error or outside what the protocol
  allows; nothing is saved and the message says why.
- **confirm**: the entry is possible but unusual; it is saved only once the person confirms
  it, and the confirmation is recorded.

Every limit is protocol data (`safety_limits` in the protocol file, plus the protocol's own
`dose` section), each with its source or marked as a ketaclinic default, so a clinic
changes them in a new protocol version. The sources of the shipped defaults:

- Vital-sign refusal ranges: OHDSI DataQualityDashboard plausible values for the OMOP CDM
  v5.3.1 (inst/csv/OMOP_CDMv5.3.1_Concept_Level.csv: systolic 60-300, diastolic 30-200,
  pulse 0-300, respiratory rate 0-100) and HCSRN VDW %BP_FLAG (systolic below 50 or above
  300 flagged; pulse pressure below 20 or above 100 flagged). Lower limits for heart rate,
  respiratory rate and SpO2, and every "confirm" range, are ketaclinic defaults.
- Pump rate: smart-pump drug libraries have soft limits (warn, may be overridden) and hard
  limits (cannot be) set by each organisation (ISMP, Guidelines for Optimizing Safe
  Implementation and Use of Smart Infusion Pumps, 2020); the factors are ketaclinic
  defaults.
- Infusion time: 40 minutes is the standard (Fava 2018, Mol Psychiatry; clinical-reference
  section 4); sessions of 2-100 minutes have been reported (Andrade 2017, J Clin
  Psychiatry 78:e852); the bands are ketaclinic defaults.
- IV dose: the protocol's steps and maximum mg/kg (clinical-reference section 4; Fava 2018
  tested up to 1.0 mg/kg). Esketamine: the label's doses for the age and its 28 mg steps.

Pure: no Django imports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

__all__ = [
    "VITAL_NAMES",
    "Band",
    "CheckInRule",
    "Finding",
    "Level",
    "QuestionnaireRule",
    "SafetyLimits",
    "check_drawn_volume",
    "check_entry_time",
    "check_esketamine_dose",
    "check_in_problems",
    "check_iv_dose",
    "check_pump_rate",
    "check_vitals",
    "safety_limits_from_protocol",
]

VITAL_NAMES: Mapping[str, str] = {
    "systolic": "Systolic BP",
    "diastolic": "Diastolic BP",
    "heart_rate": "Heart rate",
    "spo2": "SpO2",
    "respiratory_rate": "Respiratory rate",
}
VITAL_UNITS: Mapping[str, str] = {
    "systolic": "mmHg",
    "diastolic": "mmHg",
    "heart_rate": "bpm",
    "spo2": "%",
    "respiratory_rate": "/min",
}


class Level(StrEnum):
    REFUSE = "refuse"
    CONFIRM = "confirm"


@dataclass(frozen=True)
class Finding:
    """One problem with an entry; `code` is stable (it is what a confirmation names)."""

    level: Level
    code: str
    message: str


@dataclass(frozen=True)
class Band:
    """Inclusive range; values outside it trip the limit."""

    low: Decimal
    high: Decimal

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"a range's low {self.low} is above its high {self.high}")

    def contains(self, value: Decimal | int) -> bool:
        return self.low <= value <= self.high

    @property
    def text(self) -> str:
        return f"{_text(self.low)}-{_text(self.high)}"


@dataclass(frozen=True)
class QuestionnaireRule:
    """A questionnaire that must be done within `within_days` days before dosing (0: on
    the day); `hard_stop` blocks dosing when it is not, otherwise it is a reminder."""

    instrument: str
    within_days: int
    hard_stop: bool


@dataclass(frozen=True)
class CheckInRule:
    """A planned session is checked in from `days_before` its day to `days_after` it, and
    (when `in_order`) only once every earlier session of its course is finished."""

    days_before: int
    days_after: int
    in_order: bool


@dataclass(frozen=True)
class SafetyLimits:
    vitals_refuse: Mapping[str, Band]
    vitals_confirm: Mapping[str, Band]
    pulse_pressure_confirm: Band | None
    late_entry_max_hours: int
    check_in: CheckInRule
    questionnaires: tuple[QuestionnaireRule, ...]
    # IV infusions only (an esketamine protocol has no pump).
    pump_rate_confirm_pct: Decimal | None = None
    pump_rate_refuse_factor: Decimal | None = None
    infusion_minutes_refuse: Band | None = None
    infusion_minutes_confirm: Band | None = None
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)
    unverified: frozenset[str] = frozenset()

    def source_of(self, section: str) -> str:
        label = self.sources.get(section, "source not recorded")
        return f"{label} (unverified)" if section in self.unverified else label


def _text(value: Decimal | int | float) -> str:
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return f"{number.quantize(Decimal(1)):f}"
    return f"{number.normalize():f}"


# --- from the protocol file ------------------------------------------------------------


def _section(data: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, Mapping):
        raise ValueError(f"protocol field {where}.{name} must be an object")
    return value


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"protocol field {where} must be a number, got {value!r}")
    return Decimal(str(value))


def _whole(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"protocol field {where} must be a whole number from {low} to {high}")
    return value


def _band(data: Mapping[str, Any], name: str, where: str) -> Band:
    value = data.get(name)
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"protocol field {where}.{name} must be [low, high]")
    return Band(_number(value[0], f"{where}.{name}[0]"), _number(value[1], f"{where}.{name}[1]"))


def _provenance(
    section: Mapping[str, Any], name: str, sources: dict[str, str], unverified: set[str]
) -> None:
    where = f"safety_limits.{name}"
    source = section.get("source")
    verified = section.get("verified")
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"protocol field {where}.source must name the source")
    if not isinstance(verified, bool):
        raise ValueError(f"protocol field {where}.verified must be true or false")
    sources[name] = source
    if not verified:
        unverified.add(name)


def _infusion_limits(
    limits: Mapping[str, Any], sources: dict[str, str], unverified: set[str]
) -> dict[str, Any]:
    pump = _section(limits, "pump_rate", "safety_limits")
    _provenance(pump, "pump_rate", sources, unverified)
    where = "safety_limits.pump_rate"
    confirm_pct = _number(pump.get("confirm_if_off_by_pct"), f"{where}.confirm_if_off_by_pct")
    factor = _number(pump.get("refuse_if_off_by_factor"), f"{where}.refuse_if_off_by_factor")
    if not (0 < confirm_pct < 100) or factor <= 1 + confirm_pct / 100:
        raise ValueError(
            f"protocol field {where}: confirm_if_off_by_pct must be from 0 to 100 and "
            "refuse_if_off_by_factor above 1 plus that share"
        )
    minutes = _section(limits, "infusion_minutes", "safety_limits")
    _provenance(minutes, "infusion_minutes", sources, unverified)
    refuse = _band(minutes, "refuse_outside", "safety_limits.infusion_minutes")
    confirm = _band(minutes, "confirm_outside", "safety_limits.infusion_minutes")
    if not (refuse.low <= confirm.low and confirm.high <= refuse.high):
        raise ValueError(
            "protocol field safety_limits.infusion_minutes: the confirm range must lie inside "
            "the refuse range"
        )
    return {
        "pump_rate_confirm_pct": confirm_pct,
        "pump_rate_refuse_factor": factor,
        "infusion_minutes_refuse": refuse,
        "infusion_minutes_confirm": confirm,
    }


def safety_limits_from_protocol(protocol: Mapping[str, Any]) -> SafetyLimits:
    """The protocol's `safety_limits` section as checked values. Raises ValueError naming
    the field that is missing or malformed."""
    limits = _section(protocol, "safety_limits", "protocol")
    sources: dict[str, str] = {}
    unverified: set[str] = set()

    vitals = _section(limits, "vitals", "safety_limits")
    _provenance(vitals, "vitals", sources, unverified)
    refuse: dict[str, Band] = {}
    confirm: dict[str, Band] = {}
    for name in VITAL_NAMES:
        entry = _section(vitals, name, "safety_limits.vitals")
        where = f"safety_limits.vitals.{name}"
        refuse[name] = _band(entry, "refuse_outside", where)
        confirm[name] = _band(entry, "confirm_outside", where)
        if not (refuse[name].low <= confirm[name].low and confirm[name].high <= refuse[name].high):
            raise ValueError(
                f"protocol field {where}: the confirm range must lie inside the refuse range"
            )
    pulse_pressure = None
    if "pulse_pressure" in vitals:
        pulse_pressure = _band(
            _section(vitals, "pulse_pressure", "safety_limits.vitals"),
            "confirm_outside",
            "safety_limits.vitals.pulse_pressure",
        )

    infusion: dict[str, Any] = {}
    if protocol.get("route") == "iv_ketamine":
        infusion = _infusion_limits(limits, sources, unverified)

    entry_time = _section(limits, "entry_time", "safety_limits")
    _provenance(entry_time, "entry_time", sources, unverified)
    late_hours = _whole(
        entry_time.get("late_entry_max_hours"),
        "safety_limits.entry_time.late_entry_max_hours",
        1,
        24,
    )

    check_in = _section(limits, "check_in", "safety_limits")
    _provenance(check_in, "check_in", sources, unverified)
    rule = CheckInRule(
        days_before=_whole(
            check_in.get("days_before"), "safety_limits.check_in.days_before", 0, 30
        ),
        days_after=_whole(check_in.get("days_after"), "safety_limits.check_in.days_after", 0, 30),
        in_order=bool(check_in.get("earlier_sessions_finished_first", True)),
    )

    questionnaires = _section(limits, "predose_questionnaires", "safety_limits")
    _provenance(questionnaires, "predose_questionnaires", sources, unverified)
    rules = questionnaires.get("rules")
    if not isinstance(rules, list):
        raise ValueError("protocol field safety_limits.predose_questionnaires.rules must be a list")
    questionnaire_rules = []
    for index, item in enumerate(rules):
        where = f"safety_limits.predose_questionnaires.rules[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("instrument"), str):
            raise ValueError(f"protocol field {where} needs an instrument key")
        if not isinstance(item.get("hard_stop"), bool):
            raise ValueError(f"protocol field {where}.hard_stop must be true or false")
        questionnaire_rules.append(
            QuestionnaireRule(
                instrument=item["instrument"],
                within_days=_whole(item.get("within_days"), f"{where}.within_days", 0, 90),
                hard_stop=item["hard_stop"],
            )
        )
    return SafetyLimits(
        vitals_refuse=refuse,
        vitals_confirm=confirm,
        pulse_pressure_confirm=pulse_pressure,
        late_entry_max_hours=late_hours,
        check_in=rule,
        questionnaires=tuple(questionnaire_rules),
        **infusion,
        sources=sources,
        unverified=frozenset(unverified),
    )


# --- the checks ------------------------------------------------------------------------


def check_vitals(values: Mapping[str, int | None], limits: SafetyLimits) -> list[Finding]:
    """Each vital against its refusal and confirmation ranges, and the pulse pressure."""
    findings: list[Finding] = []
    for name, label in VITAL_NAMES.items():
        value = values.get(name)
        if value is None:
            continue
        unit = VITAL_UNITS[name]
        refuse, confirm = limits.vitals_refuse[name], limits.vitals_confirm[name]
        if not refuse.contains(value):
            findings.append(
                Finding(
                    Level.REFUSE,
                    f"{name}_implausible",
                    f"{label} {value} {unit} is outside {refuse.text} {unit}: check the "
                    "reading and the number typed.",
                )
            )
        elif not confirm.contains(value):
            findings.append(
                Finding(
                    Level.CONFIRM,
                    f"{name}_unusual",
                    f"{label} {value} {unit} is outside the usual {confirm.text} {unit}: "
                    "confirm it is right.",
                )
            )
    systolic, diastolic = values.get("systolic"), values.get("diastolic")
    bp_flagged = any(f.code.startswith(("systolic", "diastolic")) for f in findings)
    if systolic is not None and diastolic is not None and not bp_flagged:
        if diastolic >= systolic:
            findings.append(
                Finding(
                    Level.REFUSE,
                    "bp_inverted",
                    f"Diastolic {diastolic} must be below systolic {systolic}: check the numbers.",
                )
            )
        elif (
            limits.pulse_pressure_confirm is not None
            and not limits.pulse_pressure_confirm.contains(systolic - diastolic)
        ):
            findings.append(
                Finding(
                    Level.CONFIRM,
                    "pulse_pressure_unusual",
                    f"BP {systolic}/{diastolic} has a pulse pressure of {systolic - diastolic} "
                    f"mmHg, outside the usual {limits.pulse_pressure_confirm.text}: confirm it "
                    "is right.",
                )
            )
    return findings


def check_pump_rate(
    *,
    entered_ml_per_h: Decimal,
    computed_ml_per_h: Decimal,
    bag_ml: Decimal,
    limits: SafetyLimits,
) -> list[Finding]:
    """The pump rate the nurse set against the rate computed for today's dose and bag, and
    the infusion time it gives against the protocol's bands (IV protocols only)."""
    if (
        limits.pump_rate_refuse_factor is None
        or limits.pump_rate_confirm_pct is None
        or limits.infusion_minutes_refuse is None
        or limits.infusion_minutes_confirm is None
    ):
        raise ValueError("this protocol sets no pump-rate limits (not an IV protocol)")
    findings: list[Finding] = []
    if entered_ml_per_h <= 0 or computed_ml_per_h <= 0:
        return [Finding(Level.REFUSE, "pump_rate_missing", "Record the pump rate (mL/h).")]
    ratio = entered_ml_per_h / computed_ml_per_h
    minutes = (bag_ml / entered_ml_per_h * 60).quantize(Decimal("0.1"), ROUND_HALF_UP)
    what = (
        f"{_text(entered_ml_per_h)} mL/h runs the {_text(bag_ml)} mL bag in {_text(minutes)} "
        f"min; today's dose is computed at {_text(computed_ml_per_h)} mL/h"
    )
    factor = limits.pump_rate_refuse_factor
    if ratio > factor or ratio < 1 / factor:
        findings.append(
            Finding(
                Level.REFUSE,
                "pump_rate_far_off",
                f"{what}, more than {_text(factor)} times off. Check the rate typed.",
            )
        )
        return findings
    if not limits.infusion_minutes_refuse.contains(minutes):
        findings.append(
            Finding(
                Level.REFUSE,
                "infusion_time_implausible",
                f"{what}: an infusion time outside {limits.infusion_minutes_refuse.text} min.",
            )
        )
        return findings
    if abs(ratio - 1) * 100 > limits.pump_rate_confirm_pct:
        findings.append(
            Finding(
                Level.CONFIRM,
                "pump_rate_off",
                f"{what} ({_text(limits.pump_rate_confirm_pct)}% or more off): confirm the rate.",
            )
        )
    elif not limits.infusion_minutes_confirm.contains(minutes):
        findings.append(
            Finding(
                Level.CONFIRM,
                "infusion_time_unusual",
                f"{what}: outside the usual {limits.infusion_minutes_confirm.text} min. Confirm.",
            )
        )
    return findings


def check_drawn_volume(*, drawn_ml: Decimal, dose_volume_ml: Decimal) -> list[Finding]:
    """Less drawn than today's dose needs means less is given: confirm it."""
    if drawn_ml + Decimal("0.005") < dose_volume_ml:
        return [
            Finding(
                Level.CONFIRM,
                "drawn_below_dose",
                f"{_text(drawn_ml)} mL drawn is less than the {_text(dose_volume_ml)} mL today's "
                "dose needs: the patient will get less than the dose. Confirm.",
            )
        ]
    return []


def check_iv_dose(
    *,
    dose_mg: Decimal,
    basis_weight_kg: Decimal,
    weight_basis: str,
    steps_mg_per_kg: Sequence[Decimal],
    max_mg_per_kg: Decimal | None,
) -> list[Finding]:
    """A changed IV dose as mg/kg of the course's basis weight: refused above the
    protocol's maximum; confirmed when it is not one of the protocol's steps."""
    if dose_mg <= 0:
        return [Finding(Level.REFUSE, "dose_not_positive", "The dose must be more than 0 mg.")]
    per_kg = dose_mg / basis_weight_kg
    shown = per_kg.quantize(Decimal("0.01"), ROUND_HALF_UP)
    of = (
        f"{_text(dose_mg)} mg is {_text(shown)} mg/kg of {_text(basis_weight_kg)} kg "
        f"({weight_basis} weight)"
    )
    # The dose is rounded to 0.1 mg, so a step's own dose may be 0.05 mg off it (and a
    # little more for the division's last digit).
    slack = Decimal("0.06") / basis_weight_kg
    if max_mg_per_kg is not None and per_kg > max_mg_per_kg + slack:
        return [
            Finding(
                Level.REFUSE,
                "dose_above_protocol_maximum",
                f"{of}, above this protocol's maximum of {_text(max_mg_per_kg)} mg/kg.",
            )
        ]
    if steps_mg_per_kg and not any(abs(per_kg - step) <= slack for step in steps_mg_per_kg):
        steps = ", ".join(_text(step) for step in steps_mg_per_kg)
        return [
            Finding(
                Level.CONFIRM,
                "dose_off_protocol_step",
                f"{of}, not one of this protocol's steps ({steps} mg/kg). Confirm the dose.",
            )
        ]
    return []


def check_esketamine_dose(
    *, dose_mg: Decimal, planned_mg: Decimal, allowed_mg: Sequence[int], step_mg: int
) -> list[Finding]:
    """An esketamine dose must be one the label allows for this patient; a change of more
    than one step from the planned dose is confirmed."""
    allowed = ", ".join(str(mg) for mg in allowed_mg)
    if dose_mg != dose_mg.to_integral_value() or int(dose_mg) not in allowed_mg:
        return [
            Finding(
                Level.REFUSE,
                "esketamine_dose_not_allowed",
                f"Esketamine {_text(dose_mg)} mg is not a dose this protocol allows for the "
                f"patient ({allowed} mg).",
            )
        ]
    if abs(dose_mg - planned_mg) > step_mg:
        return [
            Finding(
                Level.CONFIRM,
                "esketamine_dose_jump",
                f"{_text(dose_mg)} mg is more than one {step_mg} mg step from the planned "
                f"{_text(planned_mg)} mg. Confirm the dose.",
            )
        ]
    return []


def check_entry_time(
    *,
    taken_at: datetime,
    now: datetime,
    checked_in_at: datetime | None,
    limits: SafetyLimits,
) -> list[Finding]:
    """A charted time may not be in the future, before the patient checked in, or more than
    the protocol's late-entry hours back."""
    if taken_at > now + timedelta(minutes=1):
        return [
            Finding(
                Level.REFUSE,
                "time_in_future",
                "The time is in the future. Enter the time it was taken.",
            )
        ]
    if checked_in_at is not None and taken_at < checked_in_at - timedelta(minutes=1):
        return [
            Finding(
                Level.REFUSE,
                "time_before_check_in",
                f"The time {taken_at:%H:%M} is before the patient checked in at "
                f"{checked_in_at:%H:%M}: check the time.",
            )
        ]
    if taken_at < now - timedelta(hours=limits.late_entry_max_hours):
        return [
            Finding(
                Level.REFUSE,
                "time_too_late",
                f"The time is more than {limits.late_entry_max_hours} hours ago: check the "
                "date and time.",
            )
        ]
    return []


def check_in_problems(
    *,
    session_day: date,
    today: date,
    rule: CheckInRule,
    unfinished_earlier: Sequence[int],
) -> list[str]:
    """Why a planned session cannot be checked in today (empty: it can). `session_day` is
    its planned day and `today` the location's date; `unfinished_earlier` the numbers of
    earlier sessions of the course not yet done, cancelled or skipped."""
    problems = []
    earliest = session_day - timedelta(days=rule.days_before)
    latest = session_day + timedelta(days=rule.days_after)
    if not earliest <= today <= latest:
        window = (
            "on its day"
            if rule.days_before == rule.days_after == 0
            else f"from {earliest:%b} {earliest.day} to {latest:%b} {latest.day}"
        )
        problems.append(
            f"This session is planned for {session_day:%A} {session_day:%b} {session_day.day}: "
            f"it can be checked in {window}. Reschedule it to check in today."
        )
    if rule.in_order and unfinished_earlier:
        numbers = ", ".join(str(n) for n in unfinished_earlier)
        problems.append(
            f"Earlier session{'s' if len(unfinished_earlier) > 1 else ''} {numbers} of this "
            "course must be done, cancelled or skipped (with a reason) first."
        )
    return problems
