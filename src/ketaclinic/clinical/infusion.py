"""An IV ketamine infusion from the dose decided to what the patient was given.

One source of truth for the figures a nurse sees, the note records and the register
accounts: every one of them is derived here from today's dose decision.

- Preparation (clinical-reference.md section 4): the dose is drawn from a stock vial
  (volume = dose / stock concentration, to 0.01 mL) and added to a bag of 0.9% saline; the
  pump runs the bag over the infusion minutes: rate = bag volume / minutes x 60, to
  0.1 mL/h. The small drug volume is not added to the bag volume, as in the reference's
  formula, so running the bag at that rate for the planned minutes gives the whole dose.
- What was given: the bag holds what went into it (the dose, or less if less was drawn);
  the patient received the share of the bag the pump ran: rate x minutes running / bag
  volume, at most all of it. Minutes running count from start or resume to pause or stop.
  Stopping at 2 of 40 minutes gives 5% of the dose, never the planned dose.

Pure: no Django imports. Quantities carry units in their names and are Decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

__all__ = [
    "Administered",
    "InfusionStep",
    "IvPreparation",
    "iv_administered",
    "iv_preparation",
    "minutes_running",
]

MG = Decimal("0.1")
ML = Decimal("0.01")
ML_PER_H = Decimal("0.1")
# The register counts volumes to 0.001 mL.
REGISTER_ML = Decimal("0.001")


def _round(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def _text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):f}"
    return f"{value.normalize():f}"


@dataclass(frozen=True)
class IvPreparation:
    """How today's dose is prepared and run."""

    dose_mg: Decimal
    stock_mg_per_ml: Decimal
    drug_volume_ml: Decimal
    bag_ml: Decimal
    minutes: int
    rate_ml_per_h: Decimal

    @property
    def dose_stock_ml(self) -> Decimal:
        """The dose as a volume of stock to the register's 0.001 mL (the syringe is read to
        0.01 mL: `drug_volume_ml`)."""
        return _round(self.dose_mg / self.stock_mg_per_ml, REGISTER_ML)

    @property
    def text(self) -> str:
        """One line for the chart and the note (the volume to the syringe's 0.01 mL)."""
        return (
            f"{_text(self.dose_mg)} mg: {self.drug_volume_ml:f} mL of "
            f"{_text(self.stock_mg_per_ml)} mg/mL in a {_text(self.bag_ml)} mL bag at "
            f"{_text(self.rate_ml_per_h)} mL/h over {self.minutes} min"
        )


def iv_preparation(
    *,
    dose_mg: Decimal,
    minutes: int,
    bag_ml: Decimal = Decimal("100"),
    stock_mg_per_ml: Decimal = Decimal("100"),
) -> IvPreparation:
    """Drug volume and pump rate for `dose_mg` run over `minutes` (clinical-reference.md
    section 4: rate = bag volume / minutes x 60). Raises ValueError for a negative dose, or
    a time, bag or stock that is not more than 0."""
    if dose_mg < 0:
        raise ValueError(f"the dose cannot be below 0 mg, got {_text(dose_mg)}")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise ValueError(f"the infusion minutes must be a whole number above 0, got {minutes!r}")
    if bag_ml <= 0 or stock_mg_per_ml <= 0:
        raise ValueError("the bag volume and the stock concentration must be more than 0")
    return IvPreparation(
        dose_mg=_round(dose_mg, MG),
        stock_mg_per_ml=stock_mg_per_ml,
        drug_volume_ml=_round(dose_mg / stock_mg_per_ml, ML),
        bag_ml=bag_ml,
        minutes=minutes,
        rate_ml_per_h=_round(bag_ml / minutes * 60, ML_PER_H),
    )


@dataclass(frozen=True)
class InfusionStep:
    """A start, pause, resume or stop of the pump, as charted."""

    kind: str  # "start", "pause", "resume" or "stop"
    at: datetime


def minutes_running(steps: Sequence[InfusionStep], until: datetime) -> Decimal:
    """Minutes the pump ran: from each start or resume to the next pause or stop (or to
    `until` while it still runs), in time order."""
    running_since: datetime | None = None
    seconds = Decimal(0)
    for step in sorted(steps, key=lambda s: s.at):
        if step.kind in ("start", "resume"):
            if running_since is None:
                running_since = step.at
        elif step.kind in ("pause", "stop") and running_since is not None:
            seconds += Decimal(str(max(0.0, (step.at - running_since).total_seconds())))
            running_since = None
    if running_since is not None:
        seconds += Decimal(str(max(0.0, (until - running_since).total_seconds())))
    return seconds / 60


@dataclass(frozen=True)
class Administered:
    """What the patient received from the bag."""

    mg: Decimal
    stock_ml: Decimal  # the same amount as a volume of the stock drawn, for the register
    share_of_bag: Decimal  # 0 to 1
    minutes_running: Decimal

    @property
    def percent_of_bag(self) -> int:
        return int(_round(self.share_of_bag * 100, Decimal(1)))


def iv_administered(
    *,
    preparation: IvPreparation,
    drawn_ml: Decimal | None,
    rate_ml_per_h: Decimal,
    minutes: Decimal,
) -> Administered:
    """What was given: the share of the bag the pump ran at `rate_ml_per_h` for `minutes`,
    of what went into the bag (the dose, or the whole syringe if less was drawn). Never more
    than was drawn, never more than the dose."""
    in_bag_ml = preparation.dose_stock_ml
    if drawn_ml is not None:
        in_bag_ml = min(in_bag_ml, max(drawn_ml, Decimal(0)))
    run_ml = max(rate_ml_per_h, Decimal(0)) * max(minutes, Decimal(0)) / 60
    share = min(Decimal(1), run_ml / preparation.bag_ml)
    # Rounded down to the register's 0.001 mL so that it never exceeds what was drawn.
    stock_ml = (in_bag_ml * share).quantize(REGISTER_ML, rounding=ROUND_DOWN)
    return Administered(
        mg=_round(stock_ml * preparation.stock_mg_per_ml, MG).min(preparation.dose_mg),
        stock_ml=stock_ml,
        share_of_bag=share,
        minutes_running=minutes,
    )
