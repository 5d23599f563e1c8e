"""Protocol data files against clinical-reference.md sections 4 and 5."""

from __future__ import annotations

import ast
import copy
import inspect
from typing import Any

import pytest

from ketaclinic.clinical import eligibility, schedule
from ketaclinic.clinical.eligibility import load_policy, load_rules
from ketaclinic.clinical.schedule import ScheduleRules
from ketaclinic.protocols import loader, schema
from ketaclinic.protocols.loader import load_eligibility_data, load_protocol
from ketaclinic.protocols.schema import (
    PROTOCOL_KEYS,
    REQUIRED_KEYS,
    ProtocolError,
    validate_protocol,
)

SECTIONS_WITH_SOURCE = ("dose", "schedule", "monitoring", "thresholds", "discharge")


@pytest.mark.parametrize("key", PROTOCOL_KEYS)
def test_each_protocol_loads_with_required_sections(key: str) -> None:
    protocol = load_protocol(key)
    assert protocol["key"] == key
    assert protocol["version"] == 1
    assert set(REQUIRED_KEYS) <= set(protocol)
    assert protocol["sources"] and all(s.strip() for s in protocol["sources"])
    for section in SECTIONS_WITH_SOURCE:
        assert protocol[section]["source"].strip()
        assert isinstance(protocol[section]["verified"], bool)
    assert {"instrument": "phq9", "when": "before_each_session"} in protocol["measurement_schedule"]
    assert protocol["discharge"]["moaas_required"] == 5
    induction = protocol["schedule"]["phases"][0]
    assert induction["name"] == "induction"
    ScheduleRules.from_phase(induction)  # usable by the scheduler


@pytest.mark.parametrize("key", PROTOCOL_KEYS)
def test_thresholds_match_the_reference(key: str) -> None:
    thresholds = load_protocol(key)["thresholds"]
    assert thresholds["predose_caution_bp"] == [140, 90]
    assert thresholds["critical_bp"] == [180, 110]
    assert thresholds["critical_bp_confirm_readings"] == 2
    assert thresholds["critical_bp_confirm_min"] == 5
    assert thresholds["critical_bp_single"] == [200, 120]
    assert thresholds["critical_hr_bpm"] == 120
    assert thresholds["critical_hr_sustained_min"] == 5
    assert thresholds["spo2_floor_pct"] == 92
    assert thresholds["moaas_alert_at_or_below"] == 2
    provenance = thresholds["provenance"]
    assert provenance["predose_caution_bp"]["verified"] is True
    # one academic clinic's PRN triggers: unverified in the reference
    for name in ("critical_bp", "critical_bp_single", "critical_hr_bpm"):
        assert provenance[name]["verified"] is False
    assert thresholds["verified"] is False


def test_iv_standard_matches_reference() -> None:
    protocol = load_protocol("iv-ketamine-standard")
    assert protocol["route"] == "iv_ketamine"
    dose = protocol["dose"]
    assert dose["unit"] == "mg/kg"
    assert dose["default_mg_per_kg"] == 0.5
    assert dose["max_mg_per_kg"] == 0.5
    assert dose["steps_mg_per_kg"] == [0.5]
    assert dose["infusion_minutes"] == 40
    assert dose["preparation"]["bag_volume_ml_options"] == [100, 250]
    assert protocol["weight_basis"] == "actual"
    assert set(protocol["weight_basis_options"]) == {"actual", "ideal", "adjusted"}
    (induction,) = protocol["schedule"]["phases"]
    assert induction["sessions"] == 6
    assert induction["max_per_week"] == 3
    assert induction["no_consecutive_days"] is True
    assert protocol["monitoring"]["vitals_interval_min"] in range(10, 16)


def test_iv_titration_matches_reference() -> None:
    standard = load_protocol("iv-ketamine-standard")
    protocol = load_protocol("iv-ketamine-titration")
    dose = protocol["dose"]
    assert dose["steps_mg_per_kg"] == [0.5, 0.75, 1.0]
    assert dose["default_mg_per_kg"] == 0.5
    assert dose["max_mg_per_kg"] == 1.0
    assert dose["escalation"] == "clinician_chosen"
    assert dose["infusion_minutes"] == 40
    assert protocol["schedule"]["phases"] == standard["schedule"]["phases"]


def test_esketamine_trd_matches_label() -> None:
    protocol = load_protocol("esketamine-trd")
    assert protocol["route"] == "esketamine"
    assert protocol["weight_basis"] is None
    dose = protocol["dose"]
    assert dose["device_mg"] == 28 and dose["sprays_per_device"] == 2
    assert dose["minutes_between_devices"] == 5
    assert dose["first_dose_mg"] == 56
    assert dose["allowed_mg"] == [56, 84]
    assert dose["step_mg"] == 28 and dose["max_mg"] == 84
    (older,) = dose["age_variants"]
    assert older == {"min_age_years": 65, "first_dose_mg": 28, "allowed_mg": [28, 56, 84]}
    assert {kit["ndc"]: kit["mg"] for kit in dose["kits"]} == {
        "50458-028-02": 56,
        "50458-028-03": 84,
    }
    induction, weekly, maintenance = protocol["schedule"]["phases"]
    assert (induction["weeks"], induction["sessions_per_week"], induction["sessions"]) == (
        [1, 4],
        2,
        8,
    )
    assert (weekly["weeks"], weekly["sessions_per_week"], weekly["sessions"]) == ([5, 8], 1, 4)
    assert maintenance["weeks"] == [9, None]
    assert maintenance["sessions"] is None
    assert maintenance["interval_weeks_options"] == [1, 2]
    monitoring = protocol["monitoring"]
    assert monitoring["bp_at_min_after_dose"] == [40]
    assert monitoring["pulse_oximetry"] == "every_session"
    assert monitoring["prescriber_on_site"] is True
    assert monitoring["rems_form_due_days"] == 7
    discharge = protocol["discharge"]
    assert discharge["minimum_observation_min"] == 120
    assert discharge["observation_from"] == "first_device"


