from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.money import (
    account_balance,
    cents,
    instalment_states,
    line_total,
    monthly_due_dates,
    parse_amount,
    split_instalments,
    total,
)

amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("999999.99"), places=2)


@given(amounts, st.integers(min_value=1, max_value=60))
def test_instalments_always_sum_exactly_to_the_total(amount: Decimal, count: int) -> None:
    parts = split_instalments(amount, count)
    assert len(parts) == count
    assert sum(parts) == amount
    assert all(p == p.quantize(Decimal("0.01")) for p in parts)
    # Never more than a cent apart, the larger ones first.
    assert max(parts) - min(parts) <= Decimal("0.01")
    assert parts == sorted(parts, reverse=True)


def test_the_remainder_goes_on_the_first_instalments() -> None:
    assert split_instalments(Decimal("100.00"), 3) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]
    assert split_instalments(Decimal("0.02"), 3) == [Decimal("0.01"), Decimal("0.01"), 0]


def test_rounding_is_half_up() -> None:
    assert cents(Decimal("2.345")) == Decimal("2.35")
    assert cents(Decimal("2.344")) == Decimal("2.34")
    assert line_total(3, Decimal("0.335")) == Decimal("1.01")
    assert total([Decimal("1.10"), Decimal("2.20")]) == Decimal("3.30")


@given(st.lists(st.tuples(st.integers(0, 20), amounts), max_size=20))
def test_a_total_is_the_sum_of_its_lines(lines: list[tuple[int, Decimal]]) -> None:
    line_totals = [line_total(q, fee) for q, fee in lines]
    assert total(line_totals) == sum((Decimal(q) * fee for q, fee in lines), Decimal("0"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "dollars and cents"),
        ("", "dollars and cents"),
        ("0", "more than zero"),
        ("-5", "more than zero"),
        ("10.005", "two decimal places"),
        ("NaN", "dollars and cents"),
        ("Infinity", "dollars and cents"),
        ("100000000", "too large"),
    ],
)
def test_bad_amounts_are_refused_with_a_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount(text)


def test_amounts_as_people_type_them() -> None:
    assert parse_amount("$1,250.5") == Decimal("1250.50")
    assert parse_amount(" 40 ") == Decimal("40.00")


def test_monthly_due_dates_keep_the_day_or_take_the_month_end() -> None:
    assert monthly_due_dates(date(2027, 1, 31), 4) == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]
    assert monthly_due_dates(date(2027, 11, 15), 3)[-1] == date(2028, 1, 15)
    assert monthly_due_dates(date(2028, 1, 29), 2)[-1] == date(2028, 2, 29)


def test_balance_and_overdue_instalments() -> None:
    balance = account_balance(
        charges=Decimal("1000"),
        payments=Decimal("300"),
        refunds=Decimal("50"),
        write_offs=Decimal("25"),
    )
    assert balance == Decimal("725.00")
    plan = list(
        zip(
            monthly_due_dates(date(2027, 1, 10), 3),
            split_instalments(Decimal("100"), 3),
            strict=True,
        )
    )
    states = instalment_states(plan, Decimal("40.00"))
    assert [s.paid for s in states] == [Decimal("33.34"), Decimal("6.66"), Decimal("0")]
    today = date(2027, 2, 20)
    assert [s.status(today) for s in states] == ["paid", "overdue", "due"]
    assert [s.is_overdue(today) for s in states] == [False, True, False]


RULES = {
    "iv_ketamine": {
        "service": "iv",
        "additional_hour": {"service": "iv_more", "over_minutes": 90},
    },
    "esketamine": {"by_dose": [{"max_mg": "56", "service": "g2082"}, {"service": "g2083"}]},
}


def test_course_services_by_route_and_dose() -> None:
    from ketaclinic.clinical.money import PlannedVisit, course_service_dates

    d1, d2 = date(2027, 1, 4), date(2027, 1, 7)
    visits = [PlannedVisit(d1, Decimal("56")), PlannedVisit(d2, Decimal("84"))]
    assert course_service_dates(
        route="esketamine", visits=visits, infusion_minutes=None, rules=RULES
    ) == {"g2082": [d1], "g2083": [d2]}
    assert course_service_dates(
        route="iv_ketamine", visits=visits, infusion_minutes=40, rules=RULES
    ) == {"iv": [d1, d2]}
    assert course_service_dates(
        route="iv_ketamine", visits=visits, infusion_minutes=100, rules=RULES
    ) == {"iv": [d1, d2], "iv_more": [d1, d2]}
    with pytest.raises(ValueError, match="No fee rule"):
        course_service_dates(route="oral", visits=visits, infusion_minutes=None, rules=RULES)
