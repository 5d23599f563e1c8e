"""Loading the protocol files shipped with ketaclinic (one JSON file per protocol, and
`eligibility-rules.json`), validated and cached; callers get a fresh copy they may change.
Pure Python: no Django imports."""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from typing import Any

from ketaclinic.protocols.schema import (
    ELIGIBILITY_FILE,
    PROTOCOL_KEYS,
    ProtocolError,
    validate_protocol,
)


def load_protocol(key: str) -> dict[str, Any]:
    """Return the validated protocol `key` (one of PROTOCOL_KEYS) as a fresh dict.

    Sources: clinical-reference.md sections 4 (dosing, schedules) and 5 (monitoring,
    thresholds, discharge); each section of the file names its own source.
    Raises ProtocolError for an unknown key or invalid file.
    """
    if key not in PROTOCOL_KEYS:
        raise ProtocolError(f"unknown protocol {key!r}; known: {', '.join(PROTOCOL_KEYS)}")
    return copy.deepcopy(_load_protocol(key))


def load_eligibility_data() -> dict[str, Any]:
    """Return the eligibility rules and trial policy data (clinical-reference.md section 3).

    Build rule objects with `ketaclinic.clinical.eligibility.load_rules` / `load_policy`,
    which validate the content.
    """
    return copy.deepcopy(_load_eligibility())


@functools.cache
def _load_protocol(key: str) -> dict[str, Any]:
    filename = f"{key}.json"
    data = _read(filename)
    validate_protocol(data, filename=filename)
    return data


@functools.cache
def _load_eligibility() -> dict[str, Any]:
    data = _read(ELIGIBILITY_FILE)
    if not isinstance(data.get("rules"), list) or not isinstance(data.get("trial_policy"), dict):
        raise ProtocolError(f"{ELIGIBILITY_FILE}: needs a 'rules' list and a 'trial_policy' object")
    return data


def _read(filename: str) -> dict[str, Any]:
    try:
        text = (
            resources.files("ketaclinic.protocols").joinpath(filename).read_text(encoding="utf-8")
        )
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ProtocolError(f"{filename}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ProtocolError(f"{filename}: must hold a JSON object")
    return data
