"""Scoring of the measurement-based-care instruments (clinical-reference.md section 2).

Definitions (items, ranges, bands, alert rules, remission defaults) are data in
`ketaclinic.instruments`; this module validates answers and applies the rules. Sources:
PHQ-9 Kroenke 2001; GAD-7 Spitzer 2006; QIDS-SR16 Rush 2003 with ids-qids.org domain
scoring; MADRS Montgomery & Asberg 1979 with Snaith 1986 bands; CADSS Bremner 1998;
MOAA/S Chernik 1990; C-SSRS screener Posner 2011 (NINDS CDE triage). Pure: no Django.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ketaclinic.instruments.loader import load_definition, resolve_override_dir
from ketaclinic.instruments.schema import (
    INSTRUMENT_KEYS,
    REMISSION_OPERATORS,
    UnknownInstrumentError,
)

__all__ = [
    "INSTRUMENT_KEYS",
    "QIDS16_DOMAINS",
    "Band",
    "Instrument",
    "InvalidResponseError",
    "ResponseStatus",
    "ScoreResult",
    "UnknownInstrumentError",
    "band_for",
    "cssrs_risk",
    "get_instrument",
    "response_status",
    "score",
]

CSSRS_KEY = "cssrs-screen"
SUICIDE_RISK_ALERT = "suicide_risk"
# QIDS-SR16 total = sum of nine domains, each the highest of its items (1-based numbers).
# ids-qids.org scoring instructions; clinical-reference.md section 2.
QIDS16_DOMAINS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("sleep", (1, 2, 3, 4)),
    ("sad_mood", (5,)),
    ("appetite_weight", (6, 7, 8, 9)),
    ("concentration", (10,)),
    ("self_view", (11,)),
    ("death_suicide", (12,)),
    ("interest", (13,)),
    ("energy", (14,)),
    ("psychomotor", (15, 16)),
)


class InvalidResponseError(ValueError):
    """Answers that cannot be scored; the message is one line naming the problem."""


@dataclass(frozen=True)
class Band:
    """A named severity band over an inclusive range of totals."""

    low: int
    high: int
    name: str


@dataclass(frozen=True)
class AlertRule:
    """Raise `alert` when the answer to item `item_index` (0-based) is above `above`."""

    item_index: int
    above: int
    alert: str


@dataclass(frozen=True)
class Instrument:
    """One instrument as scoring sees it, built from its packaged definition."""

    key: str
    title: str
    respondent: str
    item_count: int
    item_ranges: tuple[tuple[int, int], ...]
    item_labels: tuple[str, ...]
    item_options: tuple[tuple[tuple[int, str], ...], ...]
    total_rule: str
    total_min: int | None
    total_max: int | None
    bands: tuple[Band, ...]
    remission_operator: str | None
    remission_value: int | None
    remission_source: str
    source: str
    alert_rules: tuple[AlertRule, ...] = ()
    # Whether "response" (a 50% fall from baseline) is a defined outcome for this scale:
    # true for the depression-severity scales of clinical-reference.md section 2 only.
    # A fall in MOAA/S is deeper sedation, never a treatment response.
    response_applies: bool = False
    # name -> 0-based item indexes summed into that subscale (CADSS-6)
    subscales: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class ScoreResult:
    """The scored response: total and band, or C-SSRS risk; alerts; subscores."""

    instrument: str
    total: int | None
    severity: str | None
    risk: str | None
    alerts: tuple[str, ...]
    subscores: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form: instrument, total, severity (or risk for the C-SSRS), alerts.

        "subscores" is present only when the instrument has any (CADSS-6, QIDS domains).
        """
        data: dict[str, Any] = {"instrument": self.instrument, "total": self.total}
        if self.risk is not None:
            data["risk"] = self.risk
        else:
            data["severity"] = self.severity
        data["alerts"] = list(self.alerts)
        if self.subscores:
            data["subscores"] = dict(self.subscores)
        return data


@dataclass(frozen=True)
class ResponseStatus:
    """Change from the course baseline and whether it is a response and/or remission.

    change_percent is signed: -50.0 means the total fell by half.
    """

    change_percent: float | None
    is_response: bool
    is_remission: bool
    label: str  # "remitter" | "responder" | "neither" | "no baseline"


