"""Therapy writes: booking a therapy visit (through the scheduling booking service, with the
integration window checked first), therapy notes (draft, sign, addenda), psychotherapy
notes, and a location's integration window. Each: capability and patient access checked,
one transaction, one audit entry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.permissions import require_capability, require_own_location
from ketaclinic.accounts.services import signature_password_check
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.charting.models import TreatmentSession
from ketaclinic.clinical.therapy import IntegrationWindow, TherapyRuleError, window_problem
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import require_patient_access
from ketaclinic.scheduling.models import Appointment, AppointmentType, Resource
from ketaclinic.scheduling.services import appointment_book
from ketaclinic.therapy.models import (
    NoteKind,
    PsychotherapyNote,
    TherapyNote,
    TherapyNoteAddendum,
    TherapySettings,
)
from ketaclinic.therapy.rules import (
    INTEGRATION_TYPE_KEY,
    note_fields,
    risk_check_labels,
    therapy_type_keys,
    window_for,
)
from ketaclinic.therapy.selectors import dosing_anchor

SIGNATURE_MEANING = "I saw this patient and this note is a true record of the session."


def _audit(
    actor: User, patient_id: int, action: str, object_type: str, object_id: int, **detail: Any
) -> None:
    audit_record(
        actor=actor,
        action=action,
        patient_id=patient_id,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )


# --- booking ---------------------------------------------------------------------------


def therapy_visit_book(
    *,
    actor: User,
    patient: Patient,
    appointment_type: AppointmentType,
    starts_at: datetime,
    provider: User,
    telehealth: bool = False,
    resource: Resource | None = None,
    after_session: TreatmentSession | None = None,
    note: str = "",
) -> Appointment:
    """Book a preparation, in-session support or integration visit with a therapist (or
    another provider) through scheduling's booking service, which applies every booking
    rule (hours, double booking, telehealth licensure in the patient's state). An
    integration visit booked for a dosing session must start inside that session's
    integration window (the location's window, clinical/therapy.py); outside it, nothing
    is booked and the message names the window."""
    require_patient_access(actor, patient, "scheduling.book")
    if appointment_type.key not in therapy_type_keys():
        raise ValidationError(f"{appointment_type.name} is not a therapy visit.")
    if timezone.is_naive(starts_at):
        raise ValidationError("The start time needs a time zone.")
    location = patient.primary_location
    if after_session is not None:
        if after_session.patient_id != patient.pk:
            raise ValidationError("That dosing session is not this patient's.")
        if appointment_type.key != INTEGRATION_TYPE_KEY:
            raise ValidationError("Only an integration session is booked after a dosing session.")
        try:
            problem = window_problem(
                dosing_anchor(after_session), starts_at, window_for(location), location.tz
            )
        except TherapyRuleError as error:
            raise ValidationError(str(error)) from error
        if problem:
            raise ValidationError(problem)
    return appointment_book(
        actor=actor,
        patient=patient,
        appointment_type=appointment_type,
        location=location,
        starts_at=starts_at,
        provider=provider,
        resource=resource,
        telehealth=telehealth,
        note=note,
    )


# --- therapy notes ---------------------------------------------------------------------


def _clean_answers(kind: str, answers: dict[str, str], risk_check: str) -> dict[str, str]:
    """The note's answers, trimmed; every required field and the risk check filled in."""
    if kind not in NoteKind.values:
        raise ValidationError("Choose the kind of session.")
    cleaned: dict[str, str] = {}
    missing: list[str] = []
    for name, label, required in note_fields(kind):
        value = (answers.get(name) or "").strip()[:4000]
        if required and not value:
            missing.append(label)
        cleaned[name] = value
    if risk_check not in risk_check_labels():
        missing.append("Risk check")
    if missing:
        raise ValidationError("Fill in: " + "; ".join(missing) + ".")
    return cleaned


def _require_author(actor: User, note: TherapyNote) -> None:
    require_patient_access(actor, note.patient, "therapy.write_notes")
    if note.author_id != actor.pk:
        raise PermissionDenied("Only the note's author edits or signs a draft.")


def therapy_note_create(
    *,
    actor: User,
    patient: Patient,
    kind: str,
    session_date: Any,
    answers: dict[str, str],
    risk_check: str,
    appointment: Appointment | None = None,
    dosing_session: TreatmentSession | None = None,
) -> TherapyNote:
    """Start a therapy note (a draft, which its author may change until signing)."""
    require_patient_access(actor, patient, "therapy.write_notes")
    cleaned = _clean_answers(kind, answers, risk_check)
    if session_date is None:
        raise ValidationError("Give the date of the session.")
    if session_date > timezone.localdate(timezone=patient.primary_location.tz):
        raise ValidationError("A note is written for a session that has taken place.")
    if appointment is not None and appointment.patient_id != patient.pk:
        raise ValidationError("That appointment is not this patient's.")
    if dosing_session is not None and dosing_session.patient_id != patient.pk:
        raise ValidationError("That dosing session is not this patient's.")
    with transaction.atomic():
        note = TherapyNote.objects.create(
            patient=patient,
            location=patient.primary_location,
            kind=kind,
            session_date=session_date,
            appointment=appointment,
            dosing_session=dosing_session,
            answers=cleaned,
            risk_check=risk_check,
            author=actor,
            author_name=actor.display_name,
        )
        _audit(actor, patient.pk, AuditAction.CREATE, "therapy_note", note.pk, kind=kind)
    return note


def therapy_note_update(
    *, actor: User, note: TherapyNote, answers: dict[str, str], risk_check: str
) -> TherapyNote:
    """Change a draft. A signed note is never changed: add an addendum."""
    _require_author(actor, note)
    cleaned = _clean_answers(note.kind, answers, risk_check)
    with transaction.atomic():
        current = TherapyNote.objects.select_for_update().get(pk=note.pk)
        if current.is_signed:
            raise ValidationError("This note is signed: it is not edited. Add an addendum.")
        current.answers = cleaned
        current.risk_check = risk_check
        current.updated_at = timezone.now()
        current.save(update_fields=["answers", "risk_check", "updated_at"])
        _audit(actor, note.patient_id, AuditAction.UPDATE, "therapy_note", note.pk, draft=True)
    return current


def therapy_note_sign(*, actor: User, note: TherapyNote, password: str) -> TherapyNote:
    """The author signs the draft by re-entering their password (as session notes are
    signed, charting.services.note_sign). Afterwards the note is never edited: only addenda."""
    _require_author(actor, note)
    signature_password_check(
        actor=actor,
        password=password,
        patient_id=note.patient_id,
        object_type="therapy_note",
        object_id=note.pk,
    )
    with transaction.atomic():
        current = TherapyNote.objects.select_for_update().get(pk=note.pk)
        if current.is_signed:
            raise ValidationError("This note is already signed. Add an addendum instead.")
        # The signed answers must still be complete (a draft saved before a rule changed).
        _clean_answers(current.kind, current.answers, current.risk_check)
        current.signed_at = timezone.now()
        current.signature_meaning = SIGNATURE_MEANING
        current.save(update_fields=["signed_at", "signature_meaning"])
        _audit(actor, note.patient_id, AuditAction.UPDATE, "therapy_note", note.pk, signed=True)
    return current


def therapy_note_addendum_add(*, actor: User, note: TherapyNote, body: str) -> TherapyNoteAddendum:
    """An addendum to a signed therapy note (any therapist of the patient's care team)."""
    require_patient_access(actor, note.patient, "therapy.write_notes")
    if not note.is_signed:
        raise ValidationError("Addenda are added to a signed note; change the draft instead.")
    body = (body or "").strip()
    if not body:
        raise ValidationError("Write the addendum.")
    with transaction.atomic():
        addendum = TherapyNoteAddendum.objects.create(
            note=note, body=body[:4000], written_by=actor, written_by_name=actor.display_name
        )
        _audit(
            actor,
            note.patient_id,
            AuditAction.CREATE,
            "therapy_note_addendum",
            addendum.pk,
            note=note.pk,
        )
    return addendum


# --- psychotherapy notes ----------------------------------------------------------------


def psychotherapy_note_add(
    *, actor: User, patient: Patient, session_date: Any, body: str
) -> PsychotherapyNote:
    """A psychotherapy note (45 CFR 164.501), readable by its author only."""
    require_patient_access(actor, patient, "therapy.psychotherapy_notes")
    body = (body or "").strip()
    if not body:
        raise ValidationError("Write the note.")
    if session_date is None:
        raise ValidationError("Give the date of the session.")
    if session_date > timezone.localdate(timezone=patient.primary_location.tz):
        raise ValidationError("A note is written for a session that has taken place.")
    with transaction.atomic():
        note = PsychotherapyNote.objects.create(
            patient=patient, author=actor, session_date=session_date, body=body[:20000]
        )
        # The audit entry says that a note was written, never what it says.
        _audit(actor, patient.pk, AuditAction.CREATE, "psychotherapy_note", note.pk)
    return note


# --- settings ----------------------------------------------------------------------------


def therapy_settings_update(
    *,
    actor: User,
    location: Location,
    opens_after_hours: int,
    closes_after_hours: int,
    source: str,
) -> TherapySettings:
    """Set a location's integration window (a director; the clinic default otherwise)."""
    require_capability(actor, "therapy.configure")
    require_own_location(actor, location)
    source = (source or "").strip()
    if not source:
        raise ValidationError("Say where the window comes from (a source, or 'clinic default').")
    try:
        IntegrationWindow(opens_after_hours, closes_after_hours, source)
    except TherapyRuleError as error:
        raise ValidationError(f"The integration window is not usable: {error}.") from error
    with transaction.atomic():
        row, _ = TherapySettings.objects.update_or_create(
            location=location,
            defaults={
                "integration_opens_after_hours": opens_after_hours,
                "integration_closes_after_hours": closes_after_hours,
                "source": source[:300],
                "updated_by": actor,
                "updated_at": timezone.now(),
            },
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="therapy_settings",
            object_id=row.pk,
            detail={"opens": opens_after_hours, "closes": closes_after_hours},
        )
    return row
