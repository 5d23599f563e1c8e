"""The demo's billing, dated relative to `now`."""

from __future__ import annotations

from datetime import datetime


def seed_billing(*, now: datetime) -> None:
    """The demo's billing stories, dated relative to `now`."""
