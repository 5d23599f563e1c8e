"""Identifier and code formats: ICD-10-CM codes, medical record numbers, US states."""

from __future__ import annotations

import re

# ICD-10-CM: a letter, a digit, a letter or digit, then optionally a dot and one to
# four letters or digits (CMS ICD-10-CM Official Guidelines, code structure). The
# tabular list has no codes starting with U in ICD-10-CM except U07-U09 (special use).
_ICD10_CM = re.compile(r"^[A-TV-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?$")
_ICD10_CM_U = re.compile(r"^U0[7-9](?:\.[0-9A-Z]{1,4})?$")


def normalize_icd10_cm(code: str) -> str:
    """Upper-case, strip spaces and put the dot after the category (F332 -> F33.2)."""
    cleaned = code.strip().upper().replace(" ", "")
    if "." not in cleaned and len(cleaned) > 3:
        cleaned = f"{cleaned[:3]}.{cleaned[3:]}"
    return cleaned


def is_valid_icd10_cm(code: str) -> bool:
    """True when the code has the ICD-10-CM shape (it does not check the code exists)."""
    return bool(_ICD10_CM.match(code) or _ICD10_CM_U.match(code))


MRN_PREFIX = "KC"
MRN_DIGITS = 7


def luhn_check_digit(digits: str) -> int:
    """Luhn mod-10 check digit, so a mistyped MRN is caught (ISO/IEC 7812-1)."""
    if not digits.isdigit():
        raise ValueError("digits only")
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return (10 - total % 10) % 10


def format_mrn(number: int) -> str:
    """Medical record number: prefix, seven digits and a Luhn check digit (KC-0000123-4)."""
    if not 0 < number < 10**MRN_DIGITS:
        raise ValueError("MRN number out of range")
    body = f"{number:0{MRN_DIGITS}d}"
    return f"{MRN_PREFIX}-{body}-{luhn_check_digit(body)}"


def is_valid_mrn(mrn: str) -> bool:
    match = re.fullmatch(rf"{MRN_PREFIX}-(\d{{{MRN_DIGITS}}})-(\d)", mrn.strip().upper())
    return bool(match) and luhn_check_digit(match.group(1)) == int(match.group(2))


US_STATES: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "DC": "District of Columbia",
    "FL": "Florida", "GA": "Georgia", "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois",
    "IN": "Indiana", "IA": "Iowa", "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana",
    "ME": "Maine", "MD": "Maryland", "MA": "Massachusetts", "MI": "Michigan",
    "MN": "Minnesota", "MS": "Mississippi", "MO": "Missouri", "MT": "Montana",
    "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire", "NJ": "New Jersey",
    "NM": "New Mexico", "NY": "New York", "NC": "North Carolina", "ND": "North Dakota",
    "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "PR": "Puerto Rico", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
    "WY": "Wyoming",
}  # fmt: skip

# DEA registration: two letters then seven digits whose check digit is
# (d1 + d3 + d5 + 2*(d2 + d4 + d6)) mod 10 (DEA Diversion Control registration format).
_DEA = re.compile(r"^[A-Z][A-Z9](\d{7})$")


def is_valid_dea_number(number: str) -> bool:
    match = _DEA.match(number.strip().upper())
    if not match:
        return False
    d = [int(c) for c in match.group(1)]
    return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]


def normalize_us_phone(text: str) -> str | None:
    """'801.555.0134' or '+1 801 555 0134' -> '(801) 555-0134'; None if not a US number.

    North American Numbering Plan: area code and exchange do not start with 0 or 1.
    """
    digits = re.sub(r"\D", "", text)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        return None
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
