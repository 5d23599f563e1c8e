"""The controlled-substance register (DEA Schedule III): catalogue, receipts, containers,
the append-only ledger with its per-location hash chain, counts and loss reports.

clinical-reference.md section 7 (21 CFR 1304). Every change to a container's volume is a
ledger entry written in the same transaction as the container's new balance; ledger entries
are never updated or deleted (the database refuses it, see migrations/0002_append_only.py).
Amounts are Decimal millilitres and milligrams.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.organization.models import validate_dea_number

ML = {"max_digits": 10, "decimal_places": 3}
MG = {"max_digits": 12, "decimal_places": 3}
# Less than this is rounding, not volume: a draw with less left is accounted for.
UNACCOUNTED_NOISE_ML = Decimal("0.0005")


def _user(**extra: object) -> models.ForeignKey:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", **extra
    )


class Product(models.Model):
    class Drug(models.TextChoices):
        KETAMINE = "ketamine", "Ketamine hydrochloride"
        ESKETAMINE = "esketamine", "Esketamine hydrochloride"

    class Form(models.TextChoices):
        VIAL = "vial", "Injection, vial"
        NASAL_KIT = "nasal_kit", "Nasal spray, kit of devices"

    name = models.CharField(max_length=120)
    ndc = models.CharField("NDC", max_length=14, unique=True)
    drug = models.CharField(max_length=12, choices=Drug.choices)
    form = models.CharField(max_length=10, choices=Form.choices)
    strength_mg_per_ml = models.DecimalField("strength (mg/mL)", max_digits=8, decimal_places=3)
    container_volume_ml = models.DecimalField("volume per container (mL)", **ML)
    schedule = models.CharField(max_length=4, default="III")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.ndc})"

    @property
    def mg_per_container(self) -> Decimal:
        return self.strength_mg_per_ml * self.container_volume_ml


class Supplier(models.Model):
    name = models.CharField(max_length=200)
    address = models.TextField()
    dea_number = models.CharField(
        "DEA registration number", max_length=9, validators=[validate_dea_number]
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Safe(models.Model):
    """Locked storage at a location."""

    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="safes"
    )
    name = models.CharField(max_length=80)

    class Meta:
        ordering = ["location", "name"]
        constraints = [models.UniqueConstraint(fields=["location", "name"], name="one_safe_name")]

    def __str__(self) -> str:
        return f"{self.location.short_name}: {self.name}"


class Receipt(models.Model):
    """Stock received on an invoice (Schedule III is ordered on an invoice, not Form 222)."""

    location = models.ForeignKey("organization.Location", on_delete=models.PROTECT)
    supplier = models.ForeignKey(Supplier, on_delete=models.PROTECT)
    invoice_number = models.CharField(max_length=40)
    invoice_date = models.DateField()
    received_at = models.DateTimeField(default=timezone.now)
    received_by = _user()
    checked_by = _user()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Invoice {self.invoice_number} from {self.supplier}"


class ContainerQuerySet(models.QuerySet):
    def usable(self, location_id: int, drug: str) -> ContainerQuerySet:
        """Sealed or open containers of a drug at a location, in date, open ones first
        (use up an open vial before breaking a new one)."""
        return (
            self.filter(
                location_id=location_id,
                product__drug=drug,
                status__in=("sealed", "open"),
                remaining_ml__gt=0,
                expires_on__gte=timezone.localdate(),
            )
            .select_related("product")
            .order_by("-status", "expires_on", "label")
        )


class Container(models.Model):
    """One vial or kit, with the volume left in it (always equal to the sum of its ledger
    entries' volume changes)."""

    class Status(models.TextChoices):
        SEALED = "sealed", "Sealed"
        OPEN = "open", "Open"
        EMPTY = "empty", "Empty"
        TRANSFERRED = "transferred", "Transferred out"
        DESTROYED = "destroyed", "Destroyed"
        LOST = "lost", "Lost or stolen"

    label = models.CharField(max_length=20, unique=True)
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="containers")
    location = models.ForeignKey("organization.Location", on_delete=models.PROTECT)
    safe = models.ForeignKey(Safe, on_delete=models.PROTECT, null=True, blank=True)
    receipt = models.ForeignKey(Receipt, on_delete=models.PROTECT, related_name="containers")
    lot_number = models.CharField(max_length=40)
    expires_on = models.DateField()
    initial_ml = models.DecimalField(**ML)
    remaining_ml = models.DecimalField(**ML)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SEALED)
    opened_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)

    objects = ContainerQuerySet.as_manager()

    class Meta:
        ordering = ["location", "product", "expires_on", "label"]
        indexes = [models.Index(fields=["location", "status"], name="container_stock")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining_ml__gte=0), name="container_never_below_zero"
            ),
            models.CheckConstraint(
                condition=models.Q(remaining_ml__lte=models.F("initial_ml")),
                name="container_never_above_its_fill",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} {self.product.name} lot {self.lot_number}"

    @property
    def remaining_mg(self) -> Decimal:
        return self.remaining_ml * self.product.strength_mg_per_ml


