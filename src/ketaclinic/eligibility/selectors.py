"""Reads for intake, eligibility and consent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ketaclinic.clinical.eligibility import (
    EligibilityRule,
    RuleKind,
    TrialPolicy,
    load_policy,
    load_rules,
    with_overrides,
)
from ketaclinic.eligibility.models import (
    ConsentDocument,
    ConsentSignature,
    EligibilityDecision,
    IntakeEvaluation,
    RuleSetting,
)
from ketaclinic.protocols import load_eligibility_data

if TYPE_CHECKING:
    from ketaclinic.patients.models import Patient


def clinic_rule_settings() -> dict[str, RuleSetting]:
    """The newest setting per rule: the clinic's kind in force and why."""
    latest: dict[str, RuleSetting] = {}
    for setting in RuleSetting.objects.select_related("changed_by").order_by("changed_at", "id"):
        latest[setting.rule_id] = setting
    return latest


def eligibility_rules_in_force() -> tuple[EligibilityRule, ...]:
    """Packaged rules with the clinic's kinds applied."""
    rules = load_rules(load_eligibility_data())
    overrides = {rule_id: RuleKind(s.kind) for rule_id, s in clinic_rule_settings().items()}
    return with_overrides(rules, overrides)


def trial_policy() -> TrialPolicy:
    return load_policy(load_eligibility_data())


def latest_decision(patient: Patient, route: str) -> EligibilityDecision | None:
    return (
        EligibilityDecision.objects.filter(patient=patient, route=route)
        .order_by("-signed_at", "-id")
        .first()
    )


def current_consent_document() -> ConsentDocument | None:
    return ConsentDocument.objects.order_by("-version").first()


def current_consent(patient: Patient) -> ConsentSignature | None:
    """The patient's witnessed signature on the current consent version, if any."""
    document = current_consent_document()
    if document is None:
        return None
    return (
        ConsentSignature.objects.filter(patient=patient, document=document, witness__isnull=False)
        .select_related("witness", "document")
        .order_by("-signed_at")
        .first()
    )


def open_intake(patient: Patient) -> IntakeEvaluation | None:
    return (
        IntakeEvaluation.objects.filter(patient=patient, status=IntakeEvaluation.Status.DRAFT)
        .order_by("-created_at")
        .first()
    )
