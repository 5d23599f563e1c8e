"""Pharmacokinetic preview of an IV ketamine infusion (clinical-reference.md section 4).

An educational estimate from anaesthetic populations, not dosing guidance: the models
were fitted to surgical patients given anaesthetic doses, not to people with
depression given 0.5 mg/kg over 40 minutes. The observed mean peak after that infusion
is about 185 ng/mL (Zarate 2006), with dissociation reported around 100-250 ng/mL.

Models (linear mammillary compartment models; volumes in L/kg, rates per minute):

- Domino 1982 (PMID 7198883), 3 compartments. The effect-site constant ke0 0.652/min
  is an assumption of the reference, kept as data; the preview is plasma only.
- Clements 1981 (PMID 7459184), 2 compartments, from 250 ug/kg bolus data.

The drug enters the central compartment at a constant rate for the infusion time and
then washes out. Amounts follow x' = A x + u with A the model's rate matrix; the
solution is exact, through the eigen-decomposition of A: A is similar to a symmetric
matrix (scale peripheral compartment i by sqrt(k1i / ki1)), whose eigenvalues are real
and are found with the Jacobi rotation method. Pure Python, no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MODELS",
    "PkInputError",
    "PkModel",
    "PkPrediction",
    "predict_infusion",
]

NG_PER_ML_PER_MG_PER_L = 1000.0  # 1 mg/L = 1 ug/mL = 1000 ng/mL
MAX_WEIGHT_KG = 350.0
MAX_MG_PER_KG = 5.0
MAX_MINUTES = 600.0
MAX_HOURS = 24.0
MIN_STEP_MIN = 0.01
MAX_STEP_MIN = 1.0  # the series has a point at least every minute


# Observed values to read a prediction against (clinical-reference.md section 4): mean peak
# plasma ketamine about 185 ng/mL after 0.5 mg/kg over 40 min (Zarate 2006); dissociation
# reported around 100-250 ng/mL.
OBSERVED_PEAK_NG_ML = 185.0
DISSOCIATION_RANGE_NG_ML = (100.0, 250.0)


class PkInputError(ValueError):
    """Input the preview cannot use; the message is one line naming the problem."""


@dataclass(frozen=True)
class PkModel:
    """A linear mammillary model: central volume V1 and first-order rates per minute.

    k10 is elimination from the central compartment; k12/k21 and k13/k31 the exchange
    with peripheral compartments 2 and 3 (zero when the model has fewer).
    """

    key: str
    name: str
    compartments: int
    v1_l_per_kg: float
    k10: float
    k12: float
    k21: float
    k13: float = 0.0
    k31: float = 0.0
    ke0: float | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.compartments not in (1, 2, 3):
            raise PkInputError(f"model {self.key}: compartments must be 1, 2 or 3")
        if self.v1_l_per_kg <= 0 or self.k10 <= 0:
            raise PkInputError(f"model {self.key}: V1 and k10 must be positive")
        pairs = ((self.k12, self.k21), (self.k13, self.k31))
        for index, (out, back) in enumerate(pairs, 2):
            if out < 0 or back < 0 or (out > 0) != (back > 0):
                raise PkInputError(
                    f"model {self.key}: k1{index} and k{index}1 must both be zero or positive"
                )
            if index > self.compartments and out > 0:
                raise PkInputError(f"model {self.key}: rates given for compartment {index}")

    def rate_matrix(self) -> list[list[float]]:
        """A in x' = A x for amounts x (compartments 1..n), per minute."""
        a = [
            [-(self.k10 + self.k12 + self.k13), self.k21, self.k31],
            [self.k12, -self.k21, 0.0],
            [self.k13, 0.0, -self.k31],
        ]
        n = self.compartments
        return [row[:n] for row in a[:n]]


