"""The clinical rules a session runs under, read from its course's protocol version.

Protocol versions are never edited (treatment.models.ProtocolVersion), so the parsed rules
are cached per version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SessionRules:
    thresholds: MonitoringThresholds
    discharge: DischargeCriteria
    pregnancy_test_each_session: bool
    rems_form_due_days: int
    minutes_between_devices: int
    infusion_minutes: int | None
    no_driving_until: str


@lru_cache(maxsize=64)
def _rules(protocol_version_id: int, data_json: str) -> SessionRules:
    data: dict[str, Any] = json.loads(data_json)
    monitoring = data.get("monitoring", {})
    dose = data.get("dose", {})
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
    )


def session_rules(protocol: Any) -> SessionRules:
    """Rules of a treatment.models.ProtocolVersion (keyed by content too: test databases
    reuse primary keys)."""
    return _rules(protocol.pk, json.dumps(protocol.data, sort_keys=True))