def test_esketamine_mdd_si_matches_label() -> None:
    protocol = load_protocol("esketamine-mdd-si")
    dose = protocol["dose"]
    assert dose["first_dose_mg"] == 84
    assert dose["allowed_mg"] == [56, 84]
    (induction,) = protocol["schedule"]["phases"]
    assert induction["weeks"] == [1, 4]
    assert induction["sessions_per_week"] == 2
    assert induction["sessions"] == 8
    assert protocol["discharge"]["minimum_observation_min"] == 120


def test_unknown_protocol() -> None:
    with pytest.raises(ProtocolError, match="unknown protocol 'ketamine-oral'"):
        load_protocol("ketamine-oral")


def test_load_returns_a_fresh_copy() -> None:
    first = load_protocol("iv-ketamine-standard")
    first["dose"]["max_mg_per_kg"] = 99
    assert load_protocol("iv-ketamine-standard")["dose"]["max_mg_per_kg"] == 0.5
    data = load_eligibility_data()
    data["rules"].clear()
    assert load_eligibility_data()["rules"]


def test_eligibility_data_builds_rules_and_policy() -> None:
    data = load_eligibility_data()
    rules = load_rules(data)
    assert len(rules) == len(data["rules"])
    assert load_policy(data).minimum_adequate_trials == 2


def test_routes_agree_with_the_rules_engine() -> None:
    assert schema.ROUTES == eligibility.ROUTES


def _broken(key: str, path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(load_protocol(key))
    *parents, last = path.split(".")
    target: Any = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is KeyError:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("key", "path", "value", "field"),
    [
        ("iv-ketamine-standard", "thresholds", KeyError, "thresholds"),
        ("iv-ketamine-standard", "key", "iv-other", "key"),
        ("iv-ketamine-standard", "route", "oral", "route"),
        ("iv-ketamine-standard", "sources", [], "sources"),
        ("iv-ketamine-standard", "dose.max_mg_per_kg", 5, "dose.max_mg_per_kg"),
        ("iv-ketamine-standard", "dose.default_mg_per_kg", 0.75, "dose.default_mg_per_kg"),
        ("iv-ketamine-titration", "dose.steps_mg_per_kg", [1.0, 0.5], "dose.steps_mg_per_kg"),
        ("iv-ketamine-standard", "dose.infusion_minutes", 0, "dose.infusion_minutes"),
        ("iv-ketamine-standard", "dose.unit", "mg", "dose.unit"),
        ("iv-ketamine-standard", "dose.source", "", "dose.source"),
        ("iv-ketamine-standard", "weight_basis", "lean", "weight_basis"),
        ("esketamine-trd", "weight_basis", "actual", "weight_basis"),
        ("esketamine-trd", "dose.allowed_mg", [56, 70], "dose.allowed_mg[1]"),
        ("esketamine-trd", "dose.max_mg", 112, "dose.max_mg"),
        ("esketamine-trd", "dose.first_dose_mg", 28, "dose.first_dose_mg"),
        ("esketamine-trd", "dose.age_variants.0.allowed_mg", [28, 56, 84, 112], "age_variants"),
        ("esketamine-trd", "schedule.phases.0.max_per_week", 9, "phases[0].max_per_week"),
        ("esketamine-trd", "schedule.phases.0.sessions", 9, "phases[0].sessions"),
        ("esketamine-trd", "schedule.phases.0.sessions", None, "phases[0].sessions"),
        ("esketamine-trd", "schedule.phases.0.allowed_weekdays", [0, 9], "allowed_weekdays"),
        ("esketamine-trd", "measurement_schedule.0.instrument", "bdi", "measurement_schedule"),
        ("esketamine-trd", "measurement_schedule.0.when", "hourly", "measurement_schedule"),
        ("esketamine-trd", "monitoring.vitals_interval_min", 0, "monitoring"),
        ("esketamine-trd", "thresholds.critical_bp", [130, 85], "thresholds"),
        ("esketamine-trd", "thresholds.predose_caution_bp", [90, 140], "predose_caution_bp"),
        ("esketamine-trd", "thresholds.spo2_floor_pct", 101, "spo2_floor_pct"),
        ("esketamine-trd", "thresholds.provenance.critical_bp", KeyError, "provenance"),
        ("esketamine-trd", "discharge.minimum_observation_min", 60, "minimum_observation_min"),
        ("esketamine-trd", "discharge.moaas_required", 6, "moaas_required"),
        ("esketamine-trd", "discharge.verified", "yes", "discharge.verified"),
    ],
)
def test_bad_protocol_data_names_file_and_field(
    key: str, path: str, value: Any, field: str
) -> None:
    data = _broken(key, path, value)
    with pytest.raises(ProtocolError) as error:
        validate_protocol(data, filename=f"{key}.json")
    message = str(error.value)
    assert message.startswith(f"{key}.json: ")
    assert field in message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("module", [schema, loader, eligibility, schedule])
def test_pure_modules_import_no_django(module: Any) -> None:
    tree = ast.parse(inspect.getsource(module))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.split(".")[0] == "django" for name in imported)
