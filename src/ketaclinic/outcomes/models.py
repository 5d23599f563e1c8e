"""The clinic's outcome definitions, one never-edited row per version."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from ketaclinic.records import SignedRecord


class OutcomeDefinitionVersion(SignedRecord):
    """A version of the outcome definitions (the shape of clinical/data/
    outcome-definition.json). The medical director saves a new version; pages name the
    version they used. Without any row, the shipped file is version 1."""

    version = models.PositiveIntegerField(unique=True)
    data = models.JSONField()
    change_note = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"Outcome definitions v{self.version}"


class PatientOutcomeStamp(models.Model):
    """A random token per patient that the database changes (outcomes/triggers.py) on
    every insert, change or removal of the patient's scores, sessions or treatment courses.
    The outcomes page reuses a patient's computed course outcomes while the token stays the
    one they were computed from. Written by the triggers only."""

    patient_id = models.BigIntegerField(primary_key=True)
    token = models.BigIntegerField()

    def __str__(self) -> str:
        return f"Outcome inputs of patient {self.patient_id}: {self.token}"
