"""Eligibility advice for ketamine and esketamine treatment (clinical-reference.md section 3).

Each rule is data (`protocols/eligibility-rules.json`): an id, a statement in our words,
its source, a default kind (exclude / caution / off), the routes it applies to, the name
of a check in `CHECKS`, and optional numeric `params` that the check reads. Whether a rule
excludes or only cautions is clinic-configurable (`with_overrides`).

The result is advice only: eligibility is decided and signed by a prescriber
(clinical-reference.md section 3, last point). Pure: no Django imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ketaclinic.protocols.loader import load_eligibility_data

__all__ = [
    "ADHERENCE_VALUES",
    "CHECKS",
    "CHECK_PARAMS",
    "OUTCOME_VALUES",
    "REMS_MEDICATION_FLAGS",
    "ROUTES",
    "Advice",
    "AntidepressantTrial",
    "EligibilityResult",
    "EligibilityRule",
    "Finding",
    "IntakeFacts",
    "RuleKind",
    "TrialPolicy",
    "adequate_trial_count",
    "default_policy",
    "default_rules",
    "evaluate",
    "is_treatment_resistant",
    "load_policy",
    "load_rules",
    "rems_medication_flags",
    "trial_is_adequate",
    "with_overrides",
]

ROUTES: tuple[str, ...] = ("iv_ketamine", "esketamine")
ADHERENCE_VALUES: tuple[str, ...] = ("good", "partial", "poor", "unknown")
OUTCOME_VALUES: tuple[str, ...] = (
    "no_response",
    "partial_response",
    "response",
    "remission",
    "intolerance",
    "ongoing",
)
# Outcomes that count as a failed trial towards treatment resistance.
FAILED_OUTCOMES = frozenset({"no_response", "partial_response"})
# Concomitant medication classes asked on the Spravato REMS Patient Monitoring Form
# (clinical-reference.md sections 3 and 6), in the form's order.
REMS_MEDICATION_FLAGS: tuple[str, ...] = (
    "benzodiazepine",
    "non_benzo_hypnotic",
    "psychostimulant",
    "maoi",
    "opioid",
)


class RuleKind(StrEnum):
    EXCLUDE = "exclude"
    CAUTION = "caution"
    OFF = "off"


class Advice(StrEnum):
    ELIGIBLE = "eligible"
    ELIGIBLE_WITH_CAUTIONS = "eligible_with_cautions"
    NOT_ELIGIBLE = "not_eligible"


def _decimal(value: Any, what: str) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"{what} must be a number, not {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"{what} must be a finite number, not {value!r}")
    return number


def _whole(value: Any, what: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be a whole number >= {minimum}, not {value!r}")
    return value


@dataclass(frozen=True)
class AntidepressantTrial:
    """One antidepressant trial in the current depressive episode.

    adherence: good / partial / poor / unknown.
    outcome: no_response / partial_response / response / remission / intolerance / ongoing.
    """

    drug: str
    dose_mg_per_day: Decimal | None
    weeks_at_dose: int | None
    adherence: str
    outcome: str

    def __post_init__(self) -> None:
        if not isinstance(self.drug, str) or not self.drug.strip():
            raise ValueError("trial drug must be named")
        if self.dose_mg_per_day is not None:
            dose = _decimal(self.dose_mg_per_day, "trial dose_mg_per_day")
            if dose < 0:
                raise ValueError("trial dose_mg_per_day cannot be negative")
            object.__setattr__(self, "dose_mg_per_day", dose)
        if self.weeks_at_dose is not None:
            _whole(self.weeks_at_dose, "trial weeks_at_dose")
        if self.adherence not in ADHERENCE_VALUES:
            raise ValueError(
                f"trial adherence must be one of {', '.join(ADHERENCE_VALUES)}, "
                f"not {self.adherence!r}"
            )
        if self.outcome not in OUTCOME_VALUES:
            raise ValueError(
                f"trial outcome must be one of {', '.join(OUTCOME_VALUES)}, not {self.outcome!r}"
            )


@dataclass(frozen=True)
class IntakeFacts:
    """Everything the eligibility rules look at. Booleans default to False (not present).

    psychosis_history: psychotic symptoms now or in the past (the intake asks both).
    current_neuromodulation: ECT, TMS, VNS or DBS under way now.
    benzodiazepine_lorazepam_eq_mg_per_day: total daily benzodiazepine dose converted to
    lorazepam mg; morning_benzodiazepine: any benzodiazepine taken in the morning.
    """

    route: str
    age_years: int
    trials: tuple[AntidepressantTrial, ...] = ()
    ect_sessions_this_episode: int = 0
    psychosis_history: bool = False
    schizophrenia_or_schizoaffective: bool = False
    current_substance_use_disorder: bool = False
    hypertension: bool = False
    systolic_bp: int | None = None
    diastolic_bp: int | None = None
    unstable_cardiovascular_disease: bool = False
    aneurysmal_vascular_disease: bool = False
    arteriovenous_malformation: bool = False
    intracerebral_haemorrhage_history: bool = False
    raised_intracranial_or_intraocular_pressure: bool = False
    severe_liver_disease: bool = False
    pregnant_or_possibly_pregnant: bool = False
    ketamine_hypersensitivity: bool = False
    bipolar_disorder: bool = False
    on_mood_stabiliser: bool = False
    ptsd: bool = False
    benzodiazepine_lorazepam_eq_mg_per_day: Decimal = Decimal(0)
    morning_benzodiazepine: bool = False
    current_neuromodulation: bool = False
    non_benzo_hypnotic: bool = False
    psychostimulant: bool = False
    maoi: bool = False
    opioid: bool = False

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"route must be one of {', '.join(ROUTES)}, not {self.route!r}")
        _whole(self.age_years, "age_years")
        _whole(self.ect_sessions_this_episode, "ect_sessions_this_episode")
        trials = tuple(self.trials)
        if not all(isinstance(trial, AntidepressantTrial) for trial in trials):
            raise ValueError("trials must be AntidepressantTrial values")
        object.__setattr__(self, "trials", trials)
        for name in ("systolic_bp", "diastolic_bp"):
            value = getattr(self, name)
            if value is not None:
                _whole(value, name, minimum=1)
        benzo = _decimal(
            self.benzodiazepine_lorazepam_eq_mg_per_day, "benzodiazepine_lorazepam_eq_mg_per_day"
        )
        if benzo < 0:
            raise ValueError("benzodiazepine_lorazepam_eq_mg_per_day cannot be negative")
        object.__setattr__(self, "benzodiazepine_lorazepam_eq_mg_per_day", benzo)


@dataclass(frozen=True)
class TrialPolicy:
    """What counts as an adequate antidepressant trial and as treatment resistance.

    Defaults follow Bio-K (each trial >= 8 weeks; or >= 6 ECT sessions) and the esketamine
    label (two failed antidepressants), clinical-reference.md section 3. Minimum daily doses
    are keyed by lower-case drug name; a drug without an entry counts at any dose.
    """

    minimum_weeks: int = 8
    minimum_adequate_trials: int = 2
    minimum_ect_sessions: int = 6
    minimum_dose_mg_per_day: Mapping[str, Decimal] = field(default_factory=dict, hash=False)
    source: str = "clinical-reference.md section 3 (Bio-K protocol; Spravato label)"

    def __post_init__(self) -> None:
        _whole(self.minimum_weeks, "minimum_weeks", minimum=1)
        _whole(self.minimum_adequate_trials, "minimum_adequate_trials", minimum=1)
        _whole(self.minimum_ect_sessions, "minimum_ect_sessions", minimum=1)
        doses: dict[str, Decimal] = {}
        for drug, dose in dict(self.minimum_dose_mg_per_day).items():
            name = _drug_key(drug)
            if not name:
                raise ValueError("minimum dose drug names must be non-empty")
            value = _decimal(dose, f"minimum dose for {drug!r}")
            if value <= 0:
                raise ValueError(f"minimum dose for {drug!r} must be positive")
            doses[name] = value
        object.__setattr__(self, "minimum_dose_mg_per_day", MappingProxyType(doses))


def _drug_key(drug: str) -> str:
    return " ".join(str(drug).lower().split())


def trial_is_adequate(trial: AntidepressantTrial, policy: TrialPolicy) -> bool:
    """True when a trial counts as an adequate, failed trial towards treatment resistance.

    Adequate (clinical-reference.md section 3; Bio-K, Spravato label): at least
    `policy.minimum_weeks` at dose, at or above the policy's minimum daily dose when one is
    known for the drug, adherence not poor (good, partial and unknown count), and an outcome
    of no response or partial response. A trial stopped for intolerance never reached an
    adequate dose and duration, so it does not count; nor does an ongoing trial, one that
    worked, or one whose duration (or, for a drug with a known minimum, dose) is unknown.
    """
    if trial.outcome not in FAILED_OUTCOMES or trial.adherence == "poor":
        return False
    if trial.weeks_at_dose is None or trial.weeks_at_dose < policy.minimum_weeks:
        return False
    minimum = policy.minimum_dose_mg_per_day.get(_drug_key(trial.drug))
    if minimum is None:
        return True
    return trial.dose_mg_per_day is not None and trial.dose_mg_per_day >= minimum


def adequate_trial_count(trials: Iterable[AntidepressantTrial], policy: TrialPolicy) -> int:
    """Number of different drugs with an adequate failed trial.

    The esketamine label asks for two different antidepressants (clinical-reference.md
    section 3), so a second adequate trial of the same drug does not add to the count.
    """
    return len({_drug_key(trial.drug) for trial in trials if trial_is_adequate(trial, policy)})


def is_treatment_resistant(facts: IntakeFacts, policy: TrialPolicy) -> bool:
    """TRD: enough adequate failed trials, or enough ECT sessions this episode (Bio-K)."""
    return (
        adequate_trial_count(facts.trials, policy) >= policy.minimum_adequate_trials
        or facts.ect_sessions_this_episode >= policy.minimum_ect_sessions
    )


def rems_medication_flags(facts: IntakeFacts) -> tuple[str, ...]:
    """Concomitant medication classes present, as named on the Spravato REMS form."""
    present = {
        "benzodiazepine": facts.benzodiazepine_lorazepam_eq_mg_per_day > 0
        or facts.morning_benzodiazepine,
        "non_benzo_hypnotic": facts.non_benzo_hypnotic,
        "psychostimulant": facts.psychostimulant,
        "maoi": facts.maoi,
        "opioid": facts.opioid,
    }
    return tuple(flag for flag in REMS_MEDICATION_FLAGS if present[flag])


# --- checks: each returns a detail string when its rule is triggered, else None ---------

Params = Mapping[str, Decimal]
Check = Callable[[IntakeFacts, TrialPolicy, Params], str | None]


def _treatment_resistance_not_met(facts: IntakeFacts, policy: TrialPolicy, _: Params) -> str | None:
    if is_treatment_resistant(facts, policy):
        return None
    count = adequate_trial_count(facts.trials, policy)
    return (
        f"{count} adequate failed antidepressant trial(s) of {policy.minimum_adequate_trials} "
        f"needed (each >= {policy.minimum_weeks} weeks at an adequate dose), and "
        f"{facts.ect_sessions_this_episode} ECT session(s) of {policy.minimum_ect_sessions}"
    )


def _flag(attribute: str, detail: str) -> Check:
    def check(facts: IntakeFacts, _policy: TrialPolicy, _params: Params) -> str | None:
        return detail if getattr(facts, attribute) else None

    check.__name__ = f"check_{attribute}"
    return check


def _bp_text(facts: IntakeFacts) -> str:
    systolic = "?" if facts.systolic_bp is None else facts.systolic_bp
    diastolic = "?" if facts.diastolic_bp is None else facts.diastolic_bp
    return f"{systolic}/{diastolic} mmHg"


def _bp_at_or_above(facts: IntakeFacts, params: Params) -> bool:
    # Either number at or above its limit counts, as with any BP threshold pair.
    systolic, diastolic = facts.systolic_bp, facts.diastolic_bp
    return (systolic is not None and systolic >= params["systolic_mmhg"]) or (
        diastolic is not None and diastolic >= params["diastolic_mmhg"]
    )


def _limit_text(params: Params) -> str:
    return f"{params['systolic_mmhg']:f}/{params['diastolic_mmhg']:f} mmHg"


def _bp_above_caution(facts: IntakeFacts, _: TrialPolicy, params: Params) -> str | None:
    if not _bp_at_or_above(facts, params):
        return None
    return f"intake BP {_bp_text(facts)} is at or above {_limit_text(params)}"


def _uncontrolled_hypertension(facts: IntakeFacts, _: TrialPolicy, params: Params) -> str | None:
    if not (facts.hypertension and _bp_at_or_above(facts, params)):
        return None
    return f"known hypertension with intake BP {_bp_text(facts)}, at or above {_limit_text(params)}"


def _hypertension_history(facts: IntakeFacts, _: TrialPolicy, __: Params) -> str | None:
    if not facts.hypertension:
        return None
    if facts.systolic_bp is None and facts.diastolic_bp is None:
        return "known hypertension; no intake BP recorded"
    return f"known hypertension; intake BP {_bp_text(facts)}"


def _under_minimum_age(facts: IntakeFacts, _: TrialPolicy, params: Params) -> str | None:
    minimum = params["minimum_age_years"]
    if facts.age_years >= minimum:
        return None
    return f"age {facts.age_years} is below {minimum:f} years"


def _vascular_lesion(facts: IntakeFacts, _: TrialPolicy, __: Params) -> str | None:
    present = [
        label
        for label, value in (
            ("aneurysmal vascular disease", facts.aneurysmal_vascular_disease),
            ("arteriovenous malformation", facts.arteriovenous_malformation),
            ("history of intracerebral haemorrhage", facts.intracerebral_haemorrhage_history),
        )
        if value
    ]
    return "; ".join(present) if present else None


def _high_benzodiazepine_use(facts: IntakeFacts, _: TrialPolicy, params: Params) -> str | None:
    limit = params["max_lorazepam_eq_mg_per_day"]
    reasons = []
    if facts.benzodiazepine_lorazepam_eq_mg_per_day > limit:
        reasons.append(
            f"{facts.benzodiazepine_lorazepam_eq_mg_per_day:f} mg/day lorazepam-equivalent "
            f"(more than {limit:f})"
        )
    if facts.morning_benzodiazepine:
        reasons.append("a morning benzodiazepine dose")
    return "; ".join(reasons) if reasons else None


def _bipolar_without_mood_stabiliser(facts: IntakeFacts, _: TrialPolicy, __: Params) -> str | None:
    if facts.bipolar_disorder and not facts.on_mood_stabiliser:
        return "bipolar disorder and no mood stabiliser recorded"
    return None


def _rems_medication(facts: IntakeFacts, _: TrialPolicy, __: Params) -> str | None:
    flags = rems_medication_flags(facts)
    if not flags:
        return None
    return "for review and the REMS form: " + ", ".join(flag.replace("_", " ") for flag in flags)


CHECKS: dict[str, Check] = {
    "treatment_resistance_not_met": _treatment_resistance_not_met,
    "under_minimum_age": _under_minimum_age,
    "schizophrenia_spectrum": _flag(
        "schizophrenia_or_schizoaffective", "schizophrenia or schizoaffective disorder"
    ),
    "psychosis": _flag("psychosis_history", "psychosis, current or past"),
    "substance_use_disorder": _flag(
        "current_substance_use_disorder", "current substance use disorder"
    ),
    "uncontrolled_hypertension": _uncontrolled_hypertension,
    "bp_above_caution": _bp_above_caution,
    "hypertension_history": _hypertension_history,
    "pregnancy": _flag("pregnant_or_possibly_pregnant", "pregnant or possibly pregnant"),
    "aneurysmal_vascular_disease": _flag(
        "aneurysmal_vascular_disease",
        "aneurysmal vascular disease (aortic, intracranial or peripheral)",
    ),
    "arteriovenous_malformation": _flag("arteriovenous_malformation", "arteriovenous malformation"),
    "intracerebral_haemorrhage": _flag(
        "intracerebral_haemorrhage_history", "history of intracerebral haemorrhage"
    ),
    "vascular_lesion": _vascular_lesion,
    "ketamine_hypersensitivity": _flag(
        "ketamine_hypersensitivity", "hypersensitivity to ketamine or esketamine"
    ),
    "high_benzodiazepine_use": _high_benzodiazepine_use,
    "concurrent_neuromodulation": _flag(
        "current_neuromodulation", "ECT, TMS, VNS or DBS under way"
    ),
    "raised_intracranial_or_intraocular_pressure": _flag(
        "raised_intracranial_or_intraocular_pressure", "raised intracranial or intraocular pressure"
    ),
    "severe_liver_disease": _flag("severe_liver_disease", "severe liver disease"),
    "unstable_cardiovascular_disease": _flag(
        "unstable_cardiovascular_disease", "unstable cardiovascular disease"
    ),
    "bipolar_without_mood_stabiliser": _bipolar_without_mood_stabiliser,
    "ptsd": _flag("ptsd", "PTSD: plan in advance how to calm distress during a session"),
    "rems_medication": _rems_medication,
}

# The numbers each check reads from its rule's "params"; a rule must give exactly these.
CHECK_PARAMS: dict[str, frozenset[str]] = {
    "under_minimum_age": frozenset({"minimum_age_years"}),
    "uncontrolled_hypertension": frozenset({"systolic_mmhg", "diastolic_mmhg"}),
    "bp_above_caution": frozenset({"systolic_mmhg", "diastolic_mmhg"}),
    "high_benzodiazepine_use": frozenset({"max_lorazepam_eq_mg_per_day"}),
}


@dataclass(frozen=True)
class EligibilityRule:
    """One eligibility rule. `params` holds the numbers its check reads (e.g. BP limits).

    Construction validates the kind, routes, check name and params, so a rule that exists
    can always be evaluated.
    """

    id: str
    statement: str
    source: str
    kind: RuleKind
    routes: tuple[str, ...]
    check: str
    verified: bool = True
    params: Mapping[str, Decimal] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("id", "statement", "source"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"rule {self.id!r}: {name} must be non-empty text")
        try:
            object.__setattr__(self, "kind", RuleKind(self.kind))
        except ValueError:
            raise ValueError(
                f"rule {self.id!r}: kind must be one of "
                f"{', '.join(kind.value for kind in RuleKind)}, not {self.kind!r}"
            ) from None
        routes = (self.routes,) if isinstance(self.routes, str) else tuple(self.routes)
        unknown = [route for route in routes if route not in ROUTES]
        if not routes or unknown or len(set(routes)) != len(routes):
            raise ValueError(
                f"rule {self.id!r}: routes must be distinct values from {', '.join(ROUTES)}, "
                f"not {list(routes)!r}"
            )
        object.__setattr__(self, "routes", routes)
        if self.check not in CHECKS:
            raise ValueError(f"rule {self.id!r}: unknown check {self.check!r}")
        if not isinstance(self.verified, bool):
            raise ValueError(f"rule {self.id!r}: verified must be true or false")
        if not isinstance(self.params, Mapping):
            raise ValueError(f"rule {self.id!r}: params must be an object")
        expected = CHECK_PARAMS.get(self.check, frozenset())
        given = set(self.params)
        if given != expected:
            raise ValueError(
                f"rule {self.id!r}: check {self.check!r} needs params {sorted(expected)}, "
                f"got {sorted(given)}"
            )
        params = {
            name: _decimal(value, f"rule {self.id!r} param {name!r}")
            for name, value in self.params.items()
        }
        object.__setattr__(self, "params", MappingProxyType(params))


@dataclass(frozen=True)
class Finding:
    """A rule that fired. `verified` is False when the rule's source is secondary only."""

    rule_id: str
    kind: RuleKind
    statement: str
    source: str
    detail: str
    verified: bool = True


