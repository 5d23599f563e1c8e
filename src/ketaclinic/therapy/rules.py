"""Therapy rules as data (rules.json): the integration window (a location may override it,
TherapySettings), the therapy appointment types and the structured fields of each note."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from ketaclinic.clinical.therapy import IntegrationWindow
from ketaclinic.organization.models import Location
from ketaclinic.therapy.models import TherapySettings

RULES_FILE = Path(__file__).resolve().parent / "rules.json"


@cache
def rules() -> dict[str, Any]:
    return json.loads(RULES_FILE.read_text())


def default_window() -> IntegrationWindow:
    row = rules()["integration_window"]
    return IntegrationWindow(row["opens_after_hours"], row["closes_after_hours"], row["source"])


def window_from(settings: TherapySettings | None) -> IntegrationWindow:
    if settings is None:
        return default_window()
    return IntegrationWindow(
        settings.integration_opens_after_hours,
        settings.integration_closes_after_hours,
        settings.source,
    )


def window_for(location: Location) -> IntegrationWindow:
    """The location's integration window: its own setting, else the clinic default."""
    return window_from(TherapySettings.objects.filter(location=location).first())


def windows_for(location_ids: set[int]) -> dict[int, IntegrationWindow]:
    """Each location's window, in one query."""
    rows = {s.location_id: s for s in TherapySettings.objects.filter(location_id__in=location_ids)}
    return {pk: window_from(rows.get(pk)) for pk in location_ids}


def therapy_type_keys() -> dict[str, str]:
    """Appointment type key -> note kind, for the three therapy visits."""
    return {key: kind for kind, key in rules()["appointment_types"].items()}


INTEGRATION_TYPE_KEY: str = rules()["appointment_types"]["integration"]


def note_fields(kind: str) -> list[tuple[str, str, bool]]:
    """(name, label, required) of a note kind's fields, then the common ones."""
    spec = rules()["note_kinds"].get(kind)
    if spec is None:
        return []
    return [tuple(f) for f in [*spec["fields"], *rules()["common_fields"]]]  # type: ignore[misc]


def risk_check_labels() -> dict[str, str]:
    return dict(rules()["risk_check_choices"])
