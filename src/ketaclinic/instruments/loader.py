"""Loading the instrument definitions (one FHIR-Questionnaire-shaped JSON file per
instrument) with a clinic's overrides applied; cached, callers get a fresh copy.
Pure Python: no Django imports."""

from __future__ import annotations

import copy
import functools
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from ketaclinic.instruments.schema import (
    INSTRUMENT_KEYS,
    OVERRIDES_ENV,
    UnknownInstrumentError,
    apply_override,
)


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
    text = (
        resources.files("ketaclinic.instruments")
        .joinpath(f"{key}.json")
        .read_text(encoding="utf-8")
    )
    definition: dict[str, Any] = json.loads(text)
    if override_dir:
        path = Path(override_dir) / f"{key}.json"
        if path.is_file():
            apply_override(definition, path)
    return definition
