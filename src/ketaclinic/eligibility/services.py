"""Writes for intake, eligibility and consent: one transaction, a permission check and an
audit entry each. The computed advice comes from clinical.eligibility; the decision is
always a prescriber's, signed with their password."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.services import signature_password_check
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.eligibility import (
    Advice,
    AntidepressantTrial,
    EligibilityResult,
    IntakeFacts,
    RuleKind,
    evaluate,
)
from ketaclinic.clinical.search import name_key
from ketaclinic.eligibility.models import (
    ConsentDocument,
    ConsentSignature,
    ConsentWitness,
    EligibilityDecision,
    IntakeEvaluation,
    Route,
    RuleSetting,
)
from ketaclinic.eligibility.selectors import (
    eligibility_rules_in_force,
    latest_decision,
    trial_policy,
)
from ketaclinic.patients.models import MedicationClass, Patient
from ketaclinic.patients.services import require_patient_access

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User

FACT_FIELDS = {f.name for f in fields(IntakeFacts)}
# Wrong passwords when signing, like failed logins, pause signing for a while.
# The steps of the intake wizard (eligibility.forms.INTAKE_STEPS); all are needed to sign.
INTAKE_STEP_KEYS = ("episode", "psychiatric", "medical", "medications")
# Recorded for the prescriber's review; no rule reads them.
NOTE_FIELDS = {"episode_length_months"}


class StaleIntakeError(Exception):
    """Someone else saved this intake after the form was opened."""


def _signature_name(user: User) -> str:
    return user.display_name


def intake_prefill(patient: Patient) -> dict[str, Any]:
    """Start the intake from what the chart already says, for the clinician to confirm."""
    codes = [d.icd10_code for d in patient.diagnoses.all()]
    medications = list(patient.medications.all())
    current = {m.medication_class for m in medications if m.is_current}
    return {
        "age_years": patient.age_years,
        "hypertension": any(c.startswith(("I10", "I11", "I12", "I13", "I15")) for c in codes),
        "bipolar_disorder": any(c.startswith("F31") for c in codes),
        "ptsd": any(c.startswith("F43.1") for c in codes),
        "schizophrenia_or_schizoaffective": any(c.startswith(("F20", "F25")) for c in codes),
        "on_mood_stabiliser": MedicationClass.MOOD_STABILIZER in current,
        "non_benzo_hypnotic": MedicationClass.NON_BENZO_HYPNOTIC in current,
        "psychostimulant": MedicationClass.PSYCHOSTIMULANT in current,
        "maoi": MedicationClass.MAOI in current,
        "opioid": MedicationClass.OPIOID in current,
    }


def intake_trials(patient: Patient) -> tuple[AntidepressantTrial, ...]:
    """Antidepressant trials of the current episode, from the chart's medication list."""
    return tuple(
        AntidepressantTrial(
            drug=m.name,
            dose_mg_per_day=m.dose_mg_per_day,
            weeks_at_dose=m.weeks_at_dose,
            adherence=m.adherence or "unknown",
            outcome=m.trial_outcome or "ongoing",
        )
        for m in patient.medications.all()
        if m.is_antidepressant_trial and m.in_current_episode
    )


def intake_facts(intake: IntakeEvaluation) -> IntakeFacts:
    """The stored answers as IntakeFacts, with the trials read from the chart."""
    values = {k: v for k, v in intake.facts.items() if k in FACT_FIELDS and k != "trials"}
    if "benzodiazepine_lorazepam_eq_mg_per_day" in values:
        values["benzodiazepine_lorazepam_eq_mg_per_day"] = Decimal(
            str(values["benzodiazepine_lorazepam_eq_mg_per_day"] or 0)
        )
    values["route"] = intake.route
    values.setdefault("age_years", intake.patient.age_years)
    return IntakeFacts(**values, trials=intake_trials(intake.patient))


def intake_evaluate(intake: IntakeEvaluation) -> EligibilityResult:
    """Advisory result under the clinic's rules in force (clinical-reference.md section 3)."""
    return evaluate(intake_facts(intake), eligibility_rules_in_force(), trial_policy())


def intake_start(*, actor: User, patient: Patient, route: str) -> IntakeEvaluation:
    require_patient_access(actor, patient, "eligibility.intake")
    if route not in Route.values:
        raise ValidationError("Choose IV ketamine or esketamine.")
    with transaction.atomic():
        intake = IntakeEvaluation.objects.create(
            patient=patient, route=route, facts=intake_prefill(patient), created_by=actor
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="intake_evaluation",
            object_id=intake.pk,
        )
    return intake


