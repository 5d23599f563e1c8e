"""Dose arithmetic: worked examples, every warning, every error, and properties."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaclinic.clinical.dosing import (
    DosingInputError,
    EsketamineDose,
    WeightBasis,
    adjusted_body_weight_kg,
    basis_weight_kg,
    esketamine_dose,
    ideal_body_weight_kg,
    iv_ketamine_dose,
)

D = Decimal


def standard(**changes: Any) -> dict[str, Any]:
    """The research standard for a 70 kg adult, with some arguments changed."""
    arguments: dict[str, Any] = {"weight_kg": D("70"), "mg_per_kg": D("0.5"), "minutes": 40}
    arguments.update(changes)
    return arguments


# --- ideal and adjusted body weight (Devine 1974) ---------------------------------------


@pytest.mark.parametrize(
    ("height_cm", "sex", "expected_kg"),
    [
        # 180 / 2.54 = 70.866 in; 50 + 2.3 x 10.866 = 74.99 -> 75.0
        ("180", "male", "75.0"),
        # 165 / 2.54 = 64.961 in; 45.5 + 2.3 x 4.961 = 56.91 -> 56.9
        ("165", "female", "56.9"),
        # exactly 60 in: the base weights
        ("152.4", "male", "50.0"),
        ("152.4", "female", "45.5"),
        # 200 / 2.54 = 78.740 in; 50 + 2.3 x 18.740 = 93.10 -> 93.1
        ("200", "male", "93.1"),
        # below 60 in the line is extrapolated: 150 cm = 59.055 in; 45.5 - 2.3 x 0.945 = 43.3
        ("150", "female", "43.3"),
        # 140 cm = 55.118 in; 50 - 2.3 x 4.882 = 38.77 -> 38.8
        ("140", "male", "38.8"),
        # sex is read case-insensitively
        ("180", " Male ", "75.0"),
    ],
)
def test_ideal_body_weight_worked_examples(height_cm: str, sex: str, expected_kg: str) -> None:
    assert ideal_body_weight_kg(height_cm=D(height_cm), sex=sex) == D(expected_kg)


def test_ideal_body_weight_refuses_heights_where_devine_means_nothing() -> None:
    # 124 cm woman: 45.5 - 2.3 x (60 - 48.819) = 19.8 kg, under the plausible 20 kg
    with pytest.raises(DosingInputError, match="not meaningful for a height of 124 cm"):
        ideal_body_weight_kg(height_cm=D("124"), sex="female")
    assert ideal_body_weight_kg(height_cm=D("125"), sex="female") == D("20.7")


@pytest.mark.parametrize(
    ("height_cm", "sex", "message"),
    [
        ("99", "female", "height must be between 100 and 250 cm, got 99"),
        ("251", "male", "height must be between 100 and 250 cm, got 251"),
        ("180", "other", "sex must be female or male"),
        ("180", "", "sex must be female or male"),
        ("180", "f", "sex must be female or male"),
        ("tall", "male", "height must be a number"),
    ],
)
def test_ideal_body_weight_errors(height_cm: str, sex: str, message: str) -> None:
    with pytest.raises(DosingInputError, match=message):
        ideal_body_weight_kg(height_cm=height_cm, sex=sex)  # type: ignore[arg-type]


def test_adjusted_body_weight_worked_examples() -> None:
    # 75 + 0.4 x (120 - 75) = 93.0
    assert adjusted_body_weight_kg(actual_kg=D("120"), ideal_kg=D("75.0")) == D("93.0")
    # 56.9 + 0.4 x (100 - 56.9) = 74.14 -> 74.1
    assert adjusted_body_weight_kg(actual_kg=D("100"), ideal_kg=D("56.9")) == D("74.1")
    # lighter than ideal: 75 + 0.4 x (60 - 75) = 69.0, between actual and ideal
    assert adjusted_body_weight_kg(actual_kg=D("60"), ideal_kg=D("75")) == D("69.0")


def test_basis_weight_for_each_basis() -> None:
    common: dict[str, Any] = {"weight_kg": D("120"), "height_cm": D("180"), "sex": "male"}
    assert basis_weight_kg(basis=WeightBasis.ACTUAL, **common) == D("120")
    assert basis_weight_kg(basis=WeightBasis.IDEAL, **common) == D("75.0")
    assert basis_weight_kg(basis=WeightBasis.ADJUSTED, **common) == D("93.0")
    # the plain strings work too (StrEnum values, as stored in protocol data)
    assert basis_weight_kg(basis="adjusted", **common) == D("93.0")  # type: ignore[arg-type]
    # actual weight needs neither height nor sex
    assert basis_weight_kg(
        weight_kg=D("70"), basis=WeightBasis.ACTUAL, height_cm=None, sex=None
    ) == D("70")


@pytest.mark.parametrize("basis", [WeightBasis.IDEAL, WeightBasis.ADJUSTED])
@pytest.mark.parametrize(("height_cm", "sex"), [(None, "male"), (D("180"), None), (None, None)])
def test_ideal_and_adjusted_need_height_and_sex(
    basis: WeightBasis, height_cm: Decimal | None, sex: str | None
) -> None:
    with pytest.raises(DosingInputError, match="needs the height and sex"):
        basis_weight_kg(weight_kg=D("80"), basis=basis, height_cm=height_cm, sex=sex)


def test_unknown_weight_basis_is_refused() -> None:
    with pytest.raises(DosingInputError, match="weight basis must be actual, ideal or adjusted"):
        basis_weight_kg(
            weight_kg=D("80"),
            basis="lean",  # type: ignore[arg-type]
            height_cm=D("180"),
            sex="male",
        )


# --- IV ketamine: dose, volumes, rate ----------------------------------------------------


def test_standard_dose_70_kg() -> None:
    dose = iv_ketamine_dose(**standard())
    assert dose.dose_mg == D("35.0")  # 70 kg x 0.5 mg/kg
    assert dose.basis_weight_kg == D("70")
    assert dose.weight_basis == "actual"
    assert dose.mg_per_kg == D("0.5")
    assert dose.minutes == 40
    assert dose.bag_ml == D("100")
    assert dose.stock_mg_per_ml == D("100")
    assert dose.drug_volume_ml == D("0.35")  # 35 mg / 100 mg/mL
    assert dose.total_volume_ml == D("100.35")  # the drug is added to the bag
    assert dose.rate_ml_per_h == D("150.0")  # 100 mL / 40 min x 60
    assert dose.warnings == ()


def test_as_dict_is_json_numbers() -> None:
    as_dict = iv_ketamine_dose(**standard()).as_dict()
    assert json.loads(json.dumps(as_dict)) == {
        "dose_mg": 35.0,
        "basis_weight_kg": 70.0,
        "weight_basis": "actual",
        "mg_per_kg": 0.5,
        "minutes": 40,
        "bag_ml": 100.0,
        "stock_mg_per_ml": 100.0,
        "drug_volume_ml": 0.35,
        "total_volume_ml": 100.35,
        "rate_ml_per_h": 150.0,
        "warnings": [],
    }
    assert all(isinstance(as_dict[key], float) for key in ("dose_mg", "rate_ml_per_h"))


@pytest.mark.parametrize(
    ("changes", "dose_mg", "drug_volume_ml", "total_volume_ml", "rate_ml_per_h"),
    [
        # 50 mg/mL stock: 35 / 50 = 0.70 mL
        ({"stock_mg_per_ml": D("50")}, "35.0", "0.70", "100.70", "150.0"),
        # 250 mL bag over 40 min: 250 / 40 x 60 = 375 mL/h
        ({"bag_ml": D("250")}, "35.0", "0.35", "250.35", "375.0"),
        # Bio-K long arm: 100 mL over 100 min = 60 mL/h
        ({"minutes": 100}, "35.0", "0.35", "100.35", "60.0"),
        # 100 / 45 x 60 = 133.33 -> 133.3 mL/h
        ({"minutes": 45}, "35.0", "0.35", "100.35", "133.3"),
        # 83.3 kg x 0.5 = 41.65 -> 41.7 mg (half up); 0.417 -> 0.42 mL
        ({"weight_kg": D("83.3")}, "41.7", "0.42", "100.42", "150.0"),
        # floats and whole numbers are accepted as exact decimals
        ({"weight_kg": 70.0, "mg_per_kg": 0.5}, "35.0", "0.35", "100.35", "150.0"),
        ({"weight_kg": 70, "bag_ml": 100}, "35.0", "0.35", "100.35", "150.0"),
    ],
)
def test_dose_volume_and_rate_examples(
    changes: dict[str, Any],
    dose_mg: str,
    drug_volume_ml: str,
    total_volume_ml: str,
    rate_ml_per_h: str,
) -> None:
    dose = iv_ketamine_dose(**standard(**changes))
    assert dose.dose_mg == D(dose_mg)
    assert dose.drug_volume_ml == D(drug_volume_ml)
    assert dose.total_volume_ml == D(total_volume_ml)
    assert dose.rate_ml_per_h == D(rate_ml_per_h)


def test_adjusted_weight_dose() -> None:
    # 120 kg man, 180 cm: IBW 75.0, adjusted 93.0; 93 x 0.5 = 46.5 mg; 0.465 -> 0.47 mL
    dose = iv_ketamine_dose(
        **standard(weight_kg=D("120")),
        basis=WeightBasis.ADJUSTED,
        height_cm=D("180"),
        sex="male",
    )
    assert (dose.basis_weight_kg, dose.weight_basis) == (D("93.0"), "adjusted")
    assert dose.dose_mg == D("46.5")
    assert dose.drug_volume_ml == D("0.47")
    assert dose.warnings == ()


def test_ideal_weight_dose() -> None:
    dose = iv_ketamine_dose(
        **standard(weight_kg=D("120")), basis=WeightBasis.IDEAL, height_cm=D("180"), sex="male"
    )
    assert (dose.basis_weight_kg, dose.dose_mg, dose.weight_basis) == (
        D("75.0"),
        D("37.5"),
        "ideal",
    )


# --- warnings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "warning"),
    [
        (
            {"max_dose_mg": D("30")},
            "dose 35 mg is above the protocol maximum of 30 mg",
        ),
        (
            {"mg_per_kg": D("0.75"), "max_mg_per_kg": D("0.6")},
            "0.75 mg/kg is above the protocol maximum of 0.6 mg/kg",
        ),
        (
            {"mg_per_kg": D("0.75")},
            "0.75 mg/kg is a titration above the standard 0.5 mg/kg",
        ),
        (
            {"minutes": 30},
            "infusion over 30 minutes is shorter than the standard 40 minutes",
        ),
        (
            # 100 kg x 1 mg/kg = 100 mg of 10 mg/mL = 10 mL in a 50 mL bag (20%)
            {
                "weight_kg": D("100"),
                "mg_per_kg": D("1"),
                "stock_mg_per_ml": D("10"),
                "bag_ml": D("50"),
            },
            "drug volume 10 mL is more than 10% of the 50 mL bag; at 75 mL/h the infusion "
            "runs longer than 40 minutes",
        ),
        (
            # a 50 kg woman of 170 cm: IBW 45.5 + 2.3 x 6.929 = 61.4 kg, above her weight
            {"weight_kg": D("50"), "basis": "ideal", "height_cm": D("170"), "sex": "female"},
            "ideal body weight 61.4 kg is above the actual weight of 50 kg",
        ),
        (
            {"weight_kg": D("50"), "basis": "adjusted", "height_cm": D("150"), "sex": "female"},
            "height under 152.4 cm (60 in): Devine ideal body weight is extrapolated below "
            "its range",
        ),
    ],
)
def test_each_warning(changes: dict[str, Any], warning: str) -> None:
    assert warning in iv_ketamine_dose(**standard(**changes)).warnings


def test_warnings_only_when_crossed() -> None:
    at_limits = iv_ketamine_dose(
        **standard(max_dose_mg=D("35"), max_mg_per_kg=D("0.5"), stock_mg_per_ml=D("3.5")),
        bag_ml=D("100"),
    )
    # dose equal to the maximum, 0.5 mg/kg, 40 minutes, drug volume exactly 10% of the bag
    assert at_limits.drug_volume_ml == D("10.00")
    assert at_limits.warnings == ()


def test_several_warnings_are_all_listed_and_the_dose_still_computed() -> None:
    dose = iv_ketamine_dose(
        **standard(mg_per_kg=D("1.0"), minutes=20, max_dose_mg=D("50"), max_mg_per_kg=D("0.75"))
    )
    assert dose.dose_mg == D("70.0")
    assert len(dose.warnings) == 4
    assert json.loads(json.dumps(dose.as_dict()))["warnings"] == list(dose.warnings)


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weight_kg": D("0")}, "weight must be more than 0 and at most 350 kg, got 0"),
        ({"weight_kg": D("-70")}, "weight must be more than 0"),
        ({"weight_kg": D("350.1")}, "at most 350 kg, got 350.1"),
        ({"weight_kg": D("NaN")}, "weight must be a finite number"),
        ({"weight_kg": "seventy"}, "weight must be a number"),
        ({"weight_kg": True}, "weight must be a number"),
        ({"weight_kg": None}, "weight must be a number"),
        ({"mg_per_kg": D("0")}, "mg/kg must be more than 0 and at most 5, got 0"),
        ({"mg_per_kg": D("5.01")}, "mg/kg must be more than 0 and at most 5, got 5.01"),
        ({"minutes": 0}, "minutes must be more than 0 and at most 600, got 0"),
        ({"minutes": -40}, "minutes must be more than 0"),
        ({"minutes": 601}, "at most 600, got 601"),
        ({"minutes": 40.5}, "minutes must be a whole number"),
        ({"bag_ml": D("0")}, "bag volume must be more than 0 mL"),
        ({"stock_mg_per_ml": D("0")}, "stock concentration must be more than 0 mg/mL"),
        ({"stock_mg_per_ml": D("-100")}, "stock concentration must be more than 0 mg/mL"),
        ({"max_dose_mg": D("0")}, "maximum dose must be more than 0 mg"),
        ({"max_mg_per_kg": D("-1")}, "maximum mg/kg must be more than 0"),
        ({"basis": WeightBasis.IDEAL}, "ideal body weight needs the height and sex"),
        ({"basis": WeightBasis.ADJUSTED, "sex": "male"}, "adjusted body weight needs the"),
        (
            {"basis": WeightBasis.IDEAL, "height_cm": D("180"), "sex": "x"},
            "sex must be female or male",
        ),
        (
            {"basis": WeightBasis.IDEAL, "height_cm": D("90"), "sex": "male"},
            "height must be between 100 and 250 cm, got 90",
        ),
        (
            {"basis": WeightBasis.IDEAL, "height_cm": D("260"), "sex": "female"},
            "height must be between 100 and 250 cm, got 260",
        ),
    ],
)
def test_each_error(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(DosingInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        iv_ketamine_dose(**standard(**changes))


def test_errors_are_value_errors_with_one_line() -> None:
    with pytest.raises(ValueError, match="weight") as caught:
        iv_ketamine_dose(**standard(weight_kg=D("0")))
    assert "\n" not in str(caught.value)


# --- esketamine ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dose_mg", "devices", "sprays", "times"),
    [(28, 1, 2, (0,)), (56, 2, 4, (0, 5)), (84, 3, 6, (0, 5, 10))],
)
def test_esketamine_devices(dose_mg: int, devices: int, sprays: int, times: tuple[int]) -> None:
    assert esketamine_dose(dose_mg=dose_mg) == EsketamineDose(
        dose_mg=dose_mg,
        devices=devices,
        sprays=sprays,
        minutes_between_devices=5,
        device_times_min=times,
    )
    assert esketamine_dose(dose_mg=dose_mg).as_dict() == {
        "dose_mg": dose_mg,
        "devices": devices,
        "sprays": sprays,
        "minutes_between_devices": 5,
        "device_times_min": list(times),
    }


@pytest.mark.parametrize("dose_mg", [0, -56, 14, 42, 70, 112, 56.0, "56", True, None])
def test_esketamine_refuses_other_doses(dose_mg: Any) -> None:
    with pytest.raises(DosingInputError, match="esketamine dose must be 28, 56 or 84 mg"):
        esketamine_dose(dose_mg=dose_mg)


# --- properties ---------------------------------------------------------------------------

weights = st.decimals(min_value=D("1.0"), max_value=D("175.0"), places=1)
rates = st.decimals(min_value=D("0.01"), max_value=D("2.50"), places=2)
minutes = st.integers(min_value=1, max_value=600)


@given(weights, rates, minutes)
def test_dose_is_basis_weight_times_mg_per_kg(weight: Decimal, rate: Decimal, mins: int) -> None:
    dose = iv_ketamine_dose(weight_kg=weight, mg_per_kg=rate, minutes=mins)
    assert dose.dose_mg == (weight * rate).quantize(D("0.1"), rounding=ROUND_HALF_UP)
    assert dose.rate_ml_per_h > 0
    assert abs(dose.rate_ml_per_h - D(100) * 60 / mins) <= D("0.05")
    assert dose.total_volume_ml == dose.bag_ml + dose.drug_volume_ml


@given(weights, rates)
def test_dose_scales_linearly_with_weight(weight: Decimal, rate: Decimal) -> None:
    single = iv_ketamine_dose(weight_kg=weight, mg_per_kg=rate, minutes=40).dose_mg
    double = iv_ketamine_dose(weight_kg=weight * 2, mg_per_kg=rate, minutes=40).dose_mg
    # each dose is rounded to 0.1 mg: at most 0.05 off, so 0.05 + 2 x 0.05 apart
    assert abs(double - 2 * single) <= D("0.15")


@given(weights, rates)
def test_dose_scales_linearly_with_mg_per_kg(weight: Decimal, rate: Decimal) -> None:
    single = iv_ketamine_dose(weight_kg=weight, mg_per_kg=rate, minutes=40).dose_mg
    double = iv_ketamine_dose(weight_kg=weight, mg_per_kg=rate * 2, minutes=40).dose_mg
    assert abs(double - 2 * single) <= D("0.15")


@given(
    st.decimals(min_value=D("20"), max_value=D("350"), places=1),
    st.decimals(min_value=D("130"), max_value=D("250"), places=1),
    st.sampled_from(["female", "male"]),
)
def test_basis_weights_are_ordered(weight: Decimal, height: Decimal, sex: str) -> None:
    def basis(kind: WeightBasis) -> Decimal:
        return basis_weight_kg(weight_kg=weight, basis=kind, height_cm=height, sex=sex)

    ideal, adjusted, actual = (
        basis(WeightBasis.IDEAL),
        basis(WeightBasis.ADJUSTED),
        basis(WeightBasis.ACTUAL),
    )
    assert actual == weight
    # adjusted is rounded to 0.1 kg, so it may sit up to 0.05 kg outside the pair
    tolerance = D("0.05")
    if actual >= ideal:
        assert ideal - tolerance <= adjusted <= actual + tolerance
    else:
        assert actual - tolerance <= adjusted <= ideal + tolerance


@given(st.decimals(min_value=D("152.4"), max_value=D("247.4"), places=1))
def test_ideal_weight_per_inch_and_per_sex(height: Decimal) -> None:
    male = ideal_body_weight_kg(height_cm=height, sex="male")
    female = ideal_body_weight_kg(height_cm=height, sex="female")
    one_inch_taller = ideal_body_weight_kg(height_cm=height + D("2.54"), sex="male")
    # each value is rounded to 0.1 kg, so differences may be 0.1 off the exact figure
    assert abs(male - female - D("4.5")) <= D("0.1")
    assert abs(one_inch_taller - male - D("2.3")) <= D("0.1")
