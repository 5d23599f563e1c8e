"""The append-only, hash-chained audit log of every read and write of patient data."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from ketaclinic.records import AppendOnlyQuerySet


class AuditAction(models.TextChoices):
    VIEW = "view", "Viewed"
    SEARCH = "search", "Searched"
    CREATE = "create", "Created"
    UPDATE = "update", "Changed"
    EXPORT = "export", "Exported"
    API_READ = "api_read", "Read through the API"
    LOGIN = "login", "Logged in"
    LOGOUT = "logout", "Logged out"
    LOCKOUT_LIFTED = "lockout_lifted", "Lifted a lockout"
    SIGNATURE_REFUSED = "signature_refused", "Signature refused (wrong password)"
    SEED = "seed", "Seeded demo data"
    PURGE = "purge", "Purged after the retention period"


class AuditEntry(models.Model):
    """One audited event. The code has no path that updates or deletes one, and the
    database refuses it too (audit/triggers.py).

    `entry_hash` is SHA-256 over this entry's content and `previous_hash`, so any
    change, removal or reordering of stored entries breaks the chain
    (see audit.services.audit_verify_chain).
    """

    sequence = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        # The entry keeps the id of a user who is later removed: it is never updated
        # (the database's triggers refuse it; audit/triggers.py).
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    # Plain ids, not foreign keys: the log must outlive and never block the rows it names.
    patient_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    object_type = models.CharField(max_length=60, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    path = models.CharField(max_length=300, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    previous_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["patient_id", "-sequence"], name="audit_patient_seq"),
            # A person's recent entries (a page that refreshes itself records a view once
            # per interval): read by time, not by walking the whole log.
            models.Index(fields=["actor", "occurred_at"], name="audit_actor_time"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} by {self.actor_username or 'system'}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._state.adding:
            raise PermissionError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError("Audit entries are append-only.")


class AuditChainHead(models.Model):
    """A single row holding the last sequence and hash: appends lock it to stay in order,
    and verification compares it with the last entry to catch removal at the end."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return f"chain head at #{self.last_sequence}"