MODELS: dict[str, PkModel] = {
    "domino": PkModel(
        key="domino",
        name="Domino 1982, 3-compartment",
        compartments=3,
        v1_l_per_kg=0.063,
        k10=0.4381,
        k12=0.5921,
        k21=0.2470,
        k13=0.5900,
        k31=0.0146,
        ke0=0.652,  # assumed (clinical-reference.md section 4)
        source="Domino EF et al., Anesth Analg 1982 (PMID 7198883); clinical-reference.md §4",
    ),
    "clements": PkModel(
        key="clements",
        name="Clements 1981, 2-compartment",
        compartments=2,
        v1_l_per_kg=1.7522,
        k10=0.0109,
        k12=0.0186,
        k21=0.0137,
        source="Clements JA, Nimmo WS, Br J Anaesth 1981 (PMID 7459184); clinical-reference.md §4",
    ),
}


@dataclass(frozen=True)
class PkPrediction:
    """Predicted plasma (central) concentrations; series = ((minute, ng/mL), ...)."""

    model: str
    cmax_ng_ml: float
    tmax_min: float
    series: tuple[tuple[float, float], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "cmax_ng_ml": round(self.cmax_ng_ml, 2),
            "tmax_min": round(self.tmax_min, 3),
            "series": [[round(minute, 3), round(conc, 2)] for minute, conc in self.series],
        }


def _symmetric_eigen(s: list[list[float]]) -> tuple[list[float], list[list[float]]]:
    """Eigenvalues and orthonormal eigenvectors (columns of V) of a small symmetric matrix.

    Cyclic Jacobi rotations (Golub & Van Loan, Matrix Computations, section 8.5): each
    rotation zeroes one off-diagonal pair; the off-diagonal mass falls quadratically.
    """
    n = len(s)
    a = [row[:] for row in s]
    v = [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]
    scale = max((abs(x) for row in a for x in row), default=0.0)
    for _sweep in range(100):
        off = math.sqrt(sum(a[i][j] ** 2 for i in range(n) for j in range(n) if i != j))
        if off <= 1e-15 * scale:
            break
        for p in range(n - 1):
            for q in range(p + 1, n):
                if a[p][q] == 0.0:
                    continue
                theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q])
                t = math.copysign(1.0, theta) / (abs(theta) + math.sqrt(theta * theta + 1.0))
                c = 1.0 / math.sqrt(t * t + 1.0)
                sn = t * c
                for k in range(n):  # A <- A J
                    akp, akq = a[k][p], a[k][q]
                    a[k][p], a[k][q] = c * akp - sn * akq, sn * akp + c * akq
                for k in range(n):  # A <- J^T A
                    apk, aqk = a[p][k], a[q][k]
                    a[p][k], a[q][k] = c * apk - sn * aqk, sn * apk + c * aqk
                for k in range(n):  # V <- V J
                    vkp, vkq = v[k][p], v[k][q]
                    v[k][p], v[k][q] = c * vkp - sn * vkq, sn * vkp + c * vkq
    return [a[i][i] for i in range(n)], v


class InfusionSolution:
    """Exact amounts for a zero-order infusion into compartment 1, then washout.

    With A = D S D^-1 (D diagonal, S symmetric) and S = V diag(lambda) V^T:
    during the infusion x(t) = D V [c_i (e^{lambda_i t} - 1) / lambda_i], c = V^T D^-1 b,
    b = (R, 0, 0); afterwards x(t) = D V diag(e^{lambda_i (t - T)}) V^T D^-1 x(T).
    """

    def __init__(self, model: PkModel, rate_mg_per_min: float, minutes: float) -> None:
        n = model.compartments
        a = model.rate_matrix()
        # D scales peripheral compartment i by sqrt(k1i / ki1), making D^-1 A D symmetric.
        d = [1.0] + [math.sqrt(a[i][0] / a[0][i]) if a[i][0] > 0 else 1.0 for i in range(1, n)]
        s = [[a[i][j] * d[j] / d[i] for j in range(n)] for i in range(n)]
        self.n = n
        self.d = d
        self.eigenvalues, self.v = _symmetric_eigen(s)
        if any(lam >= 0 for lam in self.eigenvalues):
            raise PkInputError(f"model {model.key} does not eliminate the drug")
        self.minutes = minutes
        b = [rate_mg_per_min] + [0.0] * (n - 1)
        self.c = self._to_eigen(b)
        self.c_end = self._to_eigen(self._infusing(minutes))

    def _to_eigen(self, x: list[float]) -> list[float]:
        """V^T D^-1 x."""
        y = [x[i] / self.d[i] for i in range(self.n)]
        return [sum(self.v[i][k] * y[i] for i in range(self.n)) for k in range(self.n)]

    def _from_eigen(self, z: list[float]) -> list[float]:
        """D V z."""
        return [self.d[i] * sum(self.v[i][k] * z[k] for k in range(self.n)) for i in range(self.n)]

    def _infusing(self, t: float) -> list[float]:
        # expm1 keeps (e^{lambda t} - 1) / lambda accurate for small lambda t.
        return self._from_eigen(
            [c * math.expm1(lam * t) / lam for c, lam in zip(self.c, self.eigenvalues, strict=True)]
        )

    def amounts_mg(self, t: float) -> list[float]:
        """Amount of drug in each compartment at minute t (from 0 at the start)."""
        if t <= self.minutes:
            return self._infusing(t)
        after = t - self.minutes
        return self._from_eigen(
            [c * math.exp(lam * after) for c, lam in zip(self.c_end, self.eigenvalues, strict=True)]
        )


