"""The referral rules data (rules.json beside this file), loaded once and checked by
clinical.referrals.parse_rules."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from ketaclinic.clinical.referrals import ReferralRules, parse_rules

RULES_PATH = Path(__file__).with_name("rules.json")


@cache
def referral_rules() -> ReferralRules:
    """States, allowed moves and default stall limits (docs/referrals.md)."""
    return parse_rules(json.loads(RULES_PATH.read_text(encoding="utf-8")))


def state_choices() -> list[tuple[str, str]]:
    return list(referral_rules().states.items())


def urgency_choices() -> list[tuple[str, str]]:
    return list(referral_rules().urgencies.items())
