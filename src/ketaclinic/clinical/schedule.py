"""Planned session dates for a treatment course (clinical-reference.md section 4).

Sessions are placed greedily from the first allowed day: each is the earliest day that
keeps every rule (allowed weekdays, at most `max_per_week` per ISO week Monday-Sunday,
minimum days between sessions, none on consecutive days when asked). For IV induction
(Murrough 2013: six infusions, three a week) this gives Mon/Wed/Fri from a Monday.

Times are wall-clock times at the clinic location, converted to UTC with the location's
IANA zone, so a 10:00 appointment stays 10:00 local across daylight-saving changes. A local
time that does not exist on a day (the spring-forward gap) raises ScheduleError; one that
occurs twice (the fall-back hour) means its first occurrence (fold=0), which is what staff
booking "01:30" on that night would expect. Pure: no Django imports.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ScheduleError", "ScheduleRules", "local_to_utc", "plan_session_starts"]


# A phase without `allowed_weekdays` plans Monday to Friday (Monday = 0 ... Sunday = 6).
WORKING_WEEKDAYS = (0, 1, 2, 3, 4)


def first_phase_plans_on(schedule: Mapping[str, Any], weekday: int) -> bool:
    """Whether a protocol's `schedule` lets a course start on `weekday`."""
    return weekday in schedule["phases"][0].get("allowed_weekdays", WORKING_WEEKDAYS)


def schedule_every_weekday(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a protocol's `schedule` whose phases plan on every day of the week, as a
    clinic open at weekends would set it."""
    return {
        **schedule,
        "phases": [{**phase, "allowed_weekdays": list(range(7))} for phase in schedule["phases"]],
    }


class ScheduleError(ValueError):
    """Sessions cannot be planned as asked; the message says why."""


@dataclass(frozen=True)
class ScheduleRules:
    """Constraints on session days.

    min_days_between: days from one session to the next (1 = the next day is allowed);
    no_consecutive_days makes it at least 2. allowed_weekdays: Monday = 0 ... Sunday = 6.
    """

    sessions: int
    max_per_week: int
    no_consecutive_days: bool
    min_days_between: int = 1
    allowed_weekdays: tuple[int, ...] = WORKING_WEEKDAYS

    def __post_init__(self) -> None:
        for name, low, high in (
            ("sessions", 1, 1000),
            ("max_per_week", 1, 7),
            ("min_days_between", 1, 366),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ScheduleError(f"{name} must be a whole number from {low} to {high}")
        weekdays = tuple(self.allowed_weekdays)
        if (
            not weekdays
            or len(set(weekdays)) != len(weekdays)
            or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in weekdays
            )
        ):
            raise ScheduleError("allowed_weekdays must be distinct numbers 0 (Mon) to 6 (Sun)")
        object.__setattr__(self, "allowed_weekdays", tuple(sorted(weekdays)))

    @property
    def gap_days(self) -> int:
        """Smallest number of days from one session to the next."""
        return max(self.min_days_between, 2 if self.no_consecutive_days else 1)

    @classmethod
    def from_phase(cls, phase: Mapping[str, Any]) -> ScheduleRules:
        """Rules from a protocol schedule phase (`load_protocol(key)["schedule"]["phases"][i]`).

        Raises ScheduleError for an open-ended phase (no session count).
        """
        if phase.get("sessions") is None:
            raise ScheduleError(f"phase {phase.get('name')!r} has no fixed number of sessions")
        return cls(
            sessions=phase["sessions"],
            max_per_week=phase["max_per_week"],
            no_consecutive_days=phase["no_consecutive_days"],
            min_days_between=phase.get("min_days_between", 1),
            allowed_weekdays=tuple(phase.get("allowed_weekdays", WORKING_WEEKDAYS)),
        )


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ScheduleError(f"unknown time zone {tz!r}") from exc


def local_to_utc(day: date, local_time: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of `local_time` on `day` in `zone`.

    Nonexistent local time (spring-forward gap) -> ScheduleError; ambiguous local time
    (fall-back) -> the first occurrence (fold=0).
    """
    local = datetime.combine(day, local_time.replace(fold=0), tzinfo=zone)
    utc = local.astimezone(UTC)
    # A time in the gap does not survive the round trip (zoneinfo shifts it by the gap).
    if utc.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise ScheduleError(
            f"{local_time:%H:%M} does not exist on {day.isoformat()} in {zone.key} "
            "(clocks go forward); choose another time"
        )
    return utc


def plan_session_starts(
    *,
    first_day: date,
    local_time: time,
    tz: str,
    rules: ScheduleRules,
    count: int | None = None,
) -> list[datetime]:
    """UTC start times of `count` sessions (default `rules.sessions`) at `local_time` in `tz`.

    The first session is on the first allowed day on or after `first_day`; each later one
    on the earliest day that keeps the allowed weekdays, the weekly maximum (per ISO week and
    in any 7 consecutive days) and the minimum gap. Schedule source: the protocol's
    schedule phase (clinical-reference.md section 4). Raises ScheduleError for a
    naive/aware mix-up, an unknown zone or a local time that does not exist on a planned day.
    """
    if isinstance(first_day, datetime) or not isinstance(first_day, date):
        raise ScheduleError("first_day must be a date")
    if not isinstance(local_time, time) or local_time.tzinfo is not None:
        raise ScheduleError("local_time must be a wall-clock time without a time zone")
    zone = _zone(tz)
    if count is None:
        count = rules.sessions
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ScheduleError("count must be a whole number >= 0")

    days: list[date] = []
    per_week: Counter[tuple[int, int]] = Counter()
    day = first_day
    while len(days) < count:
        week = day.isocalendar()[:2]
        if (
            day.weekday() not in rules.allowed_weekdays
            or per_week[week] >= rules.max_per_week
            or _in_last_seven_days(days, day) >= rules.max_per_week
        ):
            day += timedelta(days=1)
            continue
        days.append(day)
        per_week[week] += 1
        day += timedelta(days=rules.gap_days)
    return [local_to_utc(d, local_time, zone) for d in days]


def _in_last_seven_days(days: list[date], day: date) -> int:
    """Sessions already planned in the 7 days ending on `day`.

    "Twice weekly" in the esketamine label means any 7 days, not a calendar week: a course
    starting on a Wednesday must not dose Wednesday, Friday and again on Monday.
    """
    return sum(1 for planned in days if (day - planned).days < 7)
