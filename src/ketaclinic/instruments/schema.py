"""What an instrument is called and what a clinic's override file may change: the keys,
the errors, and the checks applied to override files (clinical-reference.md section 2).
Pure Python: no Django imports."""

from __future__ import annotations

import json
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


def apply_override(definition: dict[str, Any], path: Path) -> None:
    """Take item wording (by linkId) and the remission cut-off from a clinic's file at
    `path` into `definition`; refuse anything else (InstrumentOverrideError)."""
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
