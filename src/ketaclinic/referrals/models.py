"""Resources and referrals: each location's directory of places to refer patients to, the
referrals themselves and their append-only history (docs/referrals.md).

States and urgencies come from rules.json (clinical.referrals checks it); their choices
are read from there, so a new state is a data change."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ketaclinic.records import AppendOnlyQuerySet, SignedRecord
from ketaclinic.referrals.rules import state_choices, urgency_choices


class ResourceKind(models.TextChoices):
    THERAPIST = "therapist", "Therapist"
    PSYCHIATRIST = "psychiatrist", "Psychiatrist"
    SUPPORT_GROUP = "support_group", "Support group"
    PROGRAM = "program", "Intensive outpatient / partial hospital program"
    CRISIS_LINE = "crisis_line", "Crisis line"
    OTHER = "other", "Other"


class ReferralResource(models.Model):
    """A place a patient can be referred to, in one location's directory.

    The national crisis line (`national`, no location) is listed first at every location
    and is never deactivated or edited through the app. Resources are deactivated, never
    deleted (referrals point to them)."""

    location = models.ForeignKey(
        "organization.Location",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referral_resources",
    )
    national = models.BooleanField(default=False)
    kind = models.CharField(max_length=20, choices=ResourceKind.choices)
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=40, blank=True)
    text_number = models.CharField(max_length=40, blank=True, help_text="For text messages.")
    website = models.URLField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    hours = models.CharField(max_length=200, blank=True)
    languages = models.CharField(
        max_length=200, blank=True, help_text="Comma-separated, e.g. English, Spanish."
    )
    insurance_accepted = models.CharField(max_length=300, blank=True)
    telehealth = models.BooleanField(default=False)
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-national", "name", "id"]
        indexes = [
            models.Index(fields=["location", "is_active", "kind"], name="resource_directory"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(national=True, location__isnull=True)
                | Q(national=False, location__isnull=False),
                name="resource_national_or_local",
            ),
            models.UniqueConstraint(
                fields=["national"], condition=Q(national=True), name="one_national_crisis_line"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_crisis(self) -> bool:
        return self.kind == ResourceKind.CRISIS_LINE

    @property
    def language_list(self) -> list[str]:
        return [part.strip() for part in self.languages.split(",") if part.strip()]


class StallLimit(models.Model):
    """A location's own limit, in days without a change, before a referral of this urgency
    is stalled; without a row the default in rules.json applies."""

    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="referral_stall_limits"
    )
    urgency = models.CharField(max_length=20, choices=urgency_choices)
    days = models.PositiveSmallIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["location", "urgency"], name="one_stall_limit"),
            models.CheckConstraint(condition=Q(days__gte=1), name="stall_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.urgency}: {self.days} days"


class Referral(models.Model):
    """A patient referred to a resource of the directory, or to a named outside provider.

    `state` and `last_changed_at` follow the latest ReferralEvent (written in the same
    transaction by referrals.services); `last_changed_at` is what "stalled" is measured
    from, with an index so the stalled list is one SQL filter."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="referrals"
    )
    # The patient's location when referred: whose directory and whose worklist.
    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="referrals"
    )
    resource = models.ForeignKey(
        ReferralResource,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referrals",
    )
    outside_provider = models.CharField(max_length=200, blank=True)
    reason = models.TextField()
    urgency = models.CharField(max_length=20, choices=urgency_choices)
    note = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=state_choices)
    from_alert = models.ForeignKey(
        "measures.SafetyAlert",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referrals",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["location", "state", "urgency", "last_changed_at"], name="referral_stall"
            ),
            models.Index(fields=["patient", "created_at"], name="referral_patient"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(resource__isnull=False) | ~Q(outside_provider=""),
                name="referral_has_a_recipient",
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="referral_has_a_reason"),
        ]

    def __str__(self) -> str:
        return f"Referral of patient {self.patient_id} to {self.recipient_name}"

    @property
    def recipient_name(self) -> str:
        return self.resource.name if self.resource_id else self.outside_provider


class ReferralEvent(SignedRecord):
    """One change of a referral's status, with who, when and why. Never edited."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="events")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, choices=state_choices)
    note = models.TextField(blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    by_name = models.CharField(max_length=200)
    at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or 'new'} -> {self.to_state}"
