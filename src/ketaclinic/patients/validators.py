"""Field validators for the registry, built on the pure rules in clinical/."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from ketaclinic.clinical.body import HEIGHT_CM_RANGE, OLDEST_AGE_YEARS, WEIGHT_KG_RANGE
from ketaclinic.clinical.codes import is_valid_icd10_cm, normalize_icd10_cm, normalize_us_phone


def validate_birth_date(value: date) -> None:
    today = timezone.localdate()
    if value > today:
        raise ValidationError("The date of birth cannot be in the future.")
    if today.year - value.year > OLDEST_AGE_YEARS:
        raise ValidationError(
            f"A date of birth more than {OLDEST_AGE_YEARS} years ago is not plausible."
        )


def validate_not_future(value: date) -> None:
    if value > timezone.localdate():
        raise ValidationError("This date cannot be in the future.")


def validate_icd10_cm(value: str) -> None:
    if not is_valid_icd10_cm(normalize_icd10_cm(value)):
        raise ValidationError(
            f"{value!r} is not an ICD-10-CM code: a letter, two digits (or digit and letter), "
            "then optionally a dot and up to four more characters, e.g. F33.2."
        )


def validate_weight_kg(value: Decimal) -> None:
    if not WEIGHT_KG_RANGE.contains(value):
        raise ValidationError(
            f"A weight of {value} kg is outside {WEIGHT_KG_RANGE.low}-{WEIGHT_KG_RANGE.high} kg; "
            "check the number and the unit (kilograms)."
        )


def validate_height_cm(value: Decimal) -> None:
    if not HEIGHT_CM_RANGE.contains(value):
        raise ValidationError(
            f"A height of {value} cm is outside {HEIGHT_CM_RANGE.low}-{HEIGHT_CM_RANGE.high} cm; "
            "check the number and the unit (centimetres)."
        )


def validate_us_phone(value: str) -> None:
    if value and normalize_us_phone(value) is None:
        raise ValidationError("Enter a 10-digit US phone number, e.g. (801) 555-0134.")
