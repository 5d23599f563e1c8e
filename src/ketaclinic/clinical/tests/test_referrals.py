"""The pure referral rules: the packaged data loads, moves are checked, stalled at the
boundary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.referrals import ReferralRuleError, is_stalled, parse_rules, stall_cutoff

RULES = json.loads((Path(__file__).resolve().parents[2] / "referrals" / "rules.json").read_text())
NOW = datetime(2026, 12, 7, 21, 45, tzinfo=UTC)


def test_the_packaged_rules_load_with_their_defaults() -> None:
    rules = parse_rules(RULES)
    assert rules.initial_state == "sent"
    assert rules.stall_days == {"routine": 14, "soon": 7, "urgent": 2, "crisis": 1}
    assert "closed" not in rules.open_states
    assert "988" in rules.source


def test_allowed_moves_pass_and_others_say_which_are_allowed() -> None:
    rules = parse_rules(RULES)
    for current, target in [
        ("sent", "contacted"),
        ("contacted", "accepted"),
        ("contacted", "declined"),
        ("accepted", "closed"),
        ("declined", "closed"),
    ]:
        rules.check_transition(current, target)
    with pytest.raises(ReferralRuleError, match="cannot be marked accepted; it can only"):
        rules.check_transition("sent", "accepted")
    with pytest.raises(ReferralRuleError, match="cannot change any more"):
        rules.check_transition("closed", "sent")
    with pytest.raises(ReferralRuleError, match="Unknown"):
        rules.check_transition("sent", "lost")


def test_malformed_rules_are_refused() -> None:
    with pytest.raises(ReferralRuleError):
        parse_rules({"states": []})
    bad = json.loads(json.dumps(RULES))
    bad["transitions"]["sent"].append("nowhere")
    with pytest.raises(ReferralRuleError, match="unknown states"):
        parse_rules(bad)
    bad = json.loads(json.dumps(RULES))
    bad["urgencies"][0]["stall_days"] = 0
    with pytest.raises(ReferralRuleError, match="at least one day"):
        parse_rules(bad)


def test_stalled_only_after_more_than_the_limit() -> None:
    limit = 2
    exactly = NOW - timedelta(days=limit)
    assert not is_stalled(last_changed_at=exactly, now=NOW, stall_days=limit)
    assert is_stalled(
        last_changed_at=exactly - timedelta(microseconds=1), now=NOW, stall_days=limit
    )
    assert not is_stalled(last_changed_at=NOW, now=NOW, stall_days=limit)


@given(st.integers(min_value=1, max_value=365), st.integers(min_value=-(10**6), max_value=10**6))
def test_stalled_agrees_with_the_cutoff(days: int, offset_s: int) -> None:
    changed = NOW - timedelta(days=days) + timedelta(seconds=offset_s)
    assert is_stalled(last_changed_at=changed, now=NOW, stall_days=days) == (
        changed < stall_cutoff(NOW, days)
    )
