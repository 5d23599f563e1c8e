"""Eligibility rules against clinical-reference.md section 3."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from ketaclinic.clinical.eligibility import (
    CHECKS,
    REMS_MEDICATION_FLAGS,
    ROUTES,
    Advice,
    AntidepressantTrial,
    EligibilityRule,
    IntakeFacts,
    RuleKind,
    TrialPolicy,
    default_policy,
    default_rules,
    evaluate,
    load_policy,
    load_rules,
    trial_is_adequate,
    with_overrides,
)
from ketaclinic.protocols.loader import load_eligibility_data

RULES = default_rules()
POLICY = default_policy()
BY_ID = {rule.id: rule for rule in RULES}


def trial(
    drug: str = "sertraline",
    dose: str | None = "100",
    weeks: int | None = 8,
    adherence: str = "good",
    outcome: str = "no_response",
) -> AntidepressantTrial:
    return AntidepressantTrial(
        drug=drug,
        dose_mg_per_day=None if dose is None else Decimal(dose),
        weeks_at_dose=weeks,
        adherence=adherence,
        outcome=outcome,
    )


TWO_FAILED = (
    trial("sertraline", "100", 8),
    trial("escitalopram", "20", 10, "partial", "partial_response"),
)


def facts(route: str = "iv_ketamine", **changes: Any) -> IntakeFacts:
    """A treatment-resistant 40-year-old with nothing else recorded: eligible."""
    values: dict[str, Any] = {"route": route, "age_years": 40, "trials": TWO_FAILED}
    values.update(changes)
    return IntakeFacts(**values)


def fired(intake: IntakeFacts, rules: tuple[EligibilityRule, ...] = RULES) -> dict[str, Any]:
    return {finding.rule_id: finding for finding in evaluate(intake, rules, POLICY).findings}


# rule id -> (changes that trigger it, changes just short of triggering it)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "treatment_resistance_not_met": ({"trials": TWO_FAILED[:1]}, {}),
    "under_minimum_age": ({"age_years": 17}, {"age_years": 18}),
    "schizophrenia_spectrum": ({"schizophrenia_or_schizoaffective": True}, {}),
    "psychosis": ({"psychosis_history": True}, {}),
    "substance_use_disorder": ({"current_substance_use_disorder": True}, {}),
    "uncontrolled_hypertension": (
        {"hypertension": True, "systolic_bp": 150, "diastolic_bp": 85},
        {"hypertension": True, "systolic_bp": 139, "diastolic_bp": 89},
    ),
    "bp_above_caution": (
        {"systolic_bp": 128, "diastolic_bp": 90},
        {"systolic_bp": 139, "diastolic_bp": 89},
    ),
    "hypertension_history": ({"hypertension": True}, {"systolic_bp": 130, "diastolic_bp": 80}),
    "pregnancy": ({"pregnant_or_possibly_pregnant": True}, {}),
    "aneurysmal_vascular_disease": ({"aneurysmal_vascular_disease": True}, {}),
    "arteriovenous_malformation": ({"arteriovenous_malformation": True}, {}),
    "intracerebral_haemorrhage": ({"intracerebral_haemorrhage_history": True}, {}),
    "vascular_lesion_iv": ({"arteriovenous_malformation": True}, {}),
    "ketamine_hypersensitivity": ({"ketamine_hypersensitivity": True}, {}),
    "high_benzodiazepine_use": (
        {"benzodiazepine_lorazepam_eq_mg_per_day": Decimal("4.5")},
        {"benzodiazepine_lorazepam_eq_mg_per_day": Decimal("4")},
    ),
    "concurrent_neuromodulation": ({"current_neuromodulation": True}, {}),
    "raised_intracranial_or_intraocular_pressure": (
        {"raised_intracranial_or_intraocular_pressure": True},
        {},
    ),
    "severe_liver_disease": ({"severe_liver_disease": True}, {}),
    "unstable_cardiovascular_disease": ({"unstable_cardiovascular_disease": True}, {}),
    "bipolar_without_mood_stabiliser": (
        {"bipolar_disorder": True},
        {"bipolar_disorder": True, "on_mood_stabiliser": True},
    ),
    "ptsd": ({"ptsd": True}, {}),
    "rems_medication": ({"opioid": True}, {}),
}

EXPECTED_KIND = {
    "treatment_resistance_not_met": RuleKind.EXCLUDE,
    "under_minimum_age": RuleKind.EXCLUDE,
    "schizophrenia_spectrum": RuleKind.EXCLUDE,
    "psychosis": RuleKind.EXCLUDE,
    "substance_use_disorder": RuleKind.EXCLUDE,
    "uncontrolled_hypertension": RuleKind.EXCLUDE,
    "pregnancy": RuleKind.EXCLUDE,
    "aneurysmal_vascular_disease": RuleKind.EXCLUDE,
    "arteriovenous_malformation": RuleKind.EXCLUDE,
    "intracerebral_haemorrhage": RuleKind.EXCLUDE,
    "ketamine_hypersensitivity": RuleKind.EXCLUDE,
    "bp_above_caution": RuleKind.CAUTION,
    "hypertension_history": RuleKind.CAUTION,
    "vascular_lesion_iv": RuleKind.CAUTION,
    "high_benzodiazepine_use": RuleKind.CAUTION,
    "concurrent_neuromodulation": RuleKind.CAUTION,
    "raised_intracranial_or_intraocular_pressure": RuleKind.CAUTION,
    "severe_liver_disease": RuleKind.CAUTION,
    "unstable_cardiovascular_disease": RuleKind.CAUTION,
    "bipolar_without_mood_stabiliser": RuleKind.CAUTION,
    "ptsd": RuleKind.CAUTION,
    "rems_medication": RuleKind.CAUTION,
}

ESKETAMINE_ONLY = {
    "aneurysmal_vascular_disease",
    "arteriovenous_malformation",
    "intracerebral_haemorrhage",
    "rems_medication",
}
IV_ONLY = {"vascular_lesion_iv"}


def test_every_packaged_rule_has_a_test_case_and_every_check_is_used() -> None:
    assert set(BY_ID) == set(CASES) == set(EXPECTED_KIND)
    assert {rule.check for rule in RULES} == set(CHECKS)


def test_baseline_patient_is_eligible_on_both_routes() -> None:
    for route in ROUTES:
        result = evaluate(facts(route), RULES, POLICY)
        assert result.advice is Advice.ELIGIBLE
        assert result.findings == ()
        assert result.adequate_trials == 2
        assert result.treatment_resistant
        assert result.rems_medication_flags == ()


@pytest.mark.parametrize("rule_id", sorted(CASES))
@pytest.mark.parametrize("route", ROUTES)
def test_rule_fires_only_when_triggered_and_only_on_its_routes(rule_id: str, route: str) -> None:
    rule = BY_ID[rule_id]
    triggering, short_of_it = CASES[rule_id]
    findings = fired(facts(route, **triggering))
    if route in rule.routes:
        finding = findings[rule_id]
        assert finding.kind is rule.kind is EXPECTED_KIND[rule_id]
        assert finding.statement == rule.statement
        assert finding.source == rule.source
        assert finding.detail.strip()
        assert finding.verified is rule.verified
    else:
        assert rule_id not in findings
    assert rule_id not in fired(facts(route, **short_of_it))


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_every_rule_has_statement_source_and_routes(rule: EligibilityRule) -> None:
    assert rule.statement.strip() and rule.source.strip()
    assert "clinical-reference.md" in rule.source
    expected = (
        {"esketamine"}
        if rule.id in ESKETAMINE_ONLY
        else {"iv_ketamine"}
        if rule.id in IV_ONLY
        else set(ROUTES)
    )
    assert set(rule.routes) == expected


def test_label_contraindications_do_not_exclude_iv_but_hypersensitivity_does() -> None:
    lesion = {
        "aneurysmal_vascular_disease": True,
        "arteriovenous_malformation": True,
        "intracerebral_haemorrhage_history": True,
    }
    iv = evaluate(facts("iv_ketamine", **lesion), RULES, POLICY)
    assert iv.advice is Advice.ELIGIBLE_WITH_CAUTIONS
    assert [f.rule_id for f in iv.findings] == ["vascular_lesion_iv"]
    assert "arteriovenous malformation" in iv.findings[0].detail
    assert not iv.findings[0].verified
    esketamine = evaluate(facts("esketamine", **lesion), RULES, POLICY)
    assert esketamine.advice is Advice.NOT_ELIGIBLE
    assert {f.rule_id for f in esketamine.findings} == {
        "aneurysmal_vascular_disease",
        "arteriovenous_malformation",
        "intracerebral_haemorrhage",
    }
    for route in ROUTES:
        result = evaluate(facts(route, ketamine_hypersensitivity=True), RULES, POLICY)
        assert result.advice is Advice.NOT_ELIGIBLE


def test_advice_exclusion_beats_caution_and_exclusions_are_listed_first() -> None:
    result = evaluate(facts(ptsd=True, pregnant_or_possibly_pregnant=True), RULES, POLICY)
    assert result.advice is Advice.NOT_ELIGIBLE
    assert [f.rule_id for f in result.findings] == ["pregnancy", "ptsd"]
    cautions = evaluate(facts(ptsd=True, severe_liver_disease=True), RULES, POLICY)
    assert cautions.advice is Advice.ELIGIBLE_WITH_CAUTIONS
    assert [f.kind for f in cautions.findings] == [RuleKind.CAUTION, RuleKind.CAUTION]


def test_with_overrides_switches_exclude_to_caution_to_off() -> None:
    intake = facts(current_substance_use_disorder=True)
    assert evaluate(intake, RULES, POLICY).advice is Advice.NOT_ELIGIBLE
    caution = with_overrides(RULES, {"substance_use_disorder": RuleKind.CAUTION})
    result = evaluate(intake, caution, POLICY)
    assert result.advice is Advice.ELIGIBLE_WITH_CAUTIONS
    assert result.findings[0].kind is RuleKind.CAUTION
    off = with_overrides(RULES, {"substance_use_disorder": "off"})
    assert evaluate(intake, off, POLICY).advice is Advice.ELIGIBLE
    # and a caution can become an exclusion
    strict = with_overrides(RULES, {"ptsd": RuleKind.EXCLUDE})
    assert evaluate(facts(ptsd=True), strict, POLICY).advice is Advice.NOT_ELIGIBLE
    # the originals are untouched and the order is kept
    assert BY_ID["substance_use_disorder"].kind is RuleKind.EXCLUDE
    assert [r.id for r in off] == [r.id for r in RULES]


def test_with_overrides_rejects_unknown_rule_or_kind() -> None:
    with pytest.raises(ValueError, match="no_such_rule"):
        with_overrides(RULES, {"no_such_rule": RuleKind.OFF})
    with pytest.raises(ValueError, match="ptsd"):
        with_overrides(RULES, {"ptsd": "maybe"})


# --- trial adequacy and treatment resistance ---------------------------------------------


def test_trial_at_exactly_minimum_weeks_and_dose_is_adequate() -> None:
    assert trial_is_adequate(trial("sertraline", "50", 8), POLICY)
    assert not trial_is_adequate(trial("sertraline", "50", 7), POLICY)


def test_trial_below_minimum_dose_is_not_adequate() -> None:
    assert not trial_is_adequate(trial("sertraline", "25", 12), POLICY)
    assert not trial_is_adequate(trial("Escitalopram ", "5", 12), POLICY)  # name normalised
    assert trial_is_adequate(trial("Escitalopram ", "10", 12), POLICY)


def test_unknown_dose_counts_only_for_drugs_without_a_minimum() -> None:
    assert not trial_is_adequate(trial("sertraline", None, 12), POLICY)
    assert trial_is_adequate(trial("nortriptyline", None, 12), POLICY)
    assert not trial_is_adequate(trial("nortriptyline", None, None), POLICY)


def test_poor_adherence_intolerance_ongoing_and_response_do_not_count() -> None:
    assert not trial_is_adequate(trial(adherence="poor"), POLICY)
    for adherence in ("good", "partial", "unknown"):
        assert trial_is_adequate(trial(adherence=adherence), POLICY)
    for outcome in ("intolerance", "ongoing", "response", "remission"):
        assert not trial_is_adequate(trial(outcome=outcome), POLICY)
    for outcome in ("no_response", "partial_response"):
        assert trial_is_adequate(trial(outcome=outcome), POLICY)


def test_policy_without_dose_table_accepts_any_dose() -> None:
    policy = TrialPolicy(minimum_weeks=6, source="test")
    assert trial_is_adequate(trial("sertraline", "25", 6), policy)


def test_two_trials_of_the_same_drug_count_once() -> None:
    same = (trial("sertraline", "100", 8), trial("Sertraline", "200", 10))
    result = evaluate(facts(trials=same), RULES, POLICY)
    assert result.adequate_trials == 1
    assert not result.treatment_resistant
    assert "treatment_resistance_not_met" in fired(facts(trials=same))


def test_treatment_resistance_by_ect_sessions() -> None:
    no_trials = {"trials": ()}
    assert "treatment_resistance_not_met" in fired(facts(ect_sessions_this_episode=5, **no_trials))
    result = evaluate(facts(ect_sessions_this_episode=6, **no_trials), RULES, POLICY)
    assert result.treatment_resistant and result.adequate_trials == 0
    assert result.advice is Advice.ELIGIBLE


def test_treatment_resistance_detail_names_counts() -> None:
    detail = fired(facts(trials=()))["treatment_resistance_not_met"].detail
    assert "0 adequate" in detail and "of 2" in detail and "of 6" in detail


# --- specific rule semantics ---------------------------------------------------------------


def test_blood_pressure_rules_read_their_params() -> None:
    assert "bp_above_caution" in fired(facts(systolic_bp=140))
    assert "bp_above_caution" in fired(facts(diastolic_bp=90))
    assert "bp_above_caution" not in fired(facts())  # no reading, nothing to judge
    # hypertension with high BP: exclusion plus the two cautions
    ids = fired(facts(hypertension=True, systolic_bp=160, diastolic_bp=100))
    assert {"uncontrolled_hypertension", "bp_above_caution", "hypertension_history"} <= set(ids)
    # hypertension without an intake reading: caution that says so, no exclusion
    ids = fired(facts(hypertension=True))
    assert "uncontrolled_hypertension" not in ids
    assert "no intake BP" in ids["hypertension_history"].detail
    # a clinic with a stricter limit changes the number in the data, not the code
    data = load_eligibility_data()
    rule = next(r for r in data["rules"] if r["id"] == "bp_above_caution")
    rule["params"] = {"systolic_mmhg": 130, "diastolic_mmhg": 80}
    assert "bp_above_caution" in fired(facts(systolic_bp=132), load_rules(data))


def test_high_benzodiazepine_use_morning_dose() -> None:
    detail = fired(facts(morning_benzodiazepine=True))["high_benzodiazepine_use"].detail
    assert "morning" in detail


def test_rems_medication_flags() -> None:
    intake = facts(
        "esketamine",
        benzodiazepine_lorazepam_eq_mg_per_day=Decimal("1"),
        non_benzo_hypnotic=True,
        psychostimulant=True,
        maoi=True,
        opioid=True,
    )
    result = evaluate(intake, RULES, POLICY)
    assert result.rems_medication_flags == REMS_MEDICATION_FLAGS
    assert result.advice is Advice.ELIGIBLE_WITH_CAUTIONS
    assert [f.rule_id for f in result.findings] == ["rems_medication"]
    # the flags are reported for IV too (review), but the caution is for esketamine
    iv = evaluate(facts(opioid=True, morning_benzodiazepine=True), RULES, POLICY)
    assert iv.rems_medication_flags == ("benzodiazepine", "opioid")
    assert "rems_medication" not in {f.rule_id for f in iv.findings}


# --- data loading and validation ----------------------------------------------------------


def test_policy_from_data() -> None:
    assert POLICY.minimum_weeks == 8
    assert POLICY.minimum_adequate_trials == 2
    assert POLICY.minimum_ect_sessions == 6
    assert POLICY.minimum_dose_mg_per_day["sertraline"] == Decimal(50)
    assert POLICY.minimum_dose_mg_per_day["venlafaxine"] == Decimal(75)
    assert "unverified" in POLICY.source
    data = load_eligibility_data()
    assert data["trial_policy"]["minimum_dose_mg_per_day"]["verified"] is False


def _data_with(rule_id: str, **changes: Any) -> dict[str, Any]:
    data = load_eligibility_data()
    for rule in data["rules"]:
        if rule["id"] == rule_id:
            rule.update(changes)
    return data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"check": "no_such_check"}, "unknown check"),
        ({"kind": "forbid"}, "kind"),
        ({"routes": ["oral"]}, "routes"),
        ({"routes": []}, "routes"),
        ({"source": " "}, "source"),
        ({"params": {"systolic_mmhg": 140}}, "params"),
        ({"params": {"systolic_mmhg": "high", "diastolic_mmhg": 90}}, "number"),
        ({"verified": "yes"}, "verified"),
        ({"colour": "red"}, "unknown fields"),
    ],
)
def test_bad_rule_data_is_rejected_naming_the_rule(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        load_rules(_data_with("bp_above_caution", **changes))
    assert "bp_above_caution" in str(error.value)


def test_missing_field_and_duplicate_id_are_rejected() -> None:
    data = load_eligibility_data()
    del data["rules"][0]["source"]
    with pytest.raises(ValueError, match="missing fields"):
        load_rules(data)
    data = load_eligibility_data()
    data["rules"].append(copy.deepcopy(data["rules"][0]))
    with pytest.raises(ValueError, match="more than once"):
        load_rules(data)
    with pytest.raises(ValueError, match="rules"):
        load_rules({"rules": []})


def test_bad_policy_data_is_rejected() -> None:
    data = load_eligibility_data()
    data["trial_policy"]["minimum_weeks"] = 0
    with pytest.raises(ValueError, match="minimum_weeks"):
        load_policy(data)
    data = load_eligibility_data()
    data["trial_policy"]["minimum_dose_mg_per_day"]["doses"]["sertraline"] = -5
    with pytest.raises(ValueError, match="sertraline"):
        load_policy(data)


def test_bad_intake_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="route"):
        IntakeFacts(route="oral", age_years=40)
    with pytest.raises(ValueError, match="age_years"):
        IntakeFacts(route="esketamine", age_years=-1)
    with pytest.raises(ValueError, match="negative"):
        IntakeFacts(route="esketamine", age_years=40, benzodiazepine_lorazepam_eq_mg_per_day=-1)
    with pytest.raises(ValueError, match="adherence"):
        trial(adherence="excellent")
    with pytest.raises(ValueError, match="outcome"):
        trial(outcome="better")


def test_defaults_and_construction() -> None:
    intake = IntakeFacts(route="iv_ketamine", age_years=40)
    assert intake.trials == () and intake.benzodiazepine_lorazepam_eq_mg_per_day == 0
    rule = EligibilityRule(
        id="x",
        statement="s",
        source="src",
        kind="caution",  # type: ignore[arg-type]
        routes=("esketamine",),
        check="ptsd",
    )
    assert rule.kind is RuleKind.CAUTION and rule.verified and dict(rule.params) == {}
    hash(rule)  # usable in sets despite the params mapping
