"""Dose arithmetic for IV racemic ketamine and intranasal esketamine.

Rules from clinical-reference.md section 4 (Protocols and dosing) and the primary
sources named there:

- IV ketamine: 0.5 mg/kg over 40 minutes is the standard research dose (Murrough 2013,
  Am J Psychiatry; the Bio-K trial used 40 or 100 minutes). Higher mg/kg is a clinician's
  titration and is flagged, not refused.
- Weight basis (actual, ideal or adjusted) is a clinic choice. Ideal body weight is
  Devine 1974 (Drug Intell Clin Pharm 8:650): 50 kg for men, 45.5 kg for women, plus
  2.3 kg per inch over 60 inches. Adjusted = IBW + 0.4 x (actual - IBW).
- Preparation: the dose is drawn from a stock vial (100 mg/mL must be diluted before IV
  use) into a 100 or 250 mL bag of 0.9% saline; pump rate = bag volume / minutes x 60.
- Esketamine (Spravato prescribing information): 28 mg per device (2 sprays), 28, 56
  or 84 mg per session, 5 minutes between devices.

This module does arithmetic and raises flags; it never decides a patient's dose. Pure:
no Django imports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from ketaclinic.clinical.body import HEIGHT_CM_RANGE, WEIGHT_KG_RANGE
from ketaclinic.clinical.infusion import iv_preparation

__all__ = [
    "ESKETAMINE_DOSES_MG",
    "DosingInputError",
    "EsketamineDose",
    "IvDose",
    "WeightBasis",
    "adjusted_body_weight_kg",
    "basis_weight_kg",
    "esketamine_dose",
    "ideal_body_weight_kg",
    "iv_ketamine_dose",
]

# Devine 1974 ideal body weight (clinical-reference.md section 4).
DEVINE_BASE_KG = {"male": Decimal("50"), "female": Decimal("45.5")}
DEVINE_KG_PER_INCH = Decimal("2.3")
DEVINE_BASE_INCHES = Decimal("60")
CM_PER_INCH = Decimal("2.54")
# Adjusted body weight: IBW plus 40% of the excess (clinical-reference.md section 4).
ADJUSTED_WEIGHT_FRACTION = Decimal("0.4")

# The research standard, used only to flag departures (Murrough 2013; Bio-K).
STANDARD_MG_PER_KG = Decimal("0.5")
STANDARD_MINUTES = 40
# Above this share of the bag the drug volume no longer disappears in the pump rate.
DRUG_VOLUME_SHARE_NOTED = Decimal("0.10")

# Input limits: beyond these the numbers are typing errors, not a dose to compute.
MAX_WEIGHT_KG = WEIGHT_KG_RANGE.high  # 350 kg, the data-entry plausibility limit
MAX_MG_PER_KG = Decimal("5")
MAX_MINUTES = 600

# Spravato prescribing information (clinical-reference.md section 4).
ESKETAMINE_MG_PER_DEVICE = 28
ESKETAMINE_SPRAYS_PER_DEVICE = 2
ESKETAMINE_MINUTES_BETWEEN_DEVICES = 5
ESKETAMINE_DOSES_MG = (28, 56, 84)

_MG = Decimal("0.1")
_ML = Decimal("0.01")
_KG = Decimal("0.1")


class DosingInputError(ValueError):
    """An input that cannot give a meaningful dose; the message is one line naming it."""


class WeightBasis(StrEnum):
    """Which body weight the mg/kg dose is multiplied by (a clinic-configurable choice)."""

    ACTUAL = "actual"
    IDEAL = "ideal"
    ADJUSTED = "adjusted"


def _text(value: Decimal) -> str:
    """A Decimal as people write it: 70, 0.5, 37.5 (no exponent, no trailing zeros)."""
    if value == value.to_integral_value():
        return f"{value.quantize(Decimal(1)):f}"
    return f"{value.normalize():f}"


def _decimal(value: Any, name: str) -> Decimal:
    """Accept Decimal, int, float or numeric text; refuse anything else in one line."""
    if isinstance(value, bool):
        raise DosingInputError(f"{name} must be a number, got {value!r}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value)) if math.isfinite(value) else Decimal("NaN")
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise DosingInputError(f"{name} must be a number, got {value!r}") from None
    else:
        raise DosingInputError(f"{name} must be a number, got {value!r}")
    if not number.is_finite():
        raise DosingInputError(f"{name} must be a finite number, got {value!r}")
    return number


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DosingInputError(f"{name} must be a whole number, got {value!r}")
    return value


def _round(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def _sex(sex: Any) -> str:
    text = sex.strip().lower() if isinstance(sex, str) else ""
    if text not in DEVINE_BASE_KG:
        raise DosingInputError(
            f"sex must be female or male for ideal body weight (Devine), got {sex!r}"
        )
    return text


def _height(height_cm: Any) -> Decimal:
    height = _decimal(height_cm, "height")
    if not HEIGHT_CM_RANGE.contains(height):
        raise DosingInputError(
            f"height must be between {_text(HEIGHT_CM_RANGE.low)} and "
            f"{_text(HEIGHT_CM_RANGE.high)} cm, got {_text(height)}"
        )
    return height


def _weight(weight_kg: Any, name: str = "weight") -> Decimal:
    weight = _decimal(weight_kg, name)
    if weight <= 0 or weight > MAX_WEIGHT_KG:
        raise DosingInputError(
            f"{name} must be more than 0 and at most {_text(MAX_WEIGHT_KG)} kg, got {_text(weight)}"
        )
    return weight


def ideal_body_weight_kg(*, height_cm: Decimal, sex: str) -> Decimal:
    """Ideal body weight by Devine 1974, to 0.1 kg (clinical-reference.md section 4).

    50 kg (male) or 45.5 kg (female) plus 2.3 kg per inch of height over 60 inches,
    1 inch = 2.54 cm. Example: a man of 180 cm is 70.87 in, 50 + 2.3 x 10.87 = 75.0 kg.

    Below 60 inches (152.4 cm) Devine gives no rule. We extrapolate the same line
    downwards (2.3 kg less per inch under 60 in), the usual pharmacy practice: it keeps
    the weight, and so the dose, lower for short patients instead of holding them at
    the 60-inch value. `iv_ketamine_dose` flags such heights. Where the line falls
    below 20 kg, the lowest plausible adult weight in `body.WEIGHT_KG_RANGE` (women
    under about 124 cm, men under about 119 cm), the formula means nothing and
    DosingInputError is raised: use actual weight instead.
    """
    sex_key = _sex(sex)
    height = _height(height_cm)
    inches = height / CM_PER_INCH
    ideal = DEVINE_BASE_KG[sex_key] + DEVINE_KG_PER_INCH * (inches - DEVINE_BASE_INCHES)
    ideal = _round(ideal, _KG)
    if ideal < WEIGHT_KG_RANGE.low:
        raise DosingInputError(
            f"ideal body weight (Devine) is not meaningful for a height of {_text(height)} cm "
            f"(it gives {_text(ideal)} kg); use actual weight"
        )
    return ideal


def adjusted_body_weight_kg(*, actual_kg: Decimal, ideal_kg: Decimal) -> Decimal:
    """Adjusted body weight = IBW + 0.4 x (actual - IBW), to 0.1 kg.

    clinical-reference.md section 4. When the patient weighs less than the IBW the
    result lies between the two, above the actual weight; `iv_ketamine_dose` flags
    any basis weight above the actual weight.
    """
    actual = _weight(actual_kg)
    ideal = _weight(ideal_kg, "ideal body weight")
    return _round(ideal + ADJUSTED_WEIGHT_FRACTION * (actual - ideal), _KG)


def basis_weight_kg(
    *,
    weight_kg: Decimal,
    basis: WeightBasis,
    height_cm: Decimal | None,
    sex: str | None,
) -> Decimal:
    """The weight the mg/kg dose is multiplied by, for the clinic's chosen basis.

    Actual weight is used as given; ideal and adjusted (clinical-reference.md section 4)
    need height and sex, else DosingInputError.
    """
    weight = _weight(weight_kg)
    try:
        basis = WeightBasis(basis)
    except ValueError:
        raise DosingInputError(
            f"weight basis must be actual, ideal or adjusted, got {basis!r}"
        ) from None
    if basis is WeightBasis.ACTUAL:
        return weight
    if height_cm is None or sex is None:
        raise DosingInputError(f"{basis.value} body weight needs the height and sex")
    ideal = ideal_body_weight_kg(height_cm=height_cm, sex=sex)
    if basis is WeightBasis.IDEAL:
        return ideal
    return adjusted_body_weight_kg(actual_kg=weight, ideal_kg=ideal)


def _number(value: Decimal, places: int) -> float:
    """A JSON number (float) rounded to `places` decimals, no binary noise in its text."""
    return float(_round(value, Decimal(1).scaleb(-places)))


@dataclass(frozen=True)
class IvDose:
    """A computed IV ketamine preparation; quantities carry units in their names."""

    dose_mg: Decimal
    basis_weight_kg: Decimal
    weight_basis: str
    mg_per_kg: Decimal
    minutes: int
    bag_ml: Decimal
    stock_mg_per_ml: Decimal
    drug_volume_ml: Decimal
    total_volume_ml: Decimal
    rate_ml_per_h: Decimal
    warnings: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe: quantities as numbers rounded to their display precision."""
        return {
            "dose_mg": _number(self.dose_mg, 1),
            "basis_weight_kg": _number(self.basis_weight_kg, 2),
            "weight_basis": self.weight_basis,
            "mg_per_kg": _number(self.mg_per_kg, 4),
            "minutes": self.minutes,
            "bag_ml": _number(self.bag_ml, 2),
            "stock_mg_per_ml": _number(self.stock_mg_per_ml, 2),
            "drug_volume_ml": _number(self.drug_volume_ml, 2),
            "total_volume_ml": _number(self.total_volume_ml, 2),
            "rate_ml_per_h": _number(self.rate_ml_per_h, 1),
            "warnings": list(self.warnings),
        }


