"""System clients of the FHIR API, their access tokens, and bulk export jobs with their files."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class SystemClient(models.Model):
    """An outside system (a registry, a payer, a referring practice's EHR) allowed to read the
    FHIR API with OAuth2 client credentials.

    It acts as `account`: a staff account whose role and locations limit what the client sees,
    exactly as they limit the pages. Its scopes limit it further, to the resource types named.
    """

    name = models.CharField(max_length=120)
    client_id = models.CharField(max_length=64, unique=True)
    secret_digest = models.CharField(max_length=64, help_text="SHA-256 of the client secret.")
    account = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="fhir_clients"
    )
    scopes = models.JSONField(help_text="The scopes it may ask for, e.g. system/Patient.read.")
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id})"


class AccessToken(models.Model):
    """A bearer token issued to a system client; only its digest is kept."""

    client = models.ForeignKey(SystemClient, on_delete=models.PROTECT, related_name="tokens")
    token_digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField()
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"token for {self.client.client_id} until {self.expires_at:%Y-%m-%d %H:%M}"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "Waiting for the worker"
    RUNNING = "running", "Running"
    DONE = "done", "Ready to download"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired: the files were deleted"


class ExportLevel(models.TextChoices):
    SYSTEM = "system", "Every patient the requester may see"
    GROUP = "group", "A group (a location's patients)"
    PATIENT = "patient", "Patients"


class ExportJob(models.Model):
    """A FHIR Bulk Data $export: kicked off, run by `ketaclinic worker`, downloaded, expired."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.PROTECT, related_name="fhir_exports"
    )
    client = models.ForeignKey(
        SystemClient, null=True, blank=True, on_delete=models.PROTECT, related_name="exports"
    )
    request_url = models.CharField(max_length=2000)
    level = models.CharField(max_length=8, choices=ExportLevel.choices)
    group_id = models.CharField(max_length=64, blank=True)
    resource_types = models.JSONField(help_text="The types to export, in export order.")
    since = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    progress_percent = models.PositiveSmallIntegerField(default=0)
    progress_text = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"], name="fhir_export_queue"),
            models.Index(fields=["-created_at"], name="fhir_export_recent"),
        ]

    def __str__(self) -> str:
        return f"$export {self.id} ({self.status})"


class ExportFile(models.Model):
    """One NDJSON file of an export: one resource type, up to a fixed number of lines."""

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="files")
    resource_type = models.CharField(max_length=40)
    number = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField()
    content = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["job", "resource_type", "number"], name="fhir_export_file_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource_type} {self.number} of {self.job_id}"
