"""Referral rules, pure: the states a referral moves through, which moves are allowed, and
when a referral with no change is "stalled".

The rules are data (ketaclinic/referrals/rules.json, read by the referrals app and given
here as a mapping). The stall limits there are the clinic's defaults, not a published
standard (docs/referrals.md); each location may set its own. No Django here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


class ReferralRuleError(ValueError):
    """The rules data is malformed, or a move is not allowed (the message says why)."""


@dataclass(frozen=True)
class ReferralRules:
    """States (key -> label), which are still open, the allowed moves and the default
    stall limit of each urgency, in days."""

    states: dict[str, str]
    open_states: frozenset[str]
    initial_state: str
    transitions: dict[str, tuple[str, ...]]
    urgencies: dict[str, str]
    stall_days: dict[str, int]
    source: str

    def check_transition(self, current: str, target: str) -> None:
        """Raise ReferralRuleError with a clear message when `current` -> `target` is not
        one of the allowed moves."""
        if target not in self.states:
            raise ReferralRuleError(f"Unknown referral status {target!r}.")
        if current not in self.states:
            raise ReferralRuleError(f"Unknown referral status {current!r}.")
        allowed = self.transitions.get(current, ())
        if target not in allowed:
            here, there = self.states[current], self.states[target]
            if not allowed:
                raise ReferralRuleError(f"A {here.lower()} referral cannot change any more.")
            options = " or ".join(self.states[s].lower() for s in allowed)
            raise ReferralRuleError(
                f"A {here.lower()} referral cannot be marked {there.lower()}; "
                f"it can only be marked {options}."
            )


def parse_rules(data: Mapping[str, Any]) -> ReferralRules:
    """Check and load the rules data; malformed data raises ReferralRuleError."""
    try:
        states = {s["key"]: s["label"] for s in data["states"]}
        open_states = frozenset(s["key"] for s in data["states"] if s["open"])
        initial = data["initial_state"]
        transitions = {k: tuple(v) for k, v in data["transitions"].items()}
        urgencies = {u["key"]: u["label"] for u in data["urgencies"]}
        stall_days = {u["key"]: int(u["stall_days"]) for u in data["urgencies"]}
        source = str(data["source"])
    except (KeyError, TypeError, ValueError) as error:
        raise ReferralRuleError(f"Malformed referral rules: {error}") from error
    if initial not in open_states:
        raise ReferralRuleError("The initial state must be an open state.")
    for state, targets in transitions.items():
        unknown = {state, *targets} - set(states)
        if unknown:
            raise ReferralRuleError(f"Transitions name unknown states: {sorted(unknown)}.")
    if any(days < 1 for days in stall_days.values()):
        raise ReferralRuleError("Stall limits are at least one day.")
    return ReferralRules(
        states=states,
        open_states=open_states,
        initial_state=initial,
        transitions=transitions,
        urgencies=urgencies,
        stall_days=stall_days,
        source=source,
    )


def stall_cutoff(now: datetime, stall_days: int) -> datetime:
    """A referral whose last change is before this instant is stalled: it has had no
    change for longer than `stall_days` (exactly the limit is not yet stalled)."""
    return now - timedelta(days=stall_days)


def is_stalled(*, last_changed_at: datetime, now: datetime, stall_days: int) -> bool:
    """The same rule as stall_cutoff, for one referral."""
    return last_changed_at < stall_cutoff(now, stall_days)
