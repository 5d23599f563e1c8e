"""Fees, written estimates with their payment plans, and each patient's account (an
append-only ledger). Money is Decimal with 2 places; rules are in fees.json and the
location's fee rows, arithmetic in ketaclinic.clinical.money (docs/billing.md)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ketaclinic.records import AppendOnlyQuerySet, SignedRecord

MONEY = {"max_digits": 10, "decimal_places": 2}


class CodeSystem(models.TextChoices):
    CPT = "CPT", "CPT"
    HCPCS = "HCPCS", "HCPCS"
    NONE = "", "No code"


class FeeScheduleEntry(SignedRecord):
    """One service's fee at a location from a date. A change is a new row with a later
    `effective_from` (or the same date, later `created_at`); the old row stays."""

    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="fee_entries"
    )
    service_key = models.CharField(max_length=40)
    name = models.CharField(max_length=120)
    code_system = models.CharField(max_length=8, choices=CodeSystem.choices, blank=True)
    code = models.CharField(max_length=10, blank=True)
    unit_fee = models.DecimalField(**MONEY)
    effective_from = models.DateField()
    is_example = models.BooleanField(
        default=False, help_text="Copied from the packaged example amounts, not yet set."
    )
    change_note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "fee schedule entries"
        indexes = [
            models.Index(fields=["location", "service_key", "-effective_from"], name="fee_current")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(unit_fee__gte=0), name="fee_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.unit_fee} from {self.effective_from}"


class Estimate(models.Model):
    """A written estimate for a planned course. Its lines and plan are written once, with
    it; afterwards only its state moves on (sent, accepted, superseded), each step by a
    service. A revised estimate is a new one that supersedes this one."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent, awaiting acceptance"
        ACCEPTED = "accepted", "Accepted"
        SUPERSEDED = "superseded", "Superseded"

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="estimates"
    )
    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="+"
    )
    course = models.ForeignKey(
        "treatment.TreatmentCourse",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="estimates",
    )
    supersedes = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="superseded_by"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    total = models.DecimalField(**MONEY)
    note = models.CharField(max_length=300, blank=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["patient", "-created_at"], name="estimate_patient")]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="estimate_total_not_negative"),
        ]

    def __str__(self) -> str:
        return f"Estimate {self.pk} ({self.get_status_display()})"

    @property
    def number(self) -> str:
        return f"E-{self.pk:05d}"

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("An estimate is never deleted; a new one supersedes it.")


class EstimateLine(SignedRecord):
    """One line of an estimate: service, code, quantity, unit fee, line total. The service
    dates (local ISO dates) are the planned sessions it counts, for the charges."""

    estimate = models.ForeignKey(Estimate, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()
    fee = models.ForeignKey(FeeScheduleEntry, on_delete=models.PROTECT, related_name="+")
    service_key = models.CharField(max_length=40)
    description = models.CharField(max_length=120)
    code_system = models.CharField(max_length=8, choices=CodeSystem.choices, blank=True)
    code = models.CharField(max_length=10, blank=True)
    quantity = models.PositiveSmallIntegerField()
    unit_fee = models.DecimalField(**MONEY)
    line_total = models.DecimalField(**MONEY)
    service_dates = models.JSONField(default=list, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["estimate", "position"]
        constraints = [
            models.UniqueConstraint(fields=["estimate", "position"], name="one_line_position"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.description}"


class PlanInstalment(SignedRecord):
    """One instalment of an estimate's payment plan (local due date, amount)."""

    estimate = models.ForeignKey(Estimate, on_delete=models.PROTECT, related_name="instalments")
    number = models.PositiveSmallIntegerField()
    due_date = models.DateField()
    amount = models.DecimalField(**MONEY)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["estimate", "number"]
        constraints = [
            models.UniqueConstraint(fields=["estimate", "number"], name="one_instalment_number"),
        ]

    def __str__(self) -> str:
        return f"{self.amount} due {self.due_date}"


class Account(models.Model):
    """A patient's one account (`location`: where it was opened), so charges, payments
    and the balance stay together when the patient moves to another location. The row is
    what a payment locks (select_for_update), so two payments at once cannot overpay; the
    money is in the entries."""

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient"], name="one_account_per_patient"),
        ]

    def __str__(self) -> str:
        return f"Account {self.pk}"

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise PermissionError("An account is never deleted.")


class EntryKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    PAYMENT = "payment", "Payment"
    REFUND = "refund", "Refund"
    WRITE_OFF = "write_off", "Write-off"


class PaymentMethod(models.TextChoices):
    CARD = "card", "Card (outside processor)"
    CASH = "cash", "Cash"
    CHECK = "check", "Check"
    HSA_FSA = "hsa_fsa", "HSA / FSA card"


class AccountEntry(SignedRecord):
    """One entry of an account's ledger, never edited or deleted: a charge, a payment, a
    refund or a write-off, always a positive amount; its kind gives the sign."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=10, choices=EntryKind.choices)
    amount = models.DecimalField(**MONEY)
    # Charges: the service, its code and date (for the superbill).
    description = models.CharField(max_length=120, blank=True)
    code_system = models.CharField(max_length=8, choices=CodeSystem.choices, blank=True)
    code = models.CharField(max_length=10, blank=True)
    units = models.PositiveSmallIntegerField(default=1)
    service_date = models.DateField()
    estimate_line = models.ForeignKey(
        EstimateLine, on_delete=models.PROTECT, null=True, blank=True, related_name="charges"
    )
    # Payments and refunds: how, and the outside processor's receipt (never card data).
    method = models.CharField(max_length=10, choices=PaymentMethod.choices, blank=True)
    reference = models.CharField(max_length=60, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "account entries"
        ordering = ["account", "recorded_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="entry_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount}"

    @property
    def signed_amount(self) -> Decimal:
        """Positive: adds to what the patient owes."""
        return self.amount if self.kind in {EntryKind.CHARGE, EntryKind.REFUND} else -self.amount
