"""Reading a protocol version's data (the shape validated by ketaclinic.protocols)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ketaclinic.clinical.schedule import ScheduleRules


def induction_phase(data: dict[str, Any]) -> dict[str, Any]:
    """The first schedule phase: what a new course plans."""
    return data["schedule"]["phases"][0]


def schedule_rules(data: dict[str, Any]) -> ScheduleRules:
    return ScheduleRules.from_phase(induction_phase(data))


def standard_mg_per_kg(data: dict[str, Any]) -> Decimal:
    return Decimal(str(data["dose"]["default_mg_per_kg"]))


def allowed_mg_per_kg(data: dict[str, Any]) -> tuple[Decimal, ...]:
    """The doses (mg/kg) the protocol allows a prescriber to choose."""
    return tuple(Decimal(str(step)) for step in data["dose"].get("steps_mg_per_kg", []))


def max_mg_per_kg(data: dict[str, Any]) -> Decimal | None:
    value = data["dose"].get("max_mg_per_kg")
    return Decimal(str(value)) if value is not None else None


def infusion_minutes(data: dict[str, Any]) -> int:
    return int(data["dose"]["infusion_minutes"])


def esketamine_start_dose_mg(data: dict[str, Any], *, age_years: int) -> int:
    """Day-1 dose, with the label's age variant (65 and over: 28 mg)."""
    dose = data["dose"]
    first = dose["first_dose_mg"]
    for variant in dose.get("age_variants", []):
        if age_years >= variant["min_age_years"]:
            first = variant["first_dose_mg"]
    return int(first)


def esketamine_allowed_mg(data: dict[str, Any], *, age_years: int) -> tuple[int, ...]:
    """The session doses the protocol allows for the patient's age (label: 56 or 84 mg;
    65 and over also 28 mg), and the step between them."""
    dose = data["dose"]
    allowed = dose["allowed_mg"]
    for variant in dose.get("age_variants", []):
        if age_years >= variant["min_age_years"]:
            allowed = variant["allowed_mg"]
    return tuple(int(mg) for mg in allowed)


def esketamine_step_mg(data: dict[str, Any]) -> int:
    return int(data["dose"]["step_mg"])
