"""Intake evaluations, signed eligibility decisions, clinic rule settings and consent."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.records import SignedRecord


class Route(models.TextChoices):
    IV_KETAMINE = "iv_ketamine", "IV racemic ketamine"
    ESKETAMINE = "esketamine", "Intranasal esketamine (Spravato)"


ADVICE_LABELS = {
    "eligible": "Eligible",
    "eligible_with_cautions": "Eligible with cautions",
    "not_eligible": "Not eligible",
}


class IntakeEvaluation(models.Model):
    """The guided intake: answers saved step by step until the prescriber signs.

    `facts` holds the answers in the shape of clinical.eligibility.IntakeFacts.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", "In progress"
        SIGNED = "signed", "Decision signed"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="intake_evaluations"
    )
    route = models.CharField(max_length=20, choices=Route.choices)
    facts = models.JSONField(default=dict)
    completed_steps = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["patient", "-created_at"], name="intake_patient")]

    def __str__(self) -> str:
        return f"Intake {self.pk} ({self.get_route_display()})"


class EligibilityDecision(SignedRecord):
    """A prescriber's signed eligibility decision. Never edited; a new signed decision
    supersedes it. The computed advice is kept beside the human decision, never in place
    of it."""

    class Decision(models.TextChoices):
        APPROVE = "approve", "Approve treatment"
        DECLINE = "decline", "Decline treatment"

    intake = models.ForeignKey(IntakeEvaluation, on_delete=models.PROTECT, related_name="decisions")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="eligibility_decisions"
    )
    route = models.CharField(max_length=20, choices=Route.choices)
    advice = models.CharField(max_length=30)
    findings = models.JSONField(default=list)
    facts = models.JSONField(help_text="The intake answers as they were when signed.")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    override_reason = models.TextField(blank=True)
    note = models.TextField(blank=True)
    signature_meaning = models.TextField()
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    signed_by_name = models.CharField(max_length=200)
    signed_at = models.DateTimeField(default=timezone.now)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )

    class Meta:
        indexes = [models.Index(fields=["patient", "-signed_at"], name="decision_patient")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(advice="not_eligible", decision="approve")
                | ~models.Q(override_reason=""),
                name="approving_not_eligible_needs_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} ({self.signed_at:%Y-%m-%d})"

    @property
    def get_advice_label(self) -> str:
        return ADVICE_LABELS.get(self.advice, self.advice)


class RuleSetting(models.Model):
    """The clinic's kind for one eligibility rule (exclude, caution or off), with why.

    Rows are history: the newest row for a rule is in force."""

    rule_id = models.CharField(max_length=60)
    kind = models.CharField(max_length=10)
    reason = models.TextField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["rule_id", "-changed_at"], name="rulesetting_latest")]

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.kind}"


class ConsentDocument(SignedRecord):
    """A version of the clinic's own consent text. A new version replaces the old one for
    new signatures; old signatures keep pointing at what the patient actually read."""

    version = models.PositiveIntegerField(unique=True)
    title = models.CharField(max_length=200)
    body = models.TextField()
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class ConsentSignature(SignedRecord):
    """The patient's signature: their typed name and an explicit tick, on one version."""

    class Via(models.TextChoices):
        CLINIC = "clinic", "In the clinic"
        PORTAL = "portal", "Patient portal"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="consent_signatures"
    )
    document = models.ForeignKey(
        ConsentDocument, on_delete=models.PROTECT, related_name="signatures"
    )
    typed_name = models.CharField(max_length=200)
    signed_via = models.CharField(max_length=10, choices=Via.choices)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Staff member or patient account.",
    )
    signed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["patient", "-signed_at"], name="consent_patient")]

    def __str__(self) -> str:
        return f"Consent v{self.document.version} by {self.typed_name}"


class ConsentWitness(SignedRecord):
    """A staff member's attestation that they witnessed the patient's consent."""

    signature = models.OneToOneField(
        ConsentSignature, on_delete=models.PROTECT, related_name="witness"
    )
    witnessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    witnessed_by_name = models.CharField(max_length=200)
    witnessed_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Witnessed by {self.witnessed_by_name}"
