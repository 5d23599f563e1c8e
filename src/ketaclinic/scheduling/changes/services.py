"""A patient's requests, from the portal, to move or cancel a visit; the team marks them
handled once they have called back and changed the booking (or not). Reads are in
selectors.py.

One open request per appointment (ChangeRequest's constraint): a second is refused with a
message, also when two are sent at the same moment.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.patients.services import require_patient_access
from ketaclinic.scheduling.models import Appointment, ChangeRequest

MESSAGE_CHARS = 1000  # ChangeRequest.message
NOTE_CHARS = 300  # ChangeRequest.handled_note

ALREADY_ASKED = (
    "You have already asked to change this appointment. The clinic will contact you; "
    "call them if it is urgent."
)


def change_request_submit(*, actor: User, appointment: Appointment, message: str) -> ChangeRequest:
    """A patient asks, from the portal, to move or cancel one of their own upcoming visits.

    Refused with a message: an empty message, a visit that is not booked or has started, or
    a request for this visit that the team has not handled yet."""
    require_patient_access(actor, appointment.patient, "portal.appointments")
    message = (message or "").strip()
    if not message:
        raise ValidationError("Tell the clinic what you would like to change.")
    if len(message) > MESSAGE_CHARS:
        raise ValidationError(f"Please keep your message under {MESSAGE_CHARS} characters.")
    if not appointment.is_booked:
        raise ValidationError(
            f"This visit is {appointment.get_status_display().lower()}; call the clinic about it."
        )
    if appointment.starts_at <= timezone.now():
        raise ValidationError("This visit has already started; please call the clinic.")
    try:
        with transaction.atomic():
            change = ChangeRequest.objects.create(appointment=appointment, message=message)
            audit_record(
                actor=actor,
                action=AuditAction.CREATE,
                patient_id=appointment.patient_id,
                object_type="change_request",
                object_id=change.pk,
                detail={"appointment_id": appointment.pk},
            )
    except IntegrityError as error:
        # The one-open-request constraint: an earlier request is still waiting.
        raise ValidationError(ALREADY_ASKED) from error
    return change


def change_request_handle(*, actor: User, change: ChangeRequest, note: str = "") -> ChangeRequest:
    """Mark a patient's change request handled, with an optional note for the team.
    Refused when someone has already marked it handled."""
    require_patient_access(actor, change.appointment.patient, "scheduling.book")
    with transaction.atomic():
        # No join here: PostgreSQL cannot lock the nullable side of an outer join.
        current = ChangeRequest.objects.select_for_update().get(pk=change.pk)
        if current.handled_at is not None:
            when = timezone.localtime(current.handled_at, change.appointment.location.tz)
            who = current.handled_by.display_name if current.handled_by else "Someone"
            raise ValidationError(
                f"{who} already marked this request handled on {when:%b %-d at %H:%M}."
            )
        current.handled_by = actor
        current.handled_at = timezone.now()
        current.handled_note = (note or "").strip()[:NOTE_CHARS]
        current.save(update_fields=["handled_by", "handled_at", "handled_note"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=change.appointment.patient_id,
            object_type="change_request",
            object_id=current.pk,
            detail={"handled": True, "note": current.handled_note},
        )
    return current
