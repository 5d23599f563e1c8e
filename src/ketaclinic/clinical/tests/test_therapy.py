"""Integration windows (clinical/therapy.py): elapsed hours, DST, matching visits to sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.therapy import (
    Dosing,
    IntegrationStatus,
    IntegrationWindow,
    TherapyRuleError,
    Visit,
    integration_plan,
    window_problem,
)

DENVER = ZoneInfo("America/Denver")
WINDOW = IntegrationWindow(0, 72, "clinic default")


def test_a_window_is_72_elapsed_hours_across_spring_forward() -> None:
    # Dosing ends Friday 12 March 2027, 11:00 MST; clocks go forward on Sunday the 14th.
    anchor = datetime(2027, 3, 12, 11, 0, tzinfo=DENVER)
    closes = WINDOW.closes(anchor).astimezone(DENVER)
    assert closes.astimezone(UTC) - anchor.astimezone(UTC) == timedelta(hours=72)
    # 72 elapsed hours later the wall clock reads 12:00 MDT, not 11:00.
    assert (closes.day, closes.hour, closes.tzname()) == (15, 12, "MDT")


def test_a_window_is_72_elapsed_hours_across_fall_back() -> None:
    anchor = datetime(2027, 11, 5, 11, 0, tzinfo=DENVER)
    closes = WINDOW.closes(anchor).astimezone(DENVER)
    assert (closes.day, closes.hour, closes.tzname()) == (8, 10, "MST")


def test_naive_times_and_bad_windows_are_refused() -> None:
    with pytest.raises(TherapyRuleError):
        WINDOW.closes(datetime(2027, 1, 1, 10))
    with pytest.raises(TherapyRuleError):
        IntegrationWindow(24, 24)
    with pytest.raises(TherapyRuleError):
        IntegrationWindow(-1, 24)


def test_window_problem_names_the_local_window() -> None:
    anchor = datetime(2027, 1, 6, 11, 0, tzinfo=DENVER)
    assert window_problem(anchor, anchor + timedelta(hours=24), WINDOW, DENVER) is None
    late = window_problem(anchor, anchor + timedelta(hours=80), WINDOW, DENVER)
    assert late is not None and "after that" in late and "Sat Jan 9 11:00 MST" in late
    early = window_problem(anchor, anchor - timedelta(hours=1), WINDOW, DENVER)
    assert early is not None and "before that" in early


def test_statuses() -> None:
    now = datetime(2027, 1, 10, 12, 0, tzinfo=DENVER)
    dosings = [
        Dosing(1, now - timedelta(days=9)),  # window long closed, visit done in it
        Dosing(2, now - timedelta(days=6)),  # closed, nothing booked
        Dosing(3, now - timedelta(hours=20)),  # open, visit booked tomorrow
        Dosing(4, now - timedelta(hours=10)),  # open, nothing left for it
        Dosing(5, now + timedelta(days=2)),  # not yet
        Dosing(6, now - timedelta(days=3), given=False),  # cancelled
    ]
    visits = [
        Visit(10, now - timedelta(days=8)),
        Visit(11, now + timedelta(hours=20)),
    ]
    rows = {r.dosing.key: r for r in integration_plan(dosings, visits, WINDOW, now)}
    assert rows[1].status is IntegrationStatus.DONE and rows[1].visit == visits[0]
    assert rows[2].status is IntegrationStatus.OVERDUE
    assert rows[3].status is IntegrationStatus.BOOKED and rows[3].visit == visits[1]
    assert rows[4].status is IntegrationStatus.DUE
    assert rows[5].status is IntegrationStatus.NOT_YET
    assert rows[6].status is IntegrationStatus.NONE
    assert rows[4].label == "Due"


@given(
    anchor=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(DENVER)
    ),
    hours=st.integers(min_value=1, max_value=24 * 14),
    offset_minutes=st.integers(min_value=-24 * 60, max_value=24 * 60 * 15),
)
def test_a_visit_counts_once_and_only_inside_its_window(
    anchor: datetime, hours: int, offset_minutes: int
) -> None:
    window = IntegrationWindow(0, hours)
    starts_at = anchor + timedelta(minutes=offset_minutes)
    inside = (
        timedelta(0) <= starts_at.astimezone(UTC) - anchor.astimezone(UTC) < timedelta(hours=hours)
    )
    assert window.contains(anchor, starts_at) is inside
    assert (window_problem(anchor, starts_at, window, DENVER) is None) is inside
    # Two sessions and one visit: at most one of them takes it.
    rows = integration_plan(
        [Dosing(1, anchor), Dosing(2, anchor + timedelta(hours=1))],
        [Visit(1, starts_at)],
        window,
        anchor + timedelta(days=30),
    )
    assert sum(r.visit is not None for r in rows) == (
        1 if inside or window.contains(anchor + timedelta(hours=1), starts_at) else 0
    )
