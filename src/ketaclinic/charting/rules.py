"""The clinical rules a session runs under, read from its course's protocol version.

Protocol versions are never edited (treatment.models.ProtocolVersion), so the parsed rules
are cached per version. A clinic's version saved before protocols carried chair-side safety
limits takes them from the protocol as shipped with ketaclinic (same key), and says so in
their source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any

from ketaclinic.clinical.dosing import ESKETAMINE_MINUTES_BETWEEN_DEVICES
from ketaclinic.clinical.monitoring import (
    DischargeCriteria,
    MonitoringThresholds,
    discharge_criteria_from_protocol,
    thresholds_from_protocol,
)
from ketaclinic.clinical.rems import DEFAULT_FORM_DUE_DAYS
from ketaclinic.clinical.safety_limits import SafetyLimits, safety_limits_from_protocol
from ketaclinic.protocols.loader import load_protocol
from ketaclinic.protocols.schema import PROTOCOL_KEYS


@dataclass(frozen=True)
class SessionRules:
    thresholds: MonitoringThresholds
    discharge: DischargeCriteria
    pregnancy_test_each_session: bool
    rems_form_due_days: int
    minutes_between_devices: int
    infusion_minutes: int | None
    no_driving_until: str
    limits: SafetyLimits
    # The IV preparation (clinical-reference.md section 4): bag and stock used by default.
    bag_ml: Decimal
    stock_mg_per_ml: Decimal


@lru_cache(maxsize=64)
def _rules(protocol_version_id: int, data_json: str) -> SessionRules:
    data: dict[str, Any] = json.loads(data_json)
    monitoring = data.get("monitoring", {})
    dose = data.get("dose", {})
    preparation = dose.get("preparation", {})
    return SessionRules(
        thresholds=thresholds_from_protocol(data),
        discharge=discharge_criteria_from_protocol(data),
        pregnancy_test_each_session=bool(monitoring.get("pregnancy_test_each_session", False)),
        rems_form_due_days=int(monitoring.get("rems_form_due_days", DEFAULT_FORM_DUE_DAYS)),
        minutes_between_devices=int(
            dose.get("minutes_between_devices", ESKETAMINE_MINUTES_BETWEEN_DEVICES)
        ),
        infusion_minutes=dose.get("infusion_minutes"),
        no_driving_until=str(data.get("discharge", {}).get("no_driving_until", "next_day")),
        limits=_limits(data),
        bag_ml=Decimal(str(preparation.get("bag_volume_ml", 100))),
        stock_mg_per_ml=Decimal(str(max(preparation.get("stock_mg_per_ml_options", [100])))),
    )


def _limits(data: dict[str, Any]) -> SafetyLimits:
    if "safety_limits" in data or data.get("key") not in PROTOCOL_KEYS:
        return safety_limits_from_protocol(data)
    shipped = load_protocol(data["key"])
    limits = safety_limits_from_protocol({**data, "safety_limits": shipped["safety_limits"]})
    sources = {
        name: f"as shipped with ketaclinic (this protocol version has none of its own): {text}"
        for name, text in limits.sources.items()
    }
    return replace(limits, sources=sources)


def session_rules(protocol: Any) -> SessionRules:
    """Rules of a treatment.models.ProtocolVersion (keyed by content too: test databases
    reuse primary keys)."""
    return _rules(protocol.pk, json.dumps(protocol.data, sort_keys=True))
