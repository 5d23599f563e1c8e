from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.controlled import (
    add_business_days,
    federal_holidays,
    is_business_day,
    loss_deadlines,
)


def test_federal_holidays_2026_with_observed_days() -> None:
    assert federal_holidays(2026) == {
        date(2026, 1, 1),
        date(2026, 1, 19),
        date(2026, 2, 16),
        date(2026, 5, 25),
        date(2026, 6, 19),
        date(2026, 7, 3),  # July 4 is a Saturday
        date(2026, 9, 7),
        date(2026, 10, 12),
        date(2026, 11, 11),
        date(2026, 11, 26),
        date(2026, 12, 25),
    }
    # New Year's Day 2028 is a Saturday: observed on Friday, December 31, 2027.
    assert date(2027, 12, 31) in federal_holidays(2027)


def test_notice_is_due_the_next_business_day() -> None:
    assert loss_deadlines(date(2026, 11, 18)) == (date(2026, 11, 19), date(2027, 1, 2))
    # Friday before a weekend: Monday. Wednesday before Thanksgiving: Friday.
    assert loss_deadlines(date(2026, 11, 20))[0] == date(2026, 11, 23)
    assert loss_deadlines(date(2026, 11, 25))[0] == date(2026, 11, 27)
    # Discovered on a Saturday: Monday.
    assert loss_deadlines(date(2026, 11, 21))[0] == date(2026, 11, 23)


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)))
def test_the_notice_day_is_the_first_business_day_after_discovery(day: date) -> None:
    notice, form = loss_deadlines(day)
    assert notice > day and is_business_day(notice)
    assert all(not is_business_day(day + timedelta(days=n)) for n in range(1, (notice - day).days))
    assert form == day + timedelta(days=45)
    assert add_business_days(day, 0) == day