def _positive(value: Any, name: str, high: float, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PkInputError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0 or number > high:
        raise PkInputError(f"{name} must be more than 0 and at most {high:g}{unit}, got {value!r}")
    return number


def predict_infusion(
    *,
    model: str,
    weight_kg: float,
    mg_per_kg: float,
    minutes: float,
    hours: float = 3.0,
    step_min: float = 1.0,
) -> PkPrediction:
    """Plasma ketamine over time for dose = weight x mg/kg infused over `minutes`.

    Educational estimate from anaesthetic populations, not dosing guidance
    (clinical-reference.md section 4; models Domino 1982 PMID 7198883 and Clements
    1981 PMID 7459184). Concentration = central amount (mg) / (V1 L/kg x weight) x 1000
    ng/mL. The series runs from minute 0 to `hours` x 60 every `step_min` minutes
    (at most 1), with the end of the infusion and the last minute always included.
    In these models the plasma peak is exactly at the end of the infusion: while the
    pump runs the central amount rises, and once it stops the outflow exceeds the
    return from the peripheral compartments.
    """
    if not isinstance(model, str) or model.strip().lower() not in MODELS:
        raise PkInputError(f"unknown model {model!r}; choose one of: {', '.join(sorted(MODELS))}")
    chosen = MODELS[model.strip().lower()]
    weight = _positive(weight_kg, "weight", MAX_WEIGHT_KG, " kg")
    dose_per_kg = _positive(mg_per_kg, "mg/kg", MAX_MG_PER_KG, "")
    infusion_min = _positive(minutes, "minutes", MAX_MINUTES, "")
    span_h = _positive(hours, "hours", MAX_HOURS, "")
    if isinstance(step_min, bool) or not isinstance(step_min, int | float):
        raise PkInputError(f"step must be a number of minutes, got {step_min!r}")
    if not MIN_STEP_MIN <= step_min <= MAX_STEP_MIN:
        raise PkInputError(
            f"step must be between {MIN_STEP_MIN:g} and {MAX_STEP_MIN:g} minutes, got {step_min!r}"
        )
    end_min = span_h * 60.0
    if end_min < infusion_min:
        raise PkInputError(f"hours ({span_h:g}) must cover the {infusion_min:g}-minute infusion")

    dose_mg = weight * dose_per_kg
    solution = InfusionSolution(chosen, dose_mg / infusion_min, infusion_min)
    v1_l = chosen.v1_l_per_kg * weight

    def concentration(t: float) -> float:
        return max(solution.amounts_mg(t)[0], 0.0) / v1_l * NG_PER_ML_PER_MG_PER_L

    steps = math.floor(end_min / step_min + 1e-9)
    times = {round(i * step_min, 9) for i in range(steps + 1)}
    times.update({infusion_min, end_min})
    series = tuple((t, concentration(t)) for t in sorted(times))
    tmax, cmax = max(series, key=lambda point: point[1])
    return PkPrediction(model=chosen.key, cmax_ng_ml=cmax, tmax_min=tmax, series=series)