@dataclass(frozen=True)
class EligibilityResult:
    """Advice, the findings behind it (exclusions first) and facts worth showing."""

    advice: Advice
    findings: tuple[Finding, ...]
    adequate_trials: int
    treatment_resistant: bool
    rems_medication_flags: tuple[str, ...]


def evaluate(
    facts: IntakeFacts, rules: Sequence[EligibilityRule], policy: TrialPolicy
) -> EligibilityResult:
    """Apply the rules for the patient's route and return advice.

    Rules switched off, or not for `facts.route`, are skipped. Any exclusion -> not
    eligible; otherwise any caution -> eligible with cautions; otherwise eligible.
    Advice only: a prescriber decides and signs (clinical-reference.md section 3).
    """
    findings: list[Finding] = []
    for rule in rules:
        if rule.kind is RuleKind.OFF or facts.route not in rule.routes:
            continue
        detail = CHECKS[rule.check](facts, policy, rule.params)
        if detail is not None:
            findings.append(
                Finding(
                    rule_id=rule.id,
                    kind=rule.kind,
                    statement=rule.statement,
                    source=rule.source,
                    detail=detail,
                    verified=rule.verified,
                )
            )
    findings.sort(key=lambda finding: finding.kind is not RuleKind.EXCLUDE)  # stable
    if any(finding.kind is RuleKind.EXCLUDE for finding in findings):
        advice = Advice.NOT_ELIGIBLE
    elif findings:
        advice = Advice.ELIGIBLE_WITH_CAUTIONS
    else:
        advice = Advice.ELIGIBLE
    return EligibilityResult(
        advice=advice,
        findings=tuple(findings),
        adequate_trials=adequate_trial_count(facts.trials, policy),
        treatment_resistant=is_treatment_resistant(facts, policy),
        rems_medication_flags=rems_medication_flags(facts),
    )


