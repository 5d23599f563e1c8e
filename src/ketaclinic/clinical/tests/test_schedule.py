"""Planned session dates: weekly limits, gaps, weekdays and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaclinic.clinical.schedule import (
    ScheduleError,
    ScheduleRules,
    first_phase_plans_on,
    plan_session_starts,
    schedule_every_weekday,
)
from ketaclinic.protocols.loader import load_protocol

IV_INDUCTION = ScheduleRules(sessions=6, max_per_week=3, no_consecutive_days=True)
DENVER = "America/Denver"


def local_days(starts: list[datetime], tz: str) -> list[date]:
    return [start.astimezone(ZoneInfo(tz)).date() for start in starts]


def offset_hours(start: datetime, tz: str) -> float:
    offset = start.astimezone(ZoneInfo(tz)).utcoffset()
    assert offset is not None
    return offset.total_seconds() / 3600


def test_six_iv_sessions_from_a_monday_are_mon_wed_fri() -> None:
    starts = plan_session_starts(
        first_day=date(2026, 3, 2), local_time=time(10, 0), tz=DENVER, rules=IV_INDUCTION
    )
    assert local_days(starts, DENVER) == [
        date(2026, 3, 2),
        date(2026, 3, 4),
        date(2026, 3, 6),
        date(2026, 3, 9),
        date(2026, 3, 11),
        date(2026, 3, 13),
    ]
    assert all(start.tzinfo is UTC for start in starts)
    assert all(start.astimezone(ZoneInfo(DENVER)).time() == time(10, 0) for start in starts)
    # Murrough 2013: six infusions over 12 days
    assert (local_days(starts, DENVER)[-1] - local_days(starts, DENVER)[0]).days == 11


def test_starting_mid_week_skips_the_weekend_and_keeps_limits() -> None:
    starts = plan_session_starts(
        first_day=date(2026, 3, 5),  # Thursday
        local_time=time(9, 30),
        tz=DENVER,
        rules=IV_INDUCTION,
    )
    days = local_days(starts, DENVER)
    assert days == [
        date(2026, 3, 5),
        date(2026, 3, 9),
        date(2026, 3, 11),
        date(2026, 3, 13),
        date(2026, 3, 16),
        date(2026, 3, 18),
    ]
    assert all(day.weekday() < 5 for day in days)


def test_starting_on_a_weekend_moves_to_monday() -> None:
    starts = plan_session_starts(
        first_day=date(2026, 3, 7), local_time=time(10), tz=DENVER, rules=IV_INDUCTION, count=1
    )
    assert local_days(starts, DENVER) == [date(2026, 3, 9)]


def test_never_consecutive_and_never_more_than_max_per_iso_week() -> None:
    rules = ScheduleRules(sessions=20, max_per_week=3, no_consecutive_days=True)
    starts = plan_session_starts(
        first_day=date(2026, 12, 23), local_time=time(8), tz=DENVER, rules=rules
    )
    days = local_days(starts, DENVER)
    assert all((b - a).days >= 2 for a, b in pairwise(days))
    weeks = [day.isocalendar()[:2] for day in days]
    assert max(weeks.count(week) for week in set(weeks)) <= 3


def test_twice_weekly_esketamine_induction_from_protocol_phase() -> None:
    phase = load_protocol("esketamine-trd")["schedule"]["phases"][0]
    rules = ScheduleRules.from_phase(phase)
    starts = plan_session_starts(
        first_day=date(2026, 3, 2), local_time=time(13), tz=DENVER, rules=rules
    )
    days = local_days(starts, DENVER)
    assert len(days) == 8
    weeks = [day.isocalendar()[:2] for day in days]
    assert all(weeks.count(week) == 2 for week in set(weeks))
    assert len(set(weeks)) == 4


def test_open_ended_phase_has_no_fixed_plan() -> None:
    phase = load_protocol("esketamine-trd")["schedule"]["phases"][-1]
    with pytest.raises(ScheduleError, match="no fixed number"):
        ScheduleRules.from_phase(phase)


@pytest.mark.parametrize(
    ("weekdays", "expected_days"),
    [
        ((1, 4), [3, 6, 10, 13]),  # Tue/Fri are 3 and 4 days apart: both kept
        ((1, 3), [3, 10, 17, 24]),  # Thu is only 2 days after Tue: Tuesdays only
    ],
)
def test_min_days_between_and_allowed_weekdays(
    weekdays: tuple[int, ...], expected_days: list[int]
) -> None:
    rules = ScheduleRules(
        sessions=4,
        max_per_week=7,
        no_consecutive_days=False,
        min_days_between=3,
        allowed_weekdays=weekdays,
    )
    starts = plan_session_starts(
        first_day=date(2026, 3, 2), local_time=time(10), tz=DENVER, rules=rules
    )
    assert local_days(starts, DENVER) == [date(2026, 3, day) for day in expected_days]


@pytest.mark.parametrize(
    ("tz", "before", "after"),
    [(DENVER, -7, -6), ("America/Los_Angeles", -8, -7)],
)
def test_spring_forward_keeps_local_time(tz: str, before: int, after: int) -> None:
    # DST starts Sunday 8 March 2026 in the US.
    starts = plan_session_starts(
        first_day=date(2026, 3, 4), local_time=time(10), tz=tz, rules=IV_INDUCTION, count=3
    )
    assert local_days(starts, tz) == [date(2026, 3, 4), date(2026, 3, 6), date(2026, 3, 9)]
    assert [offset_hours(s, tz) for s in starts] == [before, before, after]
    assert [s.astimezone(ZoneInfo(tz)).hour for s in starts] == [10, 10, 10]
    assert starts[0].hour == 10 - before and starts[2].hour == 10 - after


@pytest.mark.parametrize(
    ("tz", "before", "after"),
    [(DENVER, -6, -7), ("America/Los_Angeles", -7, -8)],
)
def test_fall_back_keeps_local_time(tz: str, before: int, after: int) -> None:
    # DST ends Sunday 1 November 2026 in the US.
    starts = plan_session_starts(
        first_day=date(2026, 10, 28), local_time=time(10), tz=tz, rules=IV_INDUCTION, count=3
    )
    assert local_days(starts, tz) == [date(2026, 10, 28), date(2026, 10, 30), date(2026, 11, 2)]
    assert [offset_hours(s, tz) for s in starts] == [before, before, after]
    assert starts[2] - starts[1] == timedelta(days=3, hours=1)


def test_phoenix_has_no_daylight_saving() -> None:
    starts = plan_session_starts(
        first_day=date(2026, 3, 4),
        local_time=time(10),
        tz="America/Phoenix",
        rules=IV_INDUCTION,
        count=3,
    )
    assert [offset_hours(s, "America/Phoenix") for s in starts] == [-7, -7, -7]
    assert {s.hour for s in starts} == {17}


EVERY_DAY = ScheduleRules(
    sessions=1, max_per_week=7, no_consecutive_days=False, allowed_weekdays=tuple(range(7))
)


def test_time_in_the_spring_forward_gap_is_an_error() -> None:
    with pytest.raises(
        ScheduleError, match=r"02:30 does not exist on 2026-03-08 in America/Denver"
    ):
        plan_session_starts(
            first_day=date(2026, 3, 8), local_time=time(2, 30), tz=DENVER, rules=EVERY_DAY
        )
    # the same time on the day before and after is fine
    for day in (date(2026, 3, 7), date(2026, 3, 9)):
        plan_session_starts(first_day=day, local_time=time(2, 30), tz=DENVER, rules=EVERY_DAY)


def test_ambiguous_fall_back_time_takes_the_first_occurrence() -> None:
    (start,) = plan_session_starts(
        first_day=date(2026, 11, 1), local_time=time(1, 30), tz=DENVER, rules=EVERY_DAY
    )
    assert offset_hours(start, DENVER) == -6  # still daylight time
    assert start == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    (again,) = plan_session_starts(
        first_day=date(2026, 11, 1), local_time=time(1, 30, fold=1), tz=DENVER, rules=EVERY_DAY
    )
    assert again == start


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tz": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"local_time": time(10, tzinfo=UTC)}, "without a time zone"),
        ({"count": -1}, "count"),
        ({"first_day": datetime(2026, 3, 2, 10)}, "first_day"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "first_day": date(2026, 3, 2),
        "local_time": time(10),
        "tz": DENVER,
        "rules": IV_INDUCTION,
    }
    arguments.update(kwargs)
    with pytest.raises(ScheduleError, match=message):
        plan_session_starts(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sessions": 0},
        {"max_per_week": 8},
        {"min_days_between": 0},
        {"allowed_weekdays": ()},
        {"allowed_weekdays": (7,)},
        {"allowed_weekdays": (1, 1)},
    ],
)
def test_bad_rules(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"sessions": 6, "max_per_week": 3, "no_consecutive_days": True}
    values.update(kwargs)
    with pytest.raises(ScheduleError):
        ScheduleRules(**values)  # type: ignore[arg-type]


def test_count_zero_and_count_overrides_sessions() -> None:
    kwargs = {"first_day": date(2026, 3, 2), "local_time": time(10), "tz": DENVER}
    assert plan_session_starts(rules=IV_INDUCTION, count=0, **kwargs) == []  # type: ignore[arg-type]
    assert len(plan_session_starts(rules=IV_INDUCTION, count=2, **kwargs)) == 2  # type: ignore[arg-type]


ZONES = ("America/Denver", "America/Los_Angeles", "America/Phoenix", "America/New_York", "UTC")


@settings(max_examples=200, deadline=None)
@given(
    first_day=st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    sessions=st.integers(min_value=1, max_value=15),
    max_per_week=st.integers(min_value=1, max_value=7),
    no_consecutive=st.booleans(),
    min_days_between=st.integers(min_value=1, max_value=10),
    weekdays=st.sets(st.integers(min_value=0, max_value=6), min_size=1),
    tz=st.sampled_from(ZONES),
    hour=st.sampled_from([7, 9, 10, 12, 15, 18]),
    minute=st.sampled_from([0, 15, 30, 45]),
)
def test_property_every_constraint_holds(
    first_day: date,
    sessions: int,
    max_per_week: int,
    no_consecutive: bool,
    min_days_between: int,
    weekdays: set[int],
    tz: str,
    hour: int,
    minute: int,
) -> None:
    rules = ScheduleRules(
        sessions=sessions,
        max_per_week=max_per_week,
        no_consecutive_days=no_consecutive,
        min_days_between=min_days_between,
        allowed_weekdays=tuple(weekdays),
    )
    local_time = time(hour, minute)
    starts = plan_session_starts(first_day=first_day, local_time=local_time, tz=tz, rules=rules)
    assert len(starts) == sessions
    local = [start.astimezone(ZoneInfo(tz)) for start in starts]
    days = [moment.date() for moment in local]
    assert all(moment.time() == local_time for moment in local)
    assert all(start.utcoffset() == timedelta(0) for start in starts)
    assert all(a < b for a, b in pairwise(starts))
    assert days[0] >= first_day
    assert all(day.weekday() in weekdays for day in days)
    gap = max(min_days_between, 2 if no_consecutive else 1)
    assert all((b - a).days >= gap for a, b in pairwise(days))
    weeks = [day.isocalendar()[:2] for day in days]
    assert all(weeks.count(week) <= max_per_week for week in set(weeks))
    # greedy: the first session is on the first allowed day
    first_allowed = next(
        first_day + timedelta(days=i)
        for i in range(7)
        if (first_day + timedelta(days=i)).weekday() in weekdays
    )
    assert days[0] == first_allowed


def test_twice_weekly_means_any_seven_days_not_a_calendar_week() -> None:
    rules = ScheduleRules(sessions=8, max_per_week=2, no_consecutive_days=True)
    starts = plan_session_starts(
        first_day=date(2026, 1, 7), local_time=time(10, 0), tz="America/Denver", rules=rules
    )  # a Wednesday
    days = [s.astimezone(ZoneInfo("America/Denver")).date() for s in starts]
    for index, day in enumerate(days):
        assert sum(1 for other in days if 0 <= (day - other).days < 7) <= 2, days[: index + 1]
    assert days[:3] == [date(2026, 1, 7), date(2026, 1, 9), date(2026, 1, 14)]


def test_a_schedule_opened_to_every_weekday_keeps_its_other_rules() -> None:
    schedule = load_protocol("iv-ketamine-standard")["schedule"]
    assert first_phase_plans_on(schedule, 0) and not first_phase_plans_on(schedule, 6)
    opened = schedule_every_weekday(schedule)
    assert all(first_phase_plans_on(opened, day) for day in range(7))
    assert [{**p, "allowed_weekdays": None} for p in opened["phases"]] == [
        {**p, "allowed_weekdays": None} for p in schedule["phases"]
    ]
    assert schedule["phases"][0]["allowed_weekdays"] == [0, 1, 2, 3, 4]  # not changed
    # A phase that names no weekdays plans Monday to Friday.
    assert not first_phase_plans_on({"phases": [{}]}, 5)