def iv_ketamine_dose(
    *,
    weight_kg: Decimal,
    mg_per_kg: Decimal,
    minutes: int,
    basis: WeightBasis = WeightBasis.ACTUAL,
    height_cm: Decimal | None = None,
    sex: str | None = None,
    bag_ml: Decimal = Decimal("100"),
    stock_mg_per_ml: Decimal = Decimal("100"),
    max_dose_mg: Decimal | None = None,
    max_mg_per_kg: Decimal | None = None,
) -> IvDose:
    """Dose, drug volume and pump rate for one IV ketamine infusion.

    clinical-reference.md section 4; standard dose 0.5 mg/kg over 40 minutes (Murrough
    2013; Bio-K), IBW by Devine 1974.

    - dose_mg = basis weight x mg/kg, to 0.1 mg.
    - drug_volume_ml = dose_mg / stock_mg_per_ml, to 0.01 mL: the volume drawn from
      the vial and added to the bag (100 mg/mL stock must be diluted before IV use,
      so a bag is required). total_volume_ml = bag_ml + drug_volume_ml.
    - rate_ml_per_h = bag_ml / minutes x 60, to 0.1 mL/h, the reference's formula.
      Common practice ignores the small drug volume (0.35 mL in a 100 mL bag is 0.35%
      and adds seconds to a 40-minute run); when the drug is more than 10% of the bag
      a warning says that the infusion will run longer at this rate.

    Warnings (the dose is still computed): above a protocol maximum (dose or mg/kg),
    mg/kg above the standard 0.5 (a titration), shorter than 40 minutes, drug volume
    over 10% of the bag, a basis weight above the actual weight, and IBW extrapolated
    below 60 inches. Impossible input raises DosingInputError.
    """
    weight = _weight(weight_kg)
    rate_mg_per_kg = _decimal(mg_per_kg, "mg/kg")
    if rate_mg_per_kg <= 0 or rate_mg_per_kg > MAX_MG_PER_KG:
        raise DosingInputError(
            f"mg/kg must be more than 0 and at most {_text(MAX_MG_PER_KG)}, "
            f"got {_text(rate_mg_per_kg)}"
        )
    run_minutes = _whole(minutes, "minutes")
    if run_minutes <= 0 or run_minutes > MAX_MINUTES:
        raise DosingInputError(
            f"minutes must be more than 0 and at most {MAX_MINUTES}, got {run_minutes}"
        )
    bag = _decimal(bag_ml, "bag volume")
    if bag <= 0:
        raise DosingInputError(
            f"bag volume must be more than 0 mL (ketamine stock is diluted in a bag), "
            f"got {_text(bag)}"
        )
    stock = _decimal(stock_mg_per_ml, "stock concentration")
    if stock <= 0:
        raise DosingInputError(f"stock concentration must be more than 0 mg/mL, got {_text(stock)}")
    max_dose = None if max_dose_mg is None else _decimal(max_dose_mg, "maximum dose")
    if max_dose is not None and max_dose <= 0:
        raise DosingInputError(f"maximum dose must be more than 0 mg, got {_text(max_dose)}")
    max_rate = None if max_mg_per_kg is None else _decimal(max_mg_per_kg, "maximum mg/kg")
    if max_rate is not None and max_rate <= 0:
        raise DosingInputError(f"maximum mg/kg must be more than 0, got {_text(max_rate)}")

    basis_weight = basis_weight_kg(weight_kg=weight, basis=basis, height_cm=height_cm, sex=sex)
    basis_value = WeightBasis(basis).value
    dose = _round(basis_weight * rate_mg_per_kg, _MG)
    preparation = iv_preparation(
        dose_mg=dose, minutes=run_minutes, bag_ml=bag, stock_mg_per_ml=stock
    )
    drug_volume, rate = preparation.drug_volume_ml, preparation.rate_ml_per_h
    total_volume = _round(bag + drug_volume, _ML)

    warnings: list[str] = []
    if max_dose is not None and dose > max_dose:
        warnings.append(
            f"dose {_text(dose)} mg is above the protocol maximum of {_text(max_dose)} mg"
        )
    if max_rate is not None and rate_mg_per_kg > max_rate:
        warnings.append(
            f"{_text(rate_mg_per_kg)} mg/kg is above the protocol maximum of "
            f"{_text(max_rate)} mg/kg"
        )
    if rate_mg_per_kg > STANDARD_MG_PER_KG:
        warnings.append(
            f"{_text(rate_mg_per_kg)} mg/kg is a titration above the standard "
            f"{_text(STANDARD_MG_PER_KG)} mg/kg"
        )
    if run_minutes < STANDARD_MINUTES:
        warnings.append(
            f"infusion over {run_minutes} minutes is shorter than the standard "
            f"{STANDARD_MINUTES} minutes"
        )
    if drug_volume > bag * DRUG_VOLUME_SHARE_NOTED:
        warnings.append(
            f"drug volume {_text(drug_volume)} mL is more than 10% of the {_text(bag)} mL "
            f"bag; at {_text(rate)} mL/h the infusion runs longer than {run_minutes} minutes"
        )
    if basis_weight > weight:
        warnings.append(
            f"{basis_value} body weight {_text(basis_weight)} kg is above the actual "
            f"weight of {_text(weight)} kg"
        )
    if basis_value != WeightBasis.ACTUAL and _height(height_cm) < DEVINE_BASE_INCHES * CM_PER_INCH:
        warnings.append(
            "height under 152.4 cm (60 in): Devine ideal body weight is extrapolated below "
            "its range"
        )
    return IvDose(
        dose_mg=dose,
        basis_weight_kg=basis_weight,
        weight_basis=basis_value,
        mg_per_kg=rate_mg_per_kg,
        minutes=run_minutes,
        bag_ml=bag,
        stock_mg_per_ml=stock,
        drug_volume_ml=drug_volume,
        total_volume_ml=total_volume,
        rate_ml_per_h=rate,
        warnings=tuple(warnings),
    )