def intake_save_step(
    *,
    actor: User,
    intake: IntakeEvaluation,
    step: str,
    answers: dict[str, Any],
    expected_version: int,
) -> IntakeEvaluation:
    """Save one step's answers; part-way intakes are kept until signed."""
    require_patient_access(actor, intake.patient, "eligibility.intake")
    unknown = set(answers) - FACT_FIELDS - NOTE_FIELDS
    if unknown:
        raise ValidationError(f"Unknown intake fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        current = IntakeEvaluation.objects.select_for_update().get(pk=intake.pk)
        if current.status != IntakeEvaluation.Status.DRAFT:
            raise ValidationError("This intake is signed; start a new intake to change it.")
        if current.version != expected_version:
            raise StaleIntakeError(
                "Someone else saved this intake while you were editing. Your answers on this "
                "page were not saved: reload and enter them again."
            )
        current.facts = {
            **current.facts,
            **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in answers.items()},
        }
        if step not in current.completed_steps:
            current.completed_steps = [*current.completed_steps, step]
        current.version += 1
        current.updated_at = timezone.now()
        current.save()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=current.patient_id,
            object_type="intake_evaluation",
            object_id=current.pk,
            detail={"step": step},
        )
    return current


def eligibility_sign(
    *,
    actor: User,
    intake: IntakeEvaluation,
    password: str,
    decision: str,
    expected_version: int,
    override_reason: str = "",
    note: str = "",
) -> EligibilityDecision:
    """The prescriber's electronic signature on the eligibility decision.

    The password is re-entered (a wrong one is audited); the meaning of the signature is
    stored with the name and time, and with the answers, trials and findings it was based
    on. Only a complete draft intake, unchanged since the prescriber opened it, can be
    signed. Approving against a not-eligible advice needs a written reason. The previous
    decision for the same route, if any, is superseded, never changed.
    """
    require_patient_access(actor, intake.patient, "eligibility.sign")
    signature_password_check(
        actor=actor,
        password=password,
        patient_id=intake.patient_id,
        object_type="intake_evaluation",
        object_id=intake.pk,
    )
    if decision not in EligibilityDecision.Decision.values:
        raise ValidationError("Choose approve or decline.")
    approving = decision == EligibilityDecision.Decision.APPROVE
    verb = "approve" if approving else "decline"
    meaning = (
        f"I have reviewed this patient's intake evaluation and the findings shown, and I "
        f"{verb} treatment with {Route(intake.route).label}."
    )
    with transaction.atomic():
        # One signature at a time per patient, so two cannot supersede the same decision.
        Patient.objects.select_for_update().filter(pk=intake.patient_id).first()
        locked = IntakeEvaluation.objects.select_for_update().get(pk=intake.pk)
        if locked.status != IntakeEvaluation.Status.DRAFT:
            raise ValidationError(
                "This intake is already signed. Start a new intake to make a new decision."
            )
        if locked.version != expected_version:
            raise ValidationError(
                "The intake changed after you opened it. Review the findings again before signing."
            )
        missing = [step for step in INTAKE_STEP_KEYS if step not in locked.completed_steps]
        if missing:
            raise ValidationError(
                f"Complete every intake step before signing (missing: {', '.join(missing)})."
            )
        facts = intake_facts(locked)
        result = evaluate(facts, eligibility_rules_in_force(), trial_policy())
        if approving and result.advice == Advice.NOT_ELIGIBLE and not override_reason.strip():
            raise ValidationError(
                "The advice is not eligible: approving needs a written reason for the override."
            )
        previous = latest_decision(locked.patient, locked.route)
        signed = EligibilityDecision.objects.create(
            intake=locked,
            patient=locked.patient,
            route=locked.route,
            advice=result.advice,
            findings=[
                {
                    "rule_id": f.rule_id,
                    "kind": str(f.kind),
                    "statement": f.statement,
                    "source": f.source,
                    "detail": f.detail,
                    "verified": f.verified,
                }
                for f in result.findings
            ],
            facts={
                **locked.facts,
                "adequate_trials": result.adequate_trials,
                "trials": [
                    {
                        "drug": t.drug,
                        "dose_mg_per_day": str(t.dose_mg_per_day),
                        "weeks_at_dose": t.weeks_at_dose,
                        "adherence": t.adherence,
                        "outcome": t.outcome,
                    }
                    for t in facts.trials
                ],
            },
            decision=decision,
            override_reason=override_reason.strip(),
            note=note.strip(),
            signature_meaning=meaning,
            signed_by=actor,
            signed_by_name=_signature_name(actor),
            supersedes=previous,
        )
        IntakeEvaluation.objects.filter(pk=locked.pk).update(
            status=IntakeEvaluation.Status.SIGNED, updated_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=locked.patient_id,
            object_type="eligibility_decision",
            object_id=signed.pk,
            detail={"decision": decision, "advice": str(result.advice)},
        )
    return signed