def get_instrument(key: str, override_dir: str | Path | None = None) -> Instrument:
    """The instrument `key` with its ranges, bands and remission cut-off.

    Built from `ketaclinic.instruments.load_definition` (clinical-reference.md section 2;
    each definition's "source" names the primary publication). A clinic override folder
    (argument or env KETACLINIC_INSTRUMENT_OVERRIDES) may change wording and remission only.
    Raises UnknownInstrumentError for an unknown key.
    """
    if key not in INSTRUMENT_KEYS:
        raise UnknownInstrumentError(key)
    return _build_instrument(key, resolve_override_dir(override_dir))


@functools.cache
def _build_instrument(key: str, override_dir: str | None) -> Instrument:
    definition = load_definition(key, override_dir)
    items = definition["item"]
    scoring = definition["scoring"]
    index_of = {item["linkId"]: index for index, item in enumerate(items)}
    options = tuple(
        tuple(
            (int(o["extension-value"]), o["valueCoding"]["display"]) for o in item["answerOption"]
        )
        for item in items
    )
    remission = scoring.get("remission") or {}
    return Instrument(
        key=key,
        title=definition["title"],
        respondent=definition["respondent"],
        item_count=len(items),
        item_ranges=tuple((min(v for v, _ in opts), max(v for v, _ in opts)) for opts in options),
        item_labels=tuple(item["text"] for item in items),
        item_options=options,
        total_rule=scoring["total"],
        total_min=scoring.get("min"),
        total_max=scoring.get("max"),
        bands=tuple(Band(b["low"], b["high"], b["name"]) for b in scoring.get("bands", [])),
        remission_operator=remission.get("operator"),
        remission_value=remission.get("value"),
        remission_source=remission.get("source", ""),
        source=definition["source"],
        alert_rules=tuple(
            AlertRule(index_of[rule["item"]], rule["above"], rule["alert"])
            for rule in scoring.get("alerts", [])
        ),
        response_applies=bool(scoring.get("response_applies", False)),
        subscales=tuple(
            (name, tuple(index_of[link_id] for link_id in link_ids))
            for name, link_ids in scoring.get("subscales", {}).items()
        ),
    )


def _validated(instrument: Instrument, answers: Sequence[int]) -> tuple[int, ...]:
    key = instrument.key
    if isinstance(answers, str | bytes) or not isinstance(answers, Sequence):
        raise InvalidResponseError(f"{key}: answers must be a list of whole numbers")
    if len(answers) != instrument.item_count:
        raise InvalidResponseError(
            f"{key} needs {instrument.item_count} answers, got {len(answers)}"
        )
    values = []
    for number, (value, (low, high)) in enumerate(
        zip(answers, instrument.item_ranges, strict=True), 1
    ):
        # bool is an int subclass, but True is not an answer.
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InvalidResponseError(f"{key} item {number}: {value!r} is not a whole number")
        if not low <= value <= high:
            raise InvalidResponseError(f"{key} item {number}: {value} is outside {low}-{high}")
        values.append(int(value))
    # C-SSRS screener: items 3-5 are asked only after a yes to item 2.
    if key == CSSRS_KEY and values[1] == 0 and any(values[2:5]):
        raise InvalidResponseError(f"{key}: items 3-5 must be 0 when item 2 is 0")
    return tuple(values)


def _cssrs_triage(values: tuple[int, ...]) -> str:
    wish, thoughts, method, intent, plan, behaviour = values
    if intent or plan or behaviour == 2:
        return "high"
    if method or behaviour == 1:
        return "moderate"
    if wish or thoughts:
        return "low"
    return "none"


def cssrs_risk(answers: Sequence[int]) -> str:
    """C-SSRS screener triage: "none", "low", "moderate" or "high"; highest level wins.

    All 0 -> none; only items 1-2 -> low; item 3, or item 6 = 1 -> moderate; item 4 or 5,
    or item 6 = 2 -> high. Encoding and triage: clinical-reference.md section 2 (NINDS CDE
    screener, common triage guides); instrument: Posner et al. 2011, Am J Psychiatry.
    Raises InvalidResponseError for invalid answers or an impossible pattern.
    """
    return _cssrs_triage(_validated(get_instrument(CSSRS_KEY), answers))