@dataclass(frozen=True)
class EsketamineDose:
    """How one esketamine (Spravato) session dose is given: devices, sprays, timing."""

    dose_mg: int
    devices: int
    sprays: int
    minutes_between_devices: int
    device_times_min: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "dose_mg": self.dose_mg,
            "devices": self.devices,
            "sprays": self.sprays,
            "minutes_between_devices": self.minutes_between_devices,
            "device_times_min": list(self.device_times_min),
        }


def esketamine_dose(*, dose_mg: int) -> EsketamineDose:
    """Devices and timing for a 28, 56 or 84 mg esketamine dose.

    Spravato prescribing information (clinical-reference.md section 4): each device
    holds 28 mg given as 2 sprays (one per nostril); 56 mg is 2 devices and 84 mg is 3,
    with 5 minutes between devices. Any other dose raises DosingInputError.
    """
    if isinstance(dose_mg, bool) or not isinstance(dose_mg, int):
        raise DosingInputError(f"esketamine dose must be 28, 56 or 84 mg, got {dose_mg!r}")
    if dose_mg not in ESKETAMINE_DOSES_MG:
        raise DosingInputError(f"esketamine dose must be 28, 56 or 84 mg, got {dose_mg}")
    devices = dose_mg // ESKETAMINE_MG_PER_DEVICE
    return EsketamineDose(
        dose_mg=dose_mg,
        devices=devices,
        sprays=devices * ESKETAMINE_SPRAYS_PER_DEVICE,
        minutes_between_devices=ESKETAMINE_MINUTES_BETWEEN_DEVICES,
        device_times_min=tuple(
            index * ESKETAMINE_MINUTES_BETWEEN_DEVICES for index in range(devices)
        ),
    )
