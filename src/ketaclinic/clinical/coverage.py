"""Prior authorization: a payer's checklist filled from what the chart says, the states a
request moves through, and which booked sessions fall after an approval runs out.

Pure Python, no Django. The checklists themselves are data (coverage/checklists.json,
each item with its source); this module only knows how to check each kind of item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from ketaclinic.clinical.eligibility import AntidepressantTrial, TrialPolicy, adequate_trial_count

__all__ = [
    "CHECK_KINDS",
    "PRIOR_AUTH_TRANSITIONS",
    "ChartFacts",
    "ChecklistItem",
    "ItemResult",
    "checklist_from_data",
    "fill_checklist",
    "next_statuses",
    "sessions_after",
]

# From each status, where a request may go next. An approval or a denial is recorded
# from "sent" (or "appealed"); a denial may be appealed; an approval may be renewed by a
# new request, never by editing this one.
PRIOR_AUTH_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "drafted": ("sent", "withdrawn"),
    "sent": ("approved", "denied", "withdrawn"),
    "denied": ("appealed", "withdrawn"),
    "appealed": ("approved", "denied", "withdrawn"),
    "approved": (),
    "withdrawn": (),
}


def next_statuses(status: str) -> tuple[str, ...]:
    """The statuses a request in `status` may move to (none for a final one)."""
    if status not in PRIOR_AUTH_TRANSITIONS:
        raise ValueError(f"unknown prior authorization status {status!r}")
    return PRIOR_AUTH_TRANSITIONS[status]


@dataclass(frozen=True)
class ChartFacts:
    """What the chart says that a payer asks about."""

    age_years: int
    diagnosis_codes: tuple[str, ...]
    trials: tuple[AntidepressantTrial, ...]
    # instrument key -> (date of the latest score, total)
    latest_scores: Mapping[str, tuple[date, int]]
    rems_enrolled_on: date | None
    rems_certified_location: bool


@dataclass(frozen=True)
class ChecklistItem:
    """One thing a payer asks for. `check` is one of CHECK_KINDS; `params` its settings
    (for example the code prefixes, the number of trials, the days a score stays recent)."""

    key: str
    label: str
    check: str
    source: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemResult:
    """An item filled from the chart: met (True/False), or None when the chart cannot say
    and a person must attest; `evidence` says what the chart shows, in words."""

    key: str
    label: str
    source: str
    met: bool | None
    evidence: str


def _diagnosis(item: ChecklistItem, facts: ChartFacts, today: date) -> tuple[bool, str]:
    prefixes = tuple(item.params.get("prefixes", ()))
    excluded = tuple(item.params.get("excluded_prefixes", ()))
    matching = [
        c for c in facts.diagnosis_codes if c.startswith(prefixes) and not c.startswith(excluded)
    ]
    if matching:
        return True, "On the chart: " + ", ".join(matching)
    return False, "No matching diagnosis on the chart"


def _failed_trials(
    item: ChecklistItem, facts: ChartFacts, today: date, policy: TrialPolicy
) -> tuple[bool, str]:
    needed = int(item.params.get("minimum", policy.minimum_adequate_trials))
    count = adequate_trial_count(facts.trials, policy)
    described = "; ".join(
        f"{t.drug} {t.dose_mg_per_day if t.dose_mg_per_day is not None else '?'} mg/day, "
        f"{t.weeks_at_dose if t.weeks_at_dose is not None else '?'} weeks, "
        f"{t.outcome.replace('_', ' ')}"
        for t in facts.trials
    )
    return count >= needed, f"{count} adequate failed trial(s) of {needed} needed" + (
        f": {described}" if described else ""
    )


def _recent_score(item: ChecklistItem, facts: ChartFacts, today: date) -> tuple[bool, str]:
    days = int(item.params.get("within_days", 30))
    found = []
    for key in item.params.get("instruments", ()):
        if key in facts.latest_scores:
            on, total = facts.latest_scores[key]
            found.append((on, key, total))
    if not found:
        return False, "No score on the chart"
    on, key, total = max(found)
    recent = today - on <= timedelta(days=days)
    return recent, f"{key.upper()} {total} on {on.isoformat()}" + (
        "" if recent else f" (older than {days} days)"
    )


def _rems(item: ChecklistItem, facts: ChartFacts, today: date) -> tuple[bool, str]:
    if facts.rems_enrolled_on is None:
        return False, "No REMS enrollment recorded on the course"
    if not facts.rems_certified_location:
        return False, "The location is not recorded as REMS-certified"
    return True, f"Enrolled on {facts.rems_enrolled_on.isoformat()}; location certified"


def _minimum_age(item: ChecklistItem, facts: ChartFacts, today: date) -> tuple[bool, str]:
    minimum = int(item.params.get("years", 18))
    return facts.age_years >= minimum, f"Age {facts.age_years}"


CHECK_KINDS = ("diagnosis", "failed_trials", "recent_score", "rems_enrollment", "age", "attest")


def fill_checklist(
    items: Sequence[ChecklistItem], facts: ChartFacts, today: date, policy: TrialPolicy
) -> list[ItemResult]:
    """Each item checked against the chart, in order. An "attest" item is left for a
    person (met None): the chart does not hold the answer."""
    results = []
    for item in items:
        if item.check == "attest":
            met: bool | None = None
            evidence = "To confirm by the clinician"
        elif item.check == "failed_trials":
            met, evidence = _failed_trials(item, facts, today, policy)
        elif item.check == "diagnosis":
            met, evidence = _diagnosis(item, facts, today)
        elif item.check == "recent_score":
            met, evidence = _recent_score(item, facts, today)
        elif item.check == "rems_enrollment":
            met, evidence = _rems(item, facts, today)
        elif item.check == "age":
            met, evidence = _minimum_age(item, facts, today)
        else:
            raise ValueError(f"unknown checklist check {item.check!r}")
        results.append(ItemResult(item.key, item.label, item.source, met, evidence))
    return results


def checklist_from_data(data: Mapping[str, Any]) -> list[ChecklistItem]:
    """A checklist template from its JSON form, refusing unknown checks and repeated keys."""
    items = []
    seen: set[str] = set()
    for raw in data.get("items", ()):
        if raw["check"] not in CHECK_KINDS:
            raise ValueError(f"unknown checklist check {raw['check']!r}")
        if raw["key"] in seen:
            raise ValueError(f"checklist item {raw['key']!r} appears twice")
        seen.add(raw["key"])
        if not str(raw.get("source", "")).strip():
            raise ValueError(f"checklist item {raw['key']!r} has no source")
        items.append(
            ChecklistItem(
                key=raw["key"],
                label=raw["label"],
                check=raw["check"],
                source=raw["source"],
                params=raw.get("params", {}),
            )
        )
    return items


def sessions_after(session_days: Iterable[tuple[int, date]], approved_until: date) -> list[int]:
    """The numbers of the sessions planned after the last day an approval covers."""
    return [number for number, day in session_days if day > approved_until]
