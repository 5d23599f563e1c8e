"""Writes for resources and referrals. Each: a capability check (and the patient visible to
the actor), one transaction, one audit entry. Reads are in selectors.py.

Referral states, the allowed moves and the stall limits are data (rules.json, checked by
clinical.referrals); the national crisis line is the 988 Suicide & Crisis Lifeline
(/work/shared/clinical-reference.md section 8; organization.selectors.crisis_line)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from ketaclinic.accounts.permissions import require_capability, require_own_location
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.referrals import ReferralRuleError
from ketaclinic.measures.models import AlertAction, SafetyAlert
from ketaclinic.measures.services import alert_acknowledge
from ketaclinic.organization.models import Location
from ketaclinic.organization.selectors import crisis_line
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import require_patient_access
from ketaclinic.referrals.models import (
    Referral,
    ReferralEvent,
    ReferralResource,
    ResourceKind,
    StallLimit,
)
from ketaclinic.referrals.rules import referral_rules
from ketaclinic.referrals.selectors import stall_days_for

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User

# The directory fields a person with referrals.configure may set.
RESOURCE_FIELDS = (
    "kind",
    "name",
    "phone",
    "text_number",
    "website",
    "address",
    "hours",
    "languages",
    "insurance_accepted",
    "telehealth",
    "notes",
    "is_active",
)
NATIONAL_FIXED = (
    "The 988 Suicide & Crisis Lifeline is listed at every location and cannot be changed "
    "or removed."
)


def national_crisis_resource(*, using: str = "default") -> ReferralResource:
    """The 988 Suicide & Crisis Lifeline, always in every location's directory: one row (by
    constraint), made after every migrate (apps.py) like a migration's data, so without an
    audit entry; never edited or deactivated through the app."""
    resources = ReferralResource.objects.using(using)
    existing = resources.filter(national=True).first()
    if existing is not None:
        return existing
    line = crisis_line()
    try:
        with transaction.atomic(using=using):
            return resources.create(
                national=True,
                kind=ResourceKind.CRISIS_LINE,
                name=line.name,
                phone=line.call,
                text_number=line.text,
                website="https://988lifeline.org",
                hours="24 hours a day, 7 days a week",
                languages="English, Spanish",
                telehealth=True,
                notes="Call or text 988. Source: clinical-reference.md section 8.",
            )
    except IntegrityError:
        # Made by another process at the same moment: theirs is the one.
        return resources.get(national=True)


def _clean_resource(resource: ReferralResource) -> None:
    resource.name = resource.name.strip()
    if not resource.name:
        raise ValidationError({"name": "Give the resource's name."})
    if not (resource.phone.strip() or resource.website.strip() or resource.address.strip()):
        raise ValidationError("Give at least a phone number, a website or an address.")
    resource.full_clean()


def resource_create(
    *, actor: User, location: Location, data: Mapping[str, Any]
) -> ReferralResource:
    """Add a resource to a location's directory (e.g. a local crisis number)."""
    require_capability(actor, "referrals.configure")
    require_own_location(actor, location)
    resource = ReferralResource(
        location=location, **{k: data[k] for k in RESOURCE_FIELDS if k in data}
    )
    _clean_resource(resource)
    with transaction.atomic():
        resource.save()
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="referral_resource",
            object_id=resource.pk,
            detail={"location_id": location.pk, "name": resource.name, "kind": resource.kind},
        )
    return resource


def resource_update(
    *, actor: User, resource: ReferralResource, data: Mapping[str, Any]
) -> ReferralResource:
    """Change a directory entry (deactivating it is a change, never a deletion); the audit
    entry keeps every changed field's value before and after."""
    require_capability(actor, "referrals.configure")
    if resource.national:
        raise PermissionDenied(NATIONAL_FIXED)
    require_own_location(actor, resource.location)
    with transaction.atomic():
        current = ReferralResource.objects.select_for_update().get(pk=resource.pk)
        changes: dict[str, dict[str, Any]] = {}
        for field in RESOURCE_FIELDS:
            if field in data and getattr(current, field) != data[field]:
                changes[field] = {"before": getattr(current, field), "after": data[field]}
                setattr(current, field, data[field])
        if not changes:
            return current
        _clean_resource(current)
        current.updated_at = timezone.now()
        current.save()
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="referral_resource",
            object_id=current.pk,
            detail={"location_id": current.location_id, "changes": changes},
        )
    return current


