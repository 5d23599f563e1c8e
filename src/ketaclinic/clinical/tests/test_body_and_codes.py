from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.body import age_in_years, body_mass_index
from ketaclinic.clinical.codes import (
    format_mrn,
    is_valid_dea_number,
    is_valid_icd10_cm,
    is_valid_mrn,
    luhn_check_digit,
    normalize_icd10_cm,
    normalize_us_phone,
)
from ketaclinic.clinical.search import name_key, parse_birth_date, parse_patient_query


def test_bmi_matches_the_who_formula() -> None:
    assert body_mass_index(weight_kg=Decimal("70"), height_cm=Decimal("175")) == Decimal("22.9")
    with pytest.raises(ValueError):
        body_mass_index(weight_kg=Decimal("0"), height_cm=Decimal("175"))


def test_age_counts_the_birthday_on_the_day() -> None:
    assert age_in_years(date_of_birth=date(1980, 4, 2), on=date(2026, 4, 1)) == 45
    assert age_in_years(date_of_birth=date(1980, 4, 2), on=date(2026, 4, 2)) == 46
    assert age_in_years(date_of_birth=date(2000, 2, 29), on=date(2026, 2, 28)) == 25


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 40000))
def test_age_never_negative_and_grows_by_one_per_year(dob: date, days: int) -> None:
    on = dob + timedelta(days=days)
    age = age_in_years(date_of_birth=dob, on=on)
    assert 0 <= age <= days // 365


@pytest.mark.parametrize(
    ("code", "valid"),
    [("F33.2", True), ("F32.A", True), ("F43.10", True), ("I10", True), ("F41.1", True),
     ("U07.1", True), ("F3", False), ("33.2", False), ("F33.23456", False), ("U99", False),
     ("F33-2", False), ("", False)],
)  # fmt: skip
def test_icd10_cm_shape(code: str, valid: bool) -> None:
    assert is_valid_icd10_cm(code) is valid


def test_icd10_normalisation_places_the_dot() -> None:
    assert normalize_icd10_cm(" f332 ") == "F33.2"
    assert normalize_icd10_cm("F43.10") == "F43.10"


@given(st.integers(min_value=1, max_value=9_999_999))
def test_every_mrn_validates_and_one_wrong_digit_is_caught(number: int) -> None:
    mrn = format_mrn(number)
    assert is_valid_mrn(mrn)
    body = mrn[3:10]
    wrong = str((int(body[-1]) + 1) % 10)
    assert not is_valid_mrn(f"KC-{body[:-1]}{wrong}-{mrn[-1]}")


def test_luhn_reference_value() -> None:
    # 7992739871 -> check digit 3 (ISO/IEC 7812 worked example)
    assert luhn_check_digit("7992739871") == 3


def test_dea_number_check_digit() -> None:
    # AB1234563: 1+3+5 + 2*(2+4+6) = 33 -> 3
    assert is_valid_dea_number("AB1234563")
    assert not is_valid_dea_number("AB1234564")
    assert not is_valid_dea_number("A1234563")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("801.555.0134", "(801) 555-0134"), ("+1 801 555 0134", "(801) 555-0134"),
     ("555-0134", None), ("(101) 555-0134", None), ("8015550134x", "(801) 555-0134")],
)  # fmt: skip
def test_us_phone(text: str, expected: str | None) -> None:
    assert normalize_us_phone(text) == expected


def test_search_parsing() -> None:
    assert name_key("  José  Núñez ") == "jose nunez"
    assert parse_birth_date("04/02/1980") == date(1980, 4, 2)
    assert parse_birth_date("1980-04-02") == date(1980, 4, 2)
    assert parse_birth_date("Lovelace") is None
    assert parse_patient_query("KC-0000123-4").mrn == "00001234"
    assert parse_patient_query("lovelace, ada").name_words == ("lovelace", "ada")
    assert parse_patient_query("").is_empty