class EntryKind(models.TextChoices):
    RECEIVE = "receive", "Received"
    DRAW = "draw", "Drawn for a session"
    ADMINISTER = "administer", "Administered"
    WASTE = "waste", "Wasted (witnessed)"
    RETURN = "return", "Returned to stock"
    TRANSFER_OUT = "transfer_out", "Transferred out"
    TRANSFER_IN = "transfer_in", "Transferred in"
    DESTROY = "destroy", "Destroyed (DEA Form 41)"
    LOSS = "loss", "Theft or loss (DEA Form 106)"
    COUNT = "count", "Counted"
    CORRECTION = "correction", "Correction (reverses an entry)"


class LedgerEntry(models.Model):
    """One line of the register. Never updated or deleted: a mistake is corrected by a
    reversing entry. `entry_hash` covers the content and the previous entry's hash at the
    same location, so `ketaclinic ledger verify` finds any change."""

    location = models.ForeignKey("organization.Location", on_delete=models.PROTECT)
    sequence = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=14, choices=EntryKind.choices)
    container = models.ForeignKey(Container, on_delete=models.PROTECT, related_name="entries")
    # The volume this entry concerns, and what it did to the container's balance (negative
    # for a draw, zero for an administration or the waste of a drawn syringe).
    amount_ml = models.DecimalField(**ML)
    amount_mg = models.DecimalField(**MG)
    container_change_ml = models.DecimalField(**ML)
    balance_after_ml = models.DecimalField(**ML)
    draw = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="accounted_by"
    )
    reverses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    session = models.ForeignKey(
        "charting.TreatmentSession",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_entries",
    )
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = _user()
    actor_name = models.CharField(max_length=200)
    witness = _user(null=True, blank=True)
    second_witness = _user(null=True, blank=True)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["location", "sequence"]
        indexes = [
            models.Index(fields=["container", "sequence"], name="ledger_container"),
            models.Index(fields=["location", "kind", "occurred_at"], name="ledger_reports"),
            models.Index(fields=["session"], name="ledger_session"),
            # The dispensing record (nearly every kind) in the order it is printed, so a
            # page of a long period is read in order instead of sorted whole.
            models.Index(
                fields=["location", "occurred_at", "sequence"], name="ledger_chronological"
            ),
            # The entries page filtered by kind, newest first.
            models.Index(fields=["location", "kind", "sequence"], name="ledger_kind_sequence"),
            # "Reversed by": corrections are rare, so the index on every entry's reverses_id
            # is almost all NULL and SQLite's statistics make it useless; this one holds the
            # corrections only.
            models.Index(
                fields=["reverses", "sequence"],
                condition=models.Q(reverses__isnull=False),
                name="ledger_reversed_by",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["location", "sequence"], name="one_ledger_sequence"),
            models.CheckConstraint(
                condition=models.Q(amount_ml__gte=0), name="ledger_amount_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(balance_after_ml__gte=0), name="ledger_balance_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.get_kind_display()} {self.amount_ml} mL"


class LedgerChainHead(models.Model):
    """Per location: the last sequence and hash, locked by every append so the chain stays
    in order, and compared by verification to catch removal at the end."""

    location = models.OneToOneField(
        "organization.Location", on_delete=models.PROTECT, related_name="ledger_head"
    )
    last_sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"{self.location} ledger at #{self.last_sequence}"


class InventoryCount(models.Model):
    class Kind(models.TextChoices):
        PERIODIC = "periodic", "Periodic count"
        BIENNIAL = "biennial", "Biennial inventory (21 CFR 1304.11)"

    location = models.ForeignKey("organization.Location", on_delete=models.PROTECT)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    counted_at = models.DateTimeField(default=timezone.now)
    counted_by = _user()
    witness = _user()
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-counted_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.counted_at:%Y-%m-%d}"


