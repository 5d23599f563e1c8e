"""The infusion from today's dose to what was given: preparation, minutes running and the
amount administered, with property tests that the figures always agree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.dosing import iv_ketamine_dose
from ketaclinic.clinical.infusion import (
    InfusionStep,
    iv_administered,
    iv_preparation,
    minutes_running,
)

T0 = datetime(2027, 1, 4, 16, 0, tzinfo=UTC)

doses = st.decimals(min_value=Decimal("1"), max_value=Decimal("400"), places=1)
minutes = st.integers(min_value=10, max_value=120)
bags = st.sampled_from([Decimal("100"), Decimal("250")])
stocks = st.sampled_from([Decimal("50"), Decimal("100")])


def test_preparation_of_the_issue_dose() -> None:
    prep = iv_preparation(dose_mg=Decimal("60"), minutes=40)
    assert prep.drug_volume_ml == Decimal("0.60")
    assert prep.rate_ml_per_h == Decimal("150.0")
    assert prep.text == "60 mg: 0.60 mL of 100 mg/mL in a 100 mL bag at 150 mL/h over 40 min"


def test_preparation_refuses_impossible_input() -> None:
    with pytest.raises(ValueError, match="below 0"):
        iv_preparation(dose_mg=Decimal("-1"), minutes=40)
    with pytest.raises(ValueError, match="minutes"):
        iv_preparation(dose_mg=Decimal("30"), minutes=0)
    with pytest.raises(ValueError, match="bag"):
        iv_preparation(dose_mg=Decimal("30"), minutes=40, bag_ml=Decimal(0))


def test_the_weight_based_dose_uses_the_same_preparation() -> None:
    dose = iv_ketamine_dose(weight_kg=Decimal("69.8"), mg_per_kg=Decimal("0.5"), minutes=40)
    prep = iv_preparation(dose_mg=dose.dose_mg, minutes=40)
    assert (dose.drug_volume_ml, dose.rate_ml_per_h) == (prep.drug_volume_ml, prep.rate_ml_per_h)


def test_minutes_running_leave_out_pauses() -> None:
    steps = [
        InfusionStep("start", T0),
        InfusionStep("pause", T0 + timedelta(minutes=10)),
        InfusionStep("resume", T0 + timedelta(minutes=25)),
        InfusionStep("stop", T0 + timedelta(minutes=55)),
    ]
    assert minutes_running(steps, T0 + timedelta(hours=2)) == 40
    # Still running: counted to `until`.
    assert minutes_running(steps[:3], T0 + timedelta(minutes=35)) == 20


def test_stopping_at_2_of_40_minutes_gives_a_twentieth() -> None:
    prep = iv_preparation(dose_mg=Decimal("33.3"), minutes=40)
    given_ = iv_administered(
        preparation=prep, drawn_ml=Decimal("0.40"), rate_ml_per_h=Decimal("150"), minutes=Decimal(2)
    )
    assert given_.percent_of_bag == 5
    assert given_.mg == Decimal("1.6")
    assert given_.stock_ml == Decimal("0.016")


def test_a_whole_run_gives_the_dose_and_no_more() -> None:
    prep = iv_preparation(dose_mg=Decimal("34.9"), minutes=40)
    full = iv_administered(
        preparation=prep,
        drawn_ml=Decimal("0.40"),
        rate_ml_per_h=Decimal("150"),
        minutes=Decimal(55),
    )
    assert full.mg == Decimal("34.9") and full.stock_ml == Decimal("0.349")


@given(dose=doses, run=minutes, bag=bags, stock=stocks, new_dose=doses)
def test_a_dose_change_keeps_rate_volume_and_register_amount_in_step(
    dose: Decimal, run: int, bag: Decimal, stock: Decimal, new_dose: Decimal
) -> None:
    before = iv_preparation(dose_mg=dose, minutes=run, bag_ml=bag, stock_mg_per_ml=stock)
    after = iv_preparation(dose_mg=new_dose, minutes=run, bag_ml=bag, stock_mg_per_ml=stock)
    # The rate depends on the bag and the minutes only; the volume follows the dose.
    assert after.rate_ml_per_h == before.rate_ml_per_h
    assert abs(after.drug_volume_ml * stock - new_dose) <= Decimal("0.005") * stock
    assert abs(after.dose_stock_ml * stock - new_dose) <= Decimal("0.0005") * stock
    # Run in full at that rate, the register's amount is the new dose's volume.
    given_ = iv_administered(
        preparation=after,
        drawn_ml=after.dose_stock_ml,
        rate_ml_per_h=after.rate_ml_per_h,
        minutes=Decimal(run) + 1,
    )
    assert given_.stock_ml == after.dose_stock_ml
    assert given_.mg <= after.dose_mg


@given(
    dose=doses,
    run=minutes,
    bag=bags,
    stock=stocks,
    drawn=st.decimals(min_value=Decimal("0"), max_value=Decimal("10"), places=2),
    rate=st.decimals(min_value=Decimal("0"), max_value=Decimal("2000"), places=1),
    ran=st.decimals(min_value=Decimal("0"), max_value=Decimal("300"), places=2),
)
def test_what_is_given_never_exceeds_what_was_drawn_or_the_dose(
    dose: Decimal,
    run: int,
    bag: Decimal,
    stock: Decimal,
    drawn: Decimal,
    rate: Decimal,
    ran: Decimal,
) -> None:
    prep = iv_preparation(dose_mg=dose, minutes=run, bag_ml=bag, stock_mg_per_ml=stock)
    given_ = iv_administered(preparation=prep, drawn_ml=drawn, rate_ml_per_h=rate, minutes=ran)
    assert Decimal(0) <= given_.stock_ml <= drawn
    assert given_.stock_ml <= prep.dose_stock_ml
    assert Decimal(0) <= given_.mg <= prep.dose_mg
    assert Decimal(0) <= given_.share_of_bag <= 1
