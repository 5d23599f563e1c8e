"""Therapy: the integration window per location, therapy notes (draft, then signed and
only amended) and psychotherapy notes (their author's alone, kept apart from the chart:
HIPAA, 45 CFR 164.501 "psychotherapy notes" and 164.508(a)(2))."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone

from ketaclinic.records import AppendOnlyQuerySet, SignedRecord


def _user_fk(related_name: str = "+") -> Any:
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name=related_name
    )


class TherapySettings(models.Model):
    """A location's integration window, overriding the clinic default (therapy/rules.json)."""

    location = models.OneToOneField(
        "organization.Location", on_delete=models.PROTECT, related_name="therapy_settings"
    )
    integration_opens_after_hours = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(24 * 14)]
    )
    integration_closes_after_hours = models.PositiveSmallIntegerField(
        default=72, validators=[MaxValueValidator(24 * 28)]
    )
    source = models.CharField(max_length=300, help_text="Where the window comes from.")
    updated_by = _user_fk()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "therapy settings"

    def __str__(self) -> str:
        return f"Integration within {self.integration_closes_after_hours} h at {self.location}"


class NoteKind(models.TextChoices):
    PREPARATION = "preparation", "Preparation session"
    IN_SESSION = "in_session", "In-session support"
    INTEGRATION = "integration", "Integration session"


class TherapyNoteQuerySet(models.QuerySet):
    """Bulk writes cannot go around TherapyNote.save(): signed notes are never updated,
    and no note is deleted."""

    def update(self, **kwargs: Any) -> int:
        if self.filter(signed_at__isnull=False).exists():
            raise PermissionError("A signed therapy note is never edited: add an addendum.")
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("A therapy note is never deleted.")


class TherapyNote(models.Model):
    """A therapy note: a draft its author edits, then signed (password re-entered) and
    never edited again; corrections are addenda. The structured answers are in `answers`
    (fields as therapy/rules.json names them)."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="therapy_notes"
    )
    location = models.ForeignKey(
        "organization.Location", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=NoteKind.choices)
    session_date = models.DateField(help_text="The local date of the therapy session.")
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="therapy_notes",
    )
    dosing_session = models.ForeignKey(
        "charting.TreatmentSession",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="therapy_notes",
        help_text="The dosing session this note prepares for, supports or integrates.",
    )
    answers = models.JSONField(default=dict)
    risk_check = models.CharField(max_length=10)
    author = _user_fk("therapy_notes_written")
    author_name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    signed_at = models.DateTimeField(null=True, blank=True)
    signature_meaning = models.TextField(blank=True)

    objects = TherapyNoteQuerySet.as_manager()

    class Meta:
        ordering = ["-session_date", "-id"]
        indexes = [
            models.Index(fields=["patient", "-session_date"], name="therapy_note_patient"),
            models.Index(fields=["author", "signed_at"], name="therapy_note_author"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} note, {self.session_date:%Y-%m-%d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A signed note is never edited (the row in the database decides, not this copy).
        if (
            not self._state.adding
            and type(self).objects.filter(pk=self.pk, signed_at__isnull=False).exists()
        ):
            raise PermissionError("A signed therapy note is never edited: add an addendum.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError("A therapy note is never deleted.")

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None


class TherapyNoteAddendum(SignedRecord):
    """A later word on a signed therapy note. Never edited."""

    note = models.ForeignKey(TherapyNote, on_delete=models.PROTECT, related_name="addenda")
    body = models.TextField()
    written_by = _user_fk()
    written_by_name = models.CharField(max_length=200)
    written_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["written_at", "id"]

    def __str__(self) -> str:
        return f"Addendum by {self.written_by_name}"


class PsychotherapyNote(SignedRecord):
    """A psychotherapy note (45 CFR 164.501): the therapist's own notes of the content of a
    counseling session, kept apart from the medical record. Only its author reads it; it is
    not on the chart, in exports or in FHIR. Written once; a later thought is a new note."""

    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.PROTECT, related_name="psychotherapy_notes"
    )
    author = _user_fk("psychotherapy_notes_written")
    session_date = models.DateField()
    body = models.TextField()
    written_at = models.DateTimeField(default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["-session_date", "-id"]
        indexes = [
            models.Index(
                fields=["author", "patient", "-session_date"], name="psychotherapy_author"
            ),
        ]

    def __str__(self) -> str:
        return f"Psychotherapy note, {self.session_date:%Y-%m-%d}"
