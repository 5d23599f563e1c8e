"""Reads for intake, eligibility and consent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Max

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
from ketaclinic.protocols.loader import load_eligibility_data

if TYPE_CHECKING:
    from ketaclinic.patients.models import Patient


def clinic_rule_settings() -> dict[str, RuleSetting]:
    """The newest setting per rule: the clinic's kind in force and why (two queries)."""
    latest_ids = RuleSetting.objects.values("rule_id").annotate(last=Max("id")).values("last")
    return {
        setting.rule_id: setting
        for setting in RuleSetting.objects.filter(pk__in=latest_ids).select_related("changed_by")
    }


def eligibility_rules_in_force() -> tuple[EligibilityRule, ...]:
    """Packaged rules with the clinic's kinds applied. A setting for a rule no longer
    shipped is ignored rather than breaking every eligibility page."""
    rules = load_rules(load_eligibility_data())
    known = {rule.id for rule in rules}
    overrides = {
        rule_id: RuleKind(setting.kind)
        for rule_id, setting in clinic_rule_settings().items()
        if rule_id in known
    }
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
