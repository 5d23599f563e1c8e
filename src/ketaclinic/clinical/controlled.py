"""Controlled-substance deadlines (clinical-reference.md section 7; 21 CFR 1301.76(b) and
1301.74(c)): written notice of a theft or significant loss to the DEA Field Division within
one business day of discovery, and DEA Form 106 within 45 days.

Business days are Monday to Friday except US federal holidays (5 U.S.C. 6103, with the
observed-day rule: a holiday on Saturday is observed on Friday, on Sunday on Monday).
Pure: no Django imports.
"""

from __future__ import annotations

from datetime import date, timedelta

NOTICE_BUSINESS_DAYS = 1
FORM_106_DAYS = 45


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last = next_month - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    if day.weekday() == 5:
        return day - timedelta(days=1)
    if day.weekday() == 6:
        return day + timedelta(days=1)
    return day


def federal_holidays(year: int) -> frozenset[date]:
    """The observed US federal holidays of `year` (5 U.S.C. 6103)."""
    monday, thursday = 0, 3
    fixed = [date(year, 1, 1), date(year, 6, 19), date(year, 7, 4), date(year, 11, 11)]
    fixed.append(date(year, 12, 25))
    moving = [
        _nth_weekday(year, 1, monday, 3),  # Birthday of Martin Luther King, Jr.
        _nth_weekday(year, 2, monday, 3),  # Washington's Birthday
        _last_weekday(year, 5, monday),  # Memorial Day
        _nth_weekday(year, 9, monday, 1),  # Labor Day
        _nth_weekday(year, 10, monday, 2),  # Columbus Day
        _nth_weekday(year, 11, thursday, 4),  # Thanksgiving Day
    ]
    observed = {_observed(d) for d in fixed} | set(moving)
    # New Year's Day on a Saturday is observed on the Friday before, in the year before.
    next_new_year = date(year + 1, 1, 1)
    if next_new_year.weekday() == 5:
        observed.add(next_new_year - timedelta(days=1))
    return frozenset(d for d in observed if d.year == year)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in federal_holidays(day.year)


def add_business_days(start: date, days: int) -> date:
    """The date `days` business days after `start`."""
    if days < 0:
        raise ValueError("days must not be negative")
    current = start
    while days:
        current += timedelta(days=1)
        if is_business_day(current):
            days -= 1
    return current


def loss_deadlines(discovered_on: date) -> tuple[date, date]:
    """(written notice due, DEA Form 106 due) for a theft or loss discovered that day."""
    return (
        add_business_days(discovered_on, NOTICE_BUSINESS_DAYS),
        discovered_on + timedelta(days=FORM_106_DAYS),
    )