RULE_KEYS = frozenset({"id", "statement", "source", "kind", "routes", "check", "verified"})
RULE_OPTIONAL_KEYS = frozenset({"params", "note"})


def load_rules(data: Mapping[str, Any]) -> tuple[EligibilityRule, ...]:
    """Build the rules from the eligibility JSON structure (`{"rules": [...], ...}`).

    Raises ValueError naming the rule for a missing or unknown field, an unknown check,
    kind or route, wrong params, or a repeated id.
    """
    entries = data.get("rules") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError("eligibility data must hold a non-empty 'rules' list")
    rules: list[EligibilityRule] = []
    seen: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, Mapping):
            raise ValueError(f"rule #{position} must be an object")
        name = entry.get("id", f"#{position}")
        missing = sorted(RULE_KEYS - set(entry))
        unknown = sorted(set(entry) - RULE_KEYS - RULE_OPTIONAL_KEYS)
        if missing or unknown:
            raise ValueError(f"rule {name!r}: missing fields {missing}, unknown fields {unknown}")
        if name in seen:
            raise ValueError(f"rule {name!r}: id used more than once")
        seen.add(name)
        if not isinstance(entry["routes"], list):
            raise ValueError(f"rule {name!r}: routes must be a list")
        rules.append(
            EligibilityRule(
                id=entry["id"],
                statement=entry["statement"],
                source=entry["source"],
                kind=entry["kind"],
                routes=tuple(entry["routes"]),
                check=entry["check"],
                verified=entry["verified"],
                params=entry.get("params", {}),
            )
        )
    return tuple(rules)