class CountLine(models.Model):
    """One container counted. A difference from the register is a discrepancy until it is
    explained and resolved (with a correcting entry where stock was really missing)."""

    count = models.ForeignKey(InventoryCount, on_delete=models.PROTECT, related_name="lines")
    container = models.ForeignKey(Container, on_delete=models.PROTECT, related_name="+")
    expected_ml = models.DecimalField(**ML)
    counted_ml = models.DecimalField(**ML)
    estimated = models.BooleanField(
        default=False, help_text="An opened Schedule III container may be estimated."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = _user(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["count", "container"]

    def __str__(self) -> str:
        return f"{self.container.label}: {self.counted_ml} of {self.expected_ml} mL"

    @property
    def discrepancy_ml(self) -> Decimal:
        return self.counted_ml - self.expected_ml


class LossReport(models.Model):
    """Theft or significant loss: written notice to the DEA within one business day of
    discovery and DEA Form 106 within 45 days (clinical-reference.md section 7)."""

    class Kind(models.TextChoices):
        THEFT = "theft", "Theft"
        LOSS = "loss", "Significant loss"
        IN_TRANSIT = "in_transit", "Lost in transit"

    location = models.ForeignKey("organization.Location", on_delete=models.PROTECT)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    discovered_at = models.DateTimeField()
    description = models.TextField()
    reported_by = _user()
    notice_due_on = models.DateField()
    form_106_due_on = models.DateField()
    notice_sent_on = models.DateField(null=True, blank=True)
    form_106_filed_on = models.DateField(null=True, blank=True)
    form_106_number = models.CharField(max_length=40, blank=True)
    police_report_number = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-discovered_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} discovered {self.discovered_at:%Y-%m-%d}"


class LedgerVerification(models.Model):
    """One run of `ketaclinic ledger verify`: the full walk of every location's hash chain.
    The inspector's overview shows the last one (re-walking the whole register on every page
    view would grow with the register); `sequences` says how far each location's chain was
    checked, so entries written since are shown as not yet covered."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    ok = models.BooleanField()
    entries_checked = models.PositiveBigIntegerField()
    problem = models.TextField(blank=True)
    location_name = models.CharField(max_length=200, blank=True)
    first_bad_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    # {location pk (as text): last sequence verified at that location}
    sequences = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-finished_at", "-pk"]

    def __str__(self) -> str:
        outcome = "ok" if self.ok else "BROKEN"
        return f"Ledger verification {self.finished_at:%Y-%m-%d %H:%M}: {outcome}"


class OpenDraw(models.Model):
    """A draw not reversed and with volume not yet administered, wasted or returned (more
    than UNACCOUNTED_NOISE_ML): kept from the ledger by the database (register/triggers.py,
    OPEN_DRAWS), so the dashboard reads the few open draws instead of every draw ever made.
    Written by the triggers only; the dashboard still works the open volume out from the
    ledger for each draw listed here."""

    draw_id = models.BigIntegerField(primary_key=True)
    location_id = models.BigIntegerField(db_index=True)

    def __str__(self) -> str:
        return f"Open draw {self.draw_id}"
