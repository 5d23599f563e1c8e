"""Writes of payers and prior authorizations: each checks the role (and that the user
sees the patient), runs in one transaction and leaves an audit entry."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.coverage import fill_checklist, next_statuses
from ketaclinic.coverage.models import Payer, PriorAuthEvent, PriorAuthorization, PriorAuthStatus
from ketaclinic.coverage.selectors import chart_facts, checklist_items, checklist_templates
from ketaclinic.eligibility.selectors import trial_policy
from ketaclinic.patients.services import require_patient_access

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.patients.models import Patient
    from ketaclinic.treatment.models import TreatmentCourse

MEMBER_ID_CHARS = 40


def payer_create(*, actor: User, name: str, checklist_key: str, phone: str = "") -> Payer:
    """Add a payer with the checklist template its requests are filled from."""
    if not actor.can("billing.configure"):
        raise PermissionDenied("Your role may not add payers (billing.configure).")
    name = name.strip()
    if not name:
        raise ValidationError("Give the payer's name.")
    if checklist_key not in checklist_templates():
        raise ValidationError("Choose one of the checklist templates.")
    if Payer.objects.filter(name__iexact=name).exists():
        raise ValidationError(f"A payer named {name!r} is already on the list.")
    with transaction.atomic():
        payer = Payer.objects.create(
            name=name, checklist_key=checklist_key, phone=phone.strip(), created_by=actor
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="payer",
            object_id=payer.pk,
            detail={"name": name, "checklist": checklist_key},
        )
    return payer


def _filled(patient: Patient, course: TreatmentCourse | None, key: str) -> list[dict]:
    today = timezone.localdate(timezone=patient.primary_location.tz)
    results = fill_checklist(checklist_items(key), chart_facts(patient, course), today,
                             trial_policy())  # fmt: skip
    return [asdict(r) for r in results]


def prior_auth_draft(
    *,
    actor: User,
    patient: Patient,
    payer: Payer,
    member_id: str,
    course: TreatmentCourse | None = None,
) -> PriorAuthorization:
    """Draft a request to `payer` for the treatment of `course` (or of the payer's
    template route), its checklist filled from the chart as it is now."""
    require_patient_access(actor, patient, "billing.prior_auth")
    member_id = member_id.strip()
    if not member_id:
        raise ValidationError("Give the patient's member ID with this payer.")
    if len(member_id) > MEMBER_ID_CHARS:
        raise ValidationError(f"A member ID has at most {MEMBER_ID_CHARS} characters.")
    if not payer.is_active:
        raise ValidationError(f"{payer.name} is no longer on the payer list.")
    route = checklist_templates()[payer.checklist_key]["route"]
    if course is not None:
        if course.patient_id != patient.pk:
            raise ValidationError("That course is not this patient's.")
        if course.protocol.route != route:
            raise ValidationError(
                f"{payer.name}'s checklist is for {route.replace('_', ' ')}; this course is not."
            )
    with transaction.atomic():
        prior_auth = PriorAuthorization.objects.create(
            patient=patient,
            location=course.location if course else patient.primary_location,
            course=course,
            payer=payer,
            route=route,
            member_id=member_id,
            checklist=_filled(patient, course, payer.checklist_key),
            created_by=actor,
        )
        PriorAuthEvent.objects.create(
            prior_authorization=prior_auth, status_to=PriorAuthStatus.DRAFTED, actor=actor
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="prior_authorization",
            object_id=prior_auth.pk,
            detail={"payer": payer.name, "route": route},
        )
    return prior_auth


def prior_auth_refill(*, actor: User, prior_auth: PriorAuthorization) -> PriorAuthorization:
    """Fill a draft's checklist again from the chart (after the chart was completed)."""
    require_patient_access(actor, prior_auth.patient, "billing.prior_auth")
    with transaction.atomic():
        locked = PriorAuthorization.objects.select_for_update().get(pk=prior_auth.pk)
        if locked.status != PriorAuthStatus.DRAFTED:
            raise ValidationError("Only a draft is filled again: this request was sent.")
        locked.checklist = _filled(locked.patient, locked.course, locked.payer.checklist_key)
        locked.checklist_filled_at = timezone.now()
        locked.save(update_fields=["checklist", "checklist_filled_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=locked.patient_id,
            object_type="prior_authorization",
            object_id=locked.pk,
            detail={"refilled": True},
        )
    return locked


def prior_auth_move(
    *,
    actor: User,
    prior_auth: PriorAuthorization,
    status: str,
    note: str = "",
    approved_until: date | None = None,
    approved_sessions: int | None = None,
    payer_reference: str = "",
) -> PriorAuthorization:
    """Move a request on: sent, approved (with the last day it covers and the payer's
    reference), denied (with the reason), appealed or withdrawn."""
    require_patient_access(actor, prior_auth.patient, "billing.prior_auth")
    note, payer_reference = note.strip(), payer_reference.strip()
    with transaction.atomic():
        locked = PriorAuthorization.objects.select_for_update().get(pk=prior_auth.pk)
        allowed = next_statuses(locked.status)
        if status not in allowed:
            wanted = PriorAuthStatus(status).label if status in PriorAuthStatus.values else status
            raise ValidationError(
                f"A request that is {locked.get_status_display().lower()} cannot be marked "
                f"{wanted.lower()!r}."
            )
        if status == PriorAuthStatus.APPROVED:
            today = timezone.localdate(timezone=locked.location.tz)
            if approved_until is None:
                raise ValidationError("Give the last day the approval covers.")
            if approved_until < today:
                raise ValidationError("The approval's last day is already past.")
            if not payer_reference:
                raise ValidationError("Give the payer's authorization number.")
            if approved_sessions is not None and approved_sessions < 1:
                raise ValidationError("The number of approved sessions must be at least 1.")
        elif approved_until is not None or approved_sessions is not None:
            raise ValidationError("Only an approval has a last day and a number of sessions.")
        if status in (PriorAuthStatus.DENIED, PriorAuthStatus.APPEALED) and not note:
            raise ValidationError("Say why (the payer's reason, or the grounds of the appeal).")
        before = locked.status
        locked.status = status
        locked.status_changed_at = timezone.now()
        fields = ["status", "status_changed_at"]
        if status == PriorAuthStatus.APPROVED:
            locked.approved_until = approved_until
            locked.approved_sessions = approved_sessions
            locked.payer_reference = payer_reference
            fields += ["approved_until", "approved_sessions", "payer_reference"]
        locked.save(update_fields=fields)
        PriorAuthEvent.objects.create(
            prior_authorization=locked,
            status_from=before,
            status_to=status,
            note=note,
            approved_until=approved_until,
            payer_reference=payer_reference,
            actor=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=locked.patient_id,
            object_type="prior_authorization",
            object_id=locked.pk,
            detail={"from": before, "to": status},
        )
    return locked