def load_policy(data: Mapping[str, Any]) -> TrialPolicy:
    """Build the TrialPolicy from the eligibility JSON's "trial_policy" object.

    Shape: {"minimum_weeks", "minimum_adequate_trials", "minimum_ect_sessions", "source",
    "minimum_dose_mg_per_day": {"doses": {drug: mg}, "source", "verified", "note"}}.
    """
    policy = data.get("trial_policy") if isinstance(data, Mapping) else None
    if not isinstance(policy, Mapping):
        raise ValueError("eligibility data must hold a 'trial_policy' object")
    doses_block = policy.get("minimum_dose_mg_per_day", {})
    if not isinstance(doses_block, Mapping):
        raise ValueError("trial_policy.minimum_dose_mg_per_day must be an object")
    doses = doses_block.get("doses", {})
    if not isinstance(doses, Mapping):
        raise ValueError("trial_policy.minimum_dose_mg_per_day.doses must be an object")
    source = policy.get("source")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("trial_policy.source must be non-empty text")
    if doses and doses_block.get("source"):
        verified = "" if doses_block.get("verified") else " (unverified)"
        source = f"{source}; minimum doses{verified}: {doses_block['source']}"
    try:
        return TrialPolicy(
            minimum_weeks=policy.get("minimum_weeks", 8),
            minimum_adequate_trials=policy.get("minimum_adequate_trials", 2),
            minimum_ect_sessions=policy.get("minimum_ect_sessions", 6),
            minimum_dose_mg_per_day=dict(doses),
            source=source,
        )
    except ValueError as exc:
        raise ValueError(f"trial_policy: {exc}") from exc


