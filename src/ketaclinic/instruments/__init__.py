"""Instrument definitions as data: one FHIR-Questionnaire-shaped JSON file per instrument.

Ranges, bands, alert rules and remission defaults follow clinical-reference.md section 2;
each file's "source" names the primary publication. Scoring itself lives in
`ketaclinic.clinical.scoring`. Pure Python: no Django imports here.

A clinic may keep a local folder (env KETACLINIC_INSTRUMENT_OVERRIDES) with `<key>.json`
files that change item wording (matched by linkId) and the remission cut-off, which
clinical-reference.md marks clinic-configurable. Nothing else is taken from them: item
counts, ranges, scoring and alert rules always come from the packaged definitions.
Loads are cached, so a changed override file is read on the next restart.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

INSTRUMENT_KEYS: tuple[str, ...] = (
    "phq9",
    "gad7",
    "qids-sr16",
    "madrs",
    "cadss",
    "moaas",
    "cssrs-screen",
)
OVERRIDES_ENV = "KETACLINIC_INSTRUMENT_OVERRIDES"
REMISSION_OPERATORS = ("<", "<=")
# Keys an override file may hold: the two things it may change, and labels for people.
OVERRIDE_KEYS = frozenset({"item", "remission", "resourceType", "id", "title", "note"})


class UnknownInstrumentError(KeyError):
    """An instrument key that ketaclinic does not define."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"unknown instrument {key!r}; known: {', '.join(INSTRUMENT_KEYS)}")

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0])


class InstrumentOverrideError(ValueError):
    """A clinic's override file cannot be used; the message names the file and the problem."""


def resolve_override_dir(override_dir: str | Path | None = None) -> str | None:
    """The override folder to use: the one given, else env KETACLINIC_INSTRUMENT_OVERRIDES."""
    if override_dir is None:
        override_dir = os.environ.get(OVERRIDES_ENV) or None
    return str(Path(override_dir).resolve()) if override_dir else None


def load_definition(key: str, override_dir: str | Path | None = None) -> dict[str, Any]:
    """Return the definition of instrument `key` (a fresh copy the caller may change).

    Source of ranges, bands, alerts and remission defaults: clinical-reference.md section 2.
    With an override folder holding `<key>.json`, item "text" (by linkId) and the
    "remission" object are taken from it; everything else is ignored.
    Raises UnknownInstrumentError for an unknown key and InstrumentOverrideError for an
    unusable override file.
    """
    if key not in INSTRUMENT_KEYS:
        raise UnknownInstrumentError(key)
    return copy.deepcopy(_load(key, resolve_override_dir(override_dir)))


@functools.cache
def _load(key: str, override_dir: str | None) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(f"{key}.json").read_text(encoding="utf-8")
    definition: dict[str, Any] = json.loads(text)
    if override_dir:
        path = Path(override_dir) / f"{key}.json"
        if path.is_file():
            _apply_override(definition, path)
    return definition


def _apply_override(definition: dict[str, Any], path: Path) -> None:
    try:
        local = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InstrumentOverrideError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(local, dict):
        raise InstrumentOverrideError(f"{path}: must hold a JSON object")
    # Anything else would be silently ignored, and a clinic would believe it had changed
    # a scoring rule or cut-off that it had not.
    unknown = sorted(set(local) - OVERRIDE_KEYS)
    if unknown:
        raise InstrumentOverrideError(
            f"{path}: only 'item' wording and 'remission' can be overridden, not {unknown}"
        )
    items = {item["linkId"]: item for item in definition["item"]}
    for entry in local.get("item", []):
        link_id = entry.get("linkId") if isinstance(entry, dict) else None
        if link_id not in items:
            raise InstrumentOverrideError(f"{path}: no item with linkId {link_id!r}")
        text = entry.get("text")
        if text is None:
            continue
        if not isinstance(text, str) or not text.strip():
            raise InstrumentOverrideError(f"{path}: item {link_id} text must be non-empty text")
        items[link_id]["text"] = text.strip()
    if "remission" in local:
        definition["scoring"]["remission"] = _checked_remission(
            local["remission"], definition["scoring"], path
        )


def _checked_remission(
    remission: Any, scoring: dict[str, Any], path: Path
) -> dict[str, Any] | None:
    if remission is None:  # the clinic uses no remission cut-off for this instrument
        return None
    if not isinstance(remission, dict):
        raise InstrumentOverrideError(f"{path}: remission must be an object or null")
    operator, value = remission.get("operator"), remission.get("value")
    if operator not in REMISSION_OPERATORS:
        raise InstrumentOverrideError(f"{path}: remission operator must be '<' or '<='")
    low, high = scoring.get("min"), scoring.get("max")
    if (
        low is None
        or isinstance(value, bool)
        or not isinstance(value, int)
        or not low <= value <= high + 1
    ):
        raise InstrumentOverrideError(
            f"{path}: remission value must be a whole number within the total's range"
        )
    return {
        "operator": operator,
        "value": value,
        "source": str(remission.get("source") or f"clinic override {path}"),
        "verified": bool(remission.get("verified", False)),
    }
