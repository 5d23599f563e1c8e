"""Payers and prior authorizations: a payer's checklist filled from the chart, and the
request's history from draft to approval (with the last day it covers) or denial."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from ketaclinic.records import AppendOnlyQuerySet, SignedRecord


class PriorAuthStatus(models.TextChoices):
    DRAFTED = "drafted", "Drafted"
    SENT = "sent", "Sent to the payer"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    APPEALED = "appealed", "Appealed"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Payer(models.Model):
    """An insurer the clinic asks for prior authorization, with the checklist template
    its requests are filled from (coverage/checklists.json)."""

    name = models.CharField(max_length=120, unique=True)
    checklist_key = models.CharField(max_length=40)
    phone = models.CharField(max_length=30, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PriorAuthorization(models.Model):
    """One request to a payer for a patient's treatment. Its status and approval change
    only through services, each change also kept as a PriorAuthEvent."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="prior_authorizations"
    )
    location = models.ForeignKey("organization.Location", on_delete=models.PROTECT)
    course = models.ForeignKey(
        "treatment.TreatmentCourse",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="prior_authorizations",
    )
    payer = models.ForeignKey(Payer, on_delete=models.PROTECT, related_name="requests")
    route = models.CharField(max_length=20)
    member_id = models.CharField("Member ID", max_length=40)
    status = models.CharField(
        max_length=12, choices=PriorAuthStatus.choices, default=PriorAuthStatus.DRAFTED
    )
    checklist = models.JSONField(default=list)
    checklist_filled_at = models.DateTimeField(default=timezone.now)
    approved_until = models.DateField(null=True, blank=True)
    approved_sessions = models.PositiveSmallIntegerField(null=True, blank=True)
    payer_reference = models.CharField(max_length=60, blank=True)
    created_by = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    status_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["patient", "route", "status"], name="prior_auth_patient"),
            models.Index(fields=["location", "status", "approved_until"], name="prior_auth_loc"),
        ]

    def __str__(self) -> str:
        return f"{self.payer} for {self.patient_id} ({self.status})"


class PriorAuthEvent(SignedRecord):
    """A status change of a request, never edited."""

    prior_authorization = models.ForeignKey(
        PriorAuthorization, on_delete=models.PROTECT, related_name="events"
    )
    status_from = models.CharField(max_length=12, blank=True)
    status_to = models.CharField(max_length=12, choices=PriorAuthStatus.choices)
    note = models.TextField(blank=True)
    approved_until = models.DateField(null=True, blank=True)
    payer_reference = models.CharField(max_length=60, blank=True)
    actor = models.ForeignKey("accounts.User", on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.status_from or 'new'} -> {self.status_to}"