def with_overrides(
    rules: Iterable[EligibilityRule], overrides: Mapping[str, RuleKind | str]
) -> tuple[EligibilityRule, ...]:
    """The rules with a clinic's choice of kind (exclude / caution / off) for some of them.

    Absolute vs relative contraindication is clinic-configurable (clinical-reference.md
    section 3). Raises ValueError for an unknown rule id or kind.
    """
    rules = tuple(rules)
    known = {rule.id for rule in rules}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"overrides name unknown rules: {', '.join(unknown)}")
    changed: list[EligibilityRule] = []
    for rule in rules:
        if rule.id not in overrides:
            changed.append(rule)
            continue
        try:
            kind = RuleKind(overrides[rule.id])
        except ValueError:
            raise ValueError(
                f"rule {rule.id!r}: override kind must be one of "
                f"{', '.join(k.value for k in RuleKind)}, not {overrides[rule.id]!r}"
            ) from None
        changed.append(replace(rule, kind=kind))
    return tuple(changed)


def default_rules() -> tuple[EligibilityRule, ...]:
    """The packaged rules (`protocols/eligibility-rules.json`) with their default kinds."""
    return load_rules(load_eligibility_data())


def default_policy() -> TrialPolicy:
    """The packaged trial policy (`protocols/eligibility-rules.json`)."""
    return load_policy(load_eligibility_data())
