"""The demo's referrals, dated relative to `now`."""

from __future__ import annotations

from datetime import datetime


def seed_referrals(*, now: datetime) -> None:
    """The demo's referrals stories, dated relative to `now`."""