def rule_setting_change(*, actor: User, rule_id: str, kind: str, reason: str) -> RuleSetting:
    """The medical director switches a rule's kind for this clinic, with a recorded reason."""
    if not actor.can("eligibility.configure_rules"):
        raise PermissionDenied("Only the medical director changes eligibility rules.")
    if rule_id not in {r.id for r in eligibility_rules_in_force()}:
        raise ValidationError(f"No eligibility rule {rule_id!r}.")
    if kind not in RuleKind.__members__.values():
        raise ValidationError("Choose exclude, caution or off.")
    if not reason.strip():
        raise ValidationError("Give the reason for the change.")
    with transaction.atomic():
        setting = RuleSetting.objects.create(
            rule_id=rule_id, kind=kind, reason=reason.strip(), changed_by=actor
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="eligibility_rule",
            object_id=rule_id,
            detail={"kind": kind},
        )
    return setting


def consent_document_publish(*, actor: User, title: str, body: str) -> ConsentDocument:
    if not actor.can("consent.publish"):
        raise PermissionDenied("Only the medical director publishes the consent document.")
    if not title.strip() or not body.strip():
        raise ValidationError("A consent document needs a title and its text.")
    with transaction.atomic():
        last = ConsentDocument.objects.select_for_update().order_by("-version").first()
        document = ConsentDocument.objects.create(
            version=(last.version + 1) if last else 1,
            title=title.strip(),
            body=body.strip(),
            published_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="consent_document",
            object_id=document.pk,
            detail={"version": document.version},
        )
    return document


def consent_sign(
    *,
    actor: User,
    patient: Patient,
    document: ConsentDocument,
    typed_name: str,
    agreed: bool,
    read_version: int,
) -> ConsentSignature:
    """The patient signs by typing their legal name and ticking agreement. In the clinic
    the staff member at their side witnesses at once; on the portal a witness follows."""
    via = ConsentSignature.Via.PORTAL if actor.role == "patient" else ConsentSignature.Via.CLINIC
    if via == ConsentSignature.Via.PORTAL:
        if actor.patient_id != patient.pk:
            raise PermissionDenied("Patients sign only their own consent.")
    else:
        require_patient_access(actor, patient, "consent.record")
    if not agreed:
        raise ValidationError("Tick the box to confirm you have read and agree.")
    if read_version != document.version:
        raise ValidationError(
            "The consent document changed while it was open. Please read "
            "the current version before signing."
        )
    legal = name_key(f"{patient.legal_first_name} {patient.legal_last_name}")
    if name_key(typed_name) != legal:
        raise ValidationError(
            "Type the patient's full legal name exactly as on the record "
            f"({patient.legal_first_name} {patient.legal_last_name})."
        )
    with transaction.atomic():
        signature = ConsentSignature.objects.create(
            patient=patient,
            document=document,
            typed_name=typed_name.strip(),
            signed_via=via,
            entered_by=actor,
        )
        if via == ConsentSignature.Via.CLINIC:
            ConsentWitness.objects.create(
                signature=signature, witnessed_by=actor, witnessed_by_name=_signature_name(actor)
            )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="consent_signature",
            object_id=signature.pk,
            detail={"document_version": document.version, "via": via},
        )
    return signature


def consent_witness(*, actor: User, signature: ConsentSignature) -> ConsentWitness:
    """A staff member witnesses a consent signed on the portal."""
    require_patient_access(actor, signature.patient, "consent.record")
    with transaction.atomic():
        # A double submit waits here, then finds the first witness.
        ConsentSignature.objects.select_for_update().filter(pk=signature.pk).first()
        if ConsentWitness.objects.filter(signature=signature).exists():
            raise ValidationError("This consent is already witnessed.")
        witness = ConsentWitness.objects.create(
            signature=signature, witnessed_by=actor, witnessed_by_name=_signature_name(actor)
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=signature.patient_id,
            object_type="consent_witness",
            object_id=witness.pk,
        )
    return witness
