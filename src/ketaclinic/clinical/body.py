"""Body measurements: BMI, age and plausibility limits for entered values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class PlausibleRange:
    """Inclusive limits outside which an entered value is a typing error, not a patient.

    These guard data entry; they are not clinical thresholds. Defaults cover the
    recorded human extremes for adults with a margin and can be changed in settings.
    """

    low: Decimal
    high: Decimal
    unit: str

    def contains(self, value: Decimal) -> bool:
        return self.low <= value <= self.high


WEIGHT_KG_RANGE = PlausibleRange(Decimal("20"), Decimal("350"), "kg")
HEIGHT_CM_RANGE = PlausibleRange(Decimal("100"), Decimal("250"), "cm")
OLDEST_AGE_YEARS = 120


def body_mass_index(*, weight_kg: Decimal, height_cm: Decimal) -> Decimal:
    """BMI = weight (kg) / height (m)^2, to one decimal (WHO definition).

    LOINC 39156-5 (clinical-reference.md section 8).
    """
    if weight_kg <= 0 or height_cm <= 0:
        raise ValueError("weight and height must be positive")
    height_m = height_cm / Decimal(100)
    return (weight_kg / (height_m * height_m)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def age_in_years(*, date_of_birth: date, on: date) -> int:
    """Completed years of age on a given date (a birthday counts on the day)."""
    if on < date_of_birth:
        raise ValueError("date is before the date of birth")
    years = on.year - date_of_birth.year
    if (on.month, on.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years