def band_for(instrument: Instrument, total: int) -> str | None:
    """The name of the band holding `total`, or None when the instrument has no bands.

    Bands per clinical-reference.md section 2: PHQ-9 (Kroenke 2001), GAD-7 (Spitzer 2006),
    QIDS-SR16 (Rush 2003, ids-qids.org), MADRS (Snaith 1986), MOAA/S levels (Chernik 1990).
    """
    for band in instrument.bands:
        if band.low <= total <= band.high:
            return band.name
    return None


def _qids16_domains(values: tuple[int, ...]) -> dict[str, int]:
    return {name: max(values[n - 1] for n in items) for name, items in QIDS16_DOMAINS}


def score(key: str, answers: Sequence[int]) -> ScoreResult:
    """Score one response given as integers in item order.

    Rules per clinical-reference.md section 2: PHQ-9 (Kroenke 2001) and GAD-7 (Spitzer 2006)
    sum; QIDS-SR16 sums nine domain maxima (Rush 2003, ids-qids.org); MADRS sums
    (Montgomery & Asberg 1979; bands Snaith 1986); CADSS sums, with the CADSS-6 subtotal
    (Bremner 1998); MOAA/S is its single level (Chernik 1990); the C-SSRS screener gives a
    triage risk and no total (Posner 2011). PHQ-9 item 9 or QIDS-SR16 item 12 above 0 raises
    "suicidal_ideation"; C-SSRS moderate or high raises "suicide_risk".
    Raises UnknownInstrumentError or InvalidResponseError (wrong count, a non-integer or bool,
    a value outside its item's range, an impossible C-SSRS pattern).
    """
    instrument = get_instrument(key)
    values = _validated(instrument, answers)
    if key == CSSRS_KEY:
        risk = _cssrs_triage(values)
        alerts = (SUICIDE_RISK_ALERT,) if risk in {"moderate", "high"} else ()
        return ScoreResult(key, None, None, risk, alerts, {})
    subscores: dict[str, int] = {}
    if instrument.total_rule == "qids16-domains":
        domains = _qids16_domains(values)
        total = sum(domains.values())
        subscores = {k: domains[k] for k in ("sleep", "appetite_weight", "psychomotor")}
    else:
        total = sum(values)
    for name, indexes in instrument.subscales:
        subscores[name] = sum(values[i] for i in indexes)
    alerts = tuple(
        rule.alert for rule in instrument.alert_rules if values[rule.item_index] > rule.above
    )
    return ScoreResult(key, total, band_for(instrument, total), None, alerts, subscores)


def _check_total(name: str, total: object) -> None:
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError(f"{name} must be a whole number of 0 or more, got {total!r}")


def _is_remission(operator: str | None, cutoff: int | None, total: int) -> bool:
    if operator is None or cutoff is None:
        return False
    return total < cutoff if operator == "<" else total <= cutoff


def response_status(
    instrument: Instrument,
    *,
    baseline_total: int | None,
    current_total: int,
    remission_operator: str | None = None,
    remission_value: int | None = None,
) -> ResponseStatus:
    """Response and remission of `current_total` against the course baseline.

    Response = a fall of at least 50% from baseline (current <= baseline / 2; a baseline of 0
    is never a response). Remission = the instrument's cut-off (PHQ-9 < 5, QIDS-SR16 <= 5,
    MADRS <= 10; clinic-configurable) unless both remission arguments override it; remission
    alone earns the label "remitter". Source: clinical-reference.md section 2.
    """
    _check_total("current_total", current_total)
    if baseline_total is not None:
        _check_total("baseline_total", baseline_total)
    if (remission_operator is None) != (remission_value is None):
        raise ValueError("give both remission_operator and remission_value, or neither")
    if remission_operator is None:
        remission_operator = instrument.remission_operator
        remission_value = instrument.remission_value
    elif remission_operator not in REMISSION_OPERATORS:
        raise ValueError(f"remission_operator must be '<' or '<=', got {remission_operator!r}")
    is_remission = _is_remission(remission_operator, remission_value, current_total)
    change_percent: float | None = None
    is_response = False
    if baseline_total:
        change_percent = (current_total - baseline_total) / baseline_total * 100
        is_response = current_total * 2 <= baseline_total
    if is_remission:
        label = "remitter"
    elif baseline_total is None:
        label = "no baseline"
    else:
        label = "responder" if is_response else "neither"
    return ResponseStatus(change_percent, is_response, is_remission, label)
