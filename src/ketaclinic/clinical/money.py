"""Money arithmetic for the clinic's estimates, payment plans and accounts. No Django.

Amounts are `Decimal` dollars with two places (cents). Rounding is ROUND_HALF_UP, the
commercial rounding patients expect on a bill. An instalment plan always adds up to the
total exactly: the total is split into whole cents, and the cents left over are added one
each to the earliest instalments, so the first payments are never smaller than the later
ones and the split is the same every time (docs/billing.md, "Payment plans").
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = [
    "CENT",
    "MAX_AMOUNT",
    "InstalmentState",
    "PlannedVisit",
    "account_balance",
    "cents",
    "course_service_dates",
    "instalment_states",
    "line_total",
    "monthly_due_dates",
    "parse_amount",
    "split_instalments",
    "total",
]

CENT = Decimal("0.01")
# The largest amount one entry may carry (the database column holds 10 digits, 2 places).
MAX_AMOUNT = Decimal("99999999.99")


def cents(amount: Decimal | int | str) -> Decimal:
    """`amount` rounded to the cent, half up."""
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_amount(text: str | Decimal) -> Decimal:
    """A positive amount of dollars and cents typed by staff, or ValueError with a message
    to show: not a number, zero or negative, more than two decimal places, too large.
    A leading "$" and thousands commas are accepted."""
    raw = str(text).strip().replace(",", "").removeprefix("$").strip()
    try:
        amount = Decimal(raw)
    except InvalidOperation as error:
        raise ValueError("Enter an amount in dollars and cents, like 250.00.") from error
    if not amount.is_finite():
        raise ValueError("Enter an amount in dollars and cents, like 250.00.")
    if amount <= 0:
        raise ValueError("The amount must be more than zero.")
    if amount > MAX_AMOUNT:
        raise ValueError("That amount is too large.")
    if amount != amount.quantize(CENT):
        raise ValueError("Use at most two decimal places (cents).")
    return amount.quantize(CENT)


def line_total(quantity: int, unit_fee: Decimal) -> Decimal:
    """One estimate or charge line: quantity x unit fee, to the cent."""
    if quantity < 0:
        raise ValueError("A quantity is never negative.")
    return cents(Decimal(quantity) * unit_fee)


def total(amounts: Iterable[Decimal]) -> Decimal:
    """The sum of amounts, to the cent."""
    return cents(sum(amounts, Decimal("0")))


def split_instalments(amount: Decimal, count: int) -> list[Decimal]:
    """`amount` in `count` instalments that add up to it exactly: equal whole-cent shares,
    the remaining cents one each on the first instalments (100.00 in 3: 33.34, 33.33,
    33.33)."""
    if count < 1:
        raise ValueError("A plan has at least one instalment.")
    amount = cents(amount)
    if amount < 0:
        raise ValueError("A plan is for an amount owed, never negative.")
    all_cents = int(amount / CENT)
    share, remainder = divmod(all_cents, count)
    return [(Decimal(share + (1 if i < remainder else 0)) * CENT) for i in range(count)]


def monthly_due_dates(first: date, count: int) -> list[date]:
    """`count` due dates a month apart from `first`, on the same day of the month, or the
    month's last day when it is shorter (Jan 31 -> Feb 28 -> Mar 31)."""
    if count < 1:
        raise ValueError("A plan has at least one instalment.")
    dates = []
    for i in range(count):
        month_index = first.month - 1 + i
        year, month = first.year + month_index // 12, month_index % 12 + 1
        day = min(first.day, calendar.monthrange(year, month)[1])
        dates.append(date(year, month, day))
    return dates


def account_balance(
    *, charges: Decimal, payments: Decimal, refunds: Decimal, write_offs: Decimal
) -> Decimal:
    """What the patient owes: charges - payments + refunds - write-offs (a negative balance
    is a credit)."""
    return cents(charges - payments + refunds - write_offs)


@dataclass(frozen=True)
class InstalmentState:
    """One instalment of a plan, with how much of it the net payments cover."""

    number: int
    due_date: date
    amount: Decimal
    paid: Decimal

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid

    def is_overdue(self, today: date) -> bool:
        return self.outstanding > 0 and self.due_date < today

    def status(self, today: date) -> str:
        if self.outstanding <= 0:
            return "paid"
        if self.due_date < today:
            return "overdue"
        return "part paid" if self.paid > 0 else "due"


def instalment_states(
    instalments: Sequence[tuple[date, Decimal]], net_paid: Decimal
) -> list[InstalmentState]:
    """The plan's instalments (due date, amount), in due order, with the net payments
    (payments - refunds) applied to the earliest first."""
    left = max(cents(net_paid), Decimal("0.00"))
    states = []
    for number, (due_date, amount) in enumerate(instalments, start=1):
        paid = min(left, amount)
        left -= paid
        states.append(InstalmentState(number, due_date, amount, paid))
    return states


@dataclass(frozen=True)
class PlannedVisit:
    """A planned session as the estimate counts it: its local date and planned dose."""

    day: date
    dose_mg: Decimal


def course_service_dates(
    *,
    route: str,
    visits: Sequence[PlannedVisit],
    infusion_minutes: int | None,
    rules: dict[str, object],
) -> dict[str, list[date]]:
    """Which fee-schedule service each planned session is charged as, by route, from the
    rules in billing/fees.json ("course_services"): service key -> the sessions' dates, in
    the order the rules name the services. IV: the infusion's first hour for every session,
    and the additional hour when the planned infusion is longer than the rule's minutes
    (CPT 96365/96366). Esketamine: by planned dose, the first band the dose fits (HCPCS
    G2082 up to 56 mg, G2083 above; CMS-1715-F)."""
    rule = rules.get(route)
    if not isinstance(rule, dict):
        raise ValueError(f"No fee rule for the route {route!r}.")
    out: dict[str, list[date]] = {}
    days = [visit.day for visit in visits]
    if "service" in rule:
        out[str(rule["service"])] = list(days)
        extra = rule.get("additional_hour")
        if isinstance(extra, dict) and (infusion_minutes or 0) > int(extra["over_minutes"]):
            out[str(extra["service"])] = list(days)
    for band in rule.get("by_dose", []):
        out.setdefault(str(band["service"]), [])
    for visit in visits if "by_dose" in rule else []:
        for band in rule["by_dose"]:
            if "max_mg" not in band or visit.dose_mg <= Decimal(str(band["max_mg"])):
                out[str(band["service"])].append(visit.day)
                break
    return {key: value for key, value in out.items() if value}