def stall_limit_set(*, actor: User, location: Location, urgency: str, days: int) -> StallLimit:
    """A location's own stall limit for one urgency (the default is in rules.json)."""
    require_capability(actor, "referrals.configure")
    require_own_location(actor, location)
    rules = referral_rules()
    if urgency not in rules.urgencies:
        raise ValidationError(f"Unknown urgency {urgency!r}.")
    if days < 1 or days > 365:
        raise ValidationError("A stall limit is between 1 and 365 days.")
    with transaction.atomic():
        limit = (
            StallLimit.objects.select_for_update()
            .filter(location=location, urgency=urgency)
            .first()
        )
        before = limit.days if limit else rules.stall_days[urgency]
        if limit is None:
            limit = StallLimit.objects.create(location=location, urgency=urgency, days=days)
        else:
            limit.days = days
            limit.save(update_fields=["days"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="referral_stall_limit",
            object_id=limit.pk,
            detail={
                "location_id": location.pk,
                "urgency": urgency,
                "before": before,
                "after": days,
            },
        )
    return limit


def stall_limits_set(
    *, actor: User, location: Location, days_by_urgency: dict[str, int]
) -> list[StallLimit]:
    """Several urgencies' limits at once, all or none: each that changes is set (and
    audited) as stall_limit_set does."""
    current = stall_days_for([location.pk])[location.pk]
    with transaction.atomic():
        return [
            stall_limit_set(actor=actor, location=location, urgency=urgency, days=days)
            for urgency, days in days_by_urgency.items()
            if days != current.get(urgency)
        ]


def _check_recipient(
    patient: Patient, resource: ReferralResource | None, outside_provider: str
) -> None:
    if resource is None and not outside_provider:
        raise ValidationError("Choose a resource from the directory, or name the outside provider.")
    if resource is not None and outside_provider:
        raise ValidationError("Choose a resource or name an outside provider, not both.")
    if resource is not None:
        if not resource.is_active:
            raise ValidationError(f"{resource.name} is no longer in the directory.")
        if not resource.national and resource.location_id != patient.primary_location_id:
            raise ValidationError(f"{resource.name} is not in this patient's location's directory.")


def referral_create(
    *,
    actor: User,
    patient: Patient,
    reason: str,
    urgency: str,
    resource: ReferralResource | None = None,
    outside_provider: str = "",
    note: str = "",
    from_alert: SafetyAlert | None = None,
) -> Referral:
    """Refer a patient to a resource of their location's directory (or the 988 Lifeline),
    or to a named outside provider. A reason is required; the referral starts "sent"."""
    require_patient_access(actor, patient, "referrals.manage")
    rules = referral_rules()
    reason = (reason or "").strip()
    outside_provider = (outside_provider or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give the reason for the referral."})
    if urgency not in rules.urgencies:
        raise ValidationError({"urgency": "Choose how urgent the referral is."})
    _check_recipient(patient, resource, outside_provider)
    now = timezone.now()
    with transaction.atomic():
        referral = Referral.objects.create(
            patient=patient,
            location_id=patient.primary_location_id,
            resource=resource,
            outside_provider=outside_provider,
            reason=reason,
            urgency=urgency,
            note=(note or "").strip(),
            state=rules.initial_state,
            from_alert=from_alert,
            created_by=actor,
            created_at=now,
            last_changed_at=now,
        )
        ReferralEvent.objects.create(
            referral=referral,
            from_state="",
            to_state=rules.initial_state,
            note=referral.note,
            by=actor,
            by_name=actor.display_name,
            at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="referral",
            object_id=referral.pk,
            detail={
                "resource_id": resource.pk if resource else None,
                "urgency": urgency,
                "alert_id": from_alert.pk if from_alert else None,
            },
        )
    return referral


def referral_change_status(
    *, actor: User, referral: Referral, to_state: str, note: str = ""
) -> Referral:
    """Move a referral to its next status (the allowed moves are in rules.json); each move
    is a new, never-edited event with who, when and the note. A move that is not allowed
    is refused with a message saying which are."""
    require_patient_access(actor, referral.patient, "referrals.manage")
    rules = referral_rules()
    with transaction.atomic():
        current = Referral.objects.select_for_update().get(pk=referral.pk)
        try:
            rules.check_transition(current.state, to_state)
        except ReferralRuleError as error:
            raise ValidationError(str(error)) from error
        now = timezone.now()
        event = ReferralEvent.objects.create(
            referral=current,
            from_state=current.state,
            to_state=to_state,
            note=(note or "").strip(),
            by=actor,
            by_name=actor.display_name,
            at=now,
        )
        current.state = to_state
        current.last_changed_at = now
        current.save(update_fields=["state", "last_changed_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=current.patient_id,
            object_type="referral",
            object_id=current.pk,
            detail={"from": event.from_state, "to": to_state, "event_id": event.pk},
        )
    return current


def referral_crisis_from_alert(
    *, actor: User, alert: SafetyAlert, resource: ReferralResource, note: str
) -> Referral:
    """One step from a positive suicide-risk screen: acknowledge the alert (action: crisis
    team or 988 contacted, with the note) and refer the patient, at crisis urgency, to a
    crisis resource. Both or neither: any refusal leaves the alert open and no referral.

    The alert's action and its note are required by measures.services.alert_acknowledge."""
    require_capability(actor, "referrals.manage")
    if resource.kind != ResourceKind.CRISIS_LINE:
        raise ValidationError("Choose a crisis resource.")
    with transaction.atomic():
        alert_acknowledge(
            actor=actor, alert=alert, action=AlertAction.CRISIS_SERVICES, note=note or ""
        )
        return referral_create(
            actor=actor,
            patient=alert.patient,
            resource=resource,
            reason=f"Positive suicide-risk screen: {alert.get_kind_display()}.",
            urgency="crisis",
            note=note,
            from_alert=alert,
        )
