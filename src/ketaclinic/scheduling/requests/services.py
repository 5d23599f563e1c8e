"""Writes for appointment requests: the public 'request an appointment' form, and the
coordinator's work on it (contact attempts, conversion to a patient, decline).

Each is one transaction with a permission check and an audit entry. Converting and
declining lock the request row first, so a double click or two coordinators at once
handle a request only once."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.audit.context import address_network, current_ip_address
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.codes import US_STATES, normalize_us_phone
from ketaclinic.organization.models import Location, Organization
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import patient_register, require_patient_access
from ketaclinic.scheduling.models import AppointmentRequest, ContactAttempt, RequestStatus
from ketaclinic.scheduling.requests.selectors import (
    OPEN_STATUSES,
    clinic_phone,
    requests_visible_to,
    telehealth_states,
)


class RequestLimitReached(Exception):
    """Too many requests from one address, or from everyone together, in the last hour;
    nothing was stored."""


def source_digest(address: str) -> str:
    """HMAC-SHA256 of the sender's address keyed with SECRET_KEY: the same address always
    gives the same digest (so it can be counted) but the address cannot be read back. An
    IPv6 address counts as its /64 network, which one household or device usually has
    whole, so that stepping through it does not give a fresh limit each time."""
    return hmac.new(
        settings.SECRET_KEY.encode(), address_network(address or "").encode(), hashlib.sha256
    ).hexdigest()


def request_submit(
    *,
    actor: User | None,
    address: str,
    first_name: str,
    last_name: str,
    date_of_birth: date,
    phone: str,
    state: str,
    preferred_location: Location | None,
    wants_telehealth: bool,
    help_with: str,
    consent_to_contact: bool,
    email: str = "",
    heard_about: str = "",
) -> AppointmentRequest:
    """Put a request from the public form in the coordinators' queue.

    Refused with a clear message (ValidationError) when a video visit is asked for from a
    state where none of our providers is licensed (telehealth follows the patient's state of
    residence), or when no location or video visit is chosen. Refused with
    RequestLimitReached when KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR requests from the same
    address (IPv6: the same /64) were accepted in the last hour, or
    KETACLINIC_REQUESTS_PER_HOUR from all addresses together (a flood from many addresses
    cannot bury the queue). Anyone may send one: `actor` is None from the public site.

    Nothing here looks up patients: the answer is the same whether or not a patient with
    the name and birth date exists, so the form cannot be used to find out."""
    phone_line = clinic_phone()
    if wants_telehealth:
        preferred_location = None
        if state not in dict(telehealth_states()):
            raise ValidationError(
                f"We cannot offer video visits to people living in "
                f"{US_STATES.get(state, state)} yet: none of our providers is licensed there. "
                f"Choose one of our locations instead, or call us at {phone_line} to talk it "
                "over."
            )
    elif preferred_location is None or not preferred_location.is_active:
        raise ValidationError("Choose the location where you would like to be seen.")
    digest = source_digest(address)
    appointment_request = AppointmentRequest(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        date_of_birth=date_of_birth,
        phone=normalize_us_phone(phone) or phone,
        email=email.strip(),
        state=state,
        preferred_location=preferred_location,
        wants_telehealth=wants_telehealth,
        help_with=help_with.strip(),
        heard_about=heard_about,
        consent_to_contact=consent_to_contact,
        source_digest=digest,
    )
    appointment_request.full_clean()
    with transaction.atomic():
        # Count and insert under one lock so that several server processes cannot each let
        # the last allowed request through (SQLite: the IMMEDIATE transaction already is one).
        Organization.objects.select_for_update().order_by("pk").first()
        since = timezone.now() - timedelta(hours=1)
        last_hour = AppointmentRequest.objects.filter(submitted_at__gte=since)
        if last_hour.filter(source_digest=digest).count() >= (
            settings.KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR
        ):
            raise RequestLimitReached(
                "We have already received several requests from your connection in the last "
                f"hour, so this one was not sent. Please call us at {phone_line}: we will "
                "gladly help you on the phone."
            )
        if last_hour.count() >= settings.KETACLINIC_REQUESTS_PER_HOUR:
            raise RequestLimitReached(
                "We are receiving an unusual number of requests right now, so this one was "
                f"not sent. Please try again in an hour, or call us at {phone_line}: we will "
                "gladly help you on the phone."
            )
        appointment_request.submitted_at = timezone.now()
        appointment_request.save()
        # The sender's address is kept only as the digest above, so not in the audit log
        # either.
        token = current_ip_address.set(None)
        try:
            audit_record(
                actor=actor,
                action=AuditAction.CREATE,
                object_type="appointment_request",
                object_id=appointment_request.pk,
                detail={
                    "telehealth": wants_telehealth,
                    "location_id": preferred_location.pk if preferred_location else None,
                },
            )
        finally:
            current_ip_address.reset(token)
    return appointment_request


def _require_request(actor: User, appointment_request: AppointmentRequest) -> None:
    if not actor.can("scheduling.requests"):
        raise PermissionDenied("Your role may not do this (scheduling.requests).")
    if not requests_visible_to(actor).filter(pk=appointment_request.pk).exists():
        raise PermissionDenied("This request is not for one of your locations.")


def _locked_open(appointment_request: AppointmentRequest) -> AppointmentRequest:
    """The request's row, locked; refused when someone has already converted or declined it."""
    current = (
        AppointmentRequest.objects.select_for_update(of=("self",))
        .select_related("handled_by")
        .get(pk=appointment_request.pk)
    )
    if current.status not in OPEN_STATUSES:
        who = current.handled_by.display_name if current.handled_by else "someone"
        when = timezone.localtime(current.handled_at) if current.handled_at else None
        at = f" on {when:%b %d, %Y at %H:%M}" if when else ""
        what = {
            RequestStatus.CONVERTED: "converted to a patient",
            RequestStatus.SPAM: "marked as spam",
        }.get(current.status, "declined")
        raise ValidationError(f"This request was already {what} by {who}{at}. Nothing was changed.")
    return current


def _audit(actor: User, current: AppointmentRequest, detail: dict[str, object]) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient_id=current.patient_id,
        object_type="appointment_request",
        object_id=current.pk,
        detail=detail,
    )


def contact_attempt_record(
    *,
    actor: User,
    appointment_request: AppointmentRequest,
    channel: str,
    outcome: str,
    note: str = "",
) -> ContactAttempt:
    """Record one try to reach the person (phone, text or email) and its outcome; a new
    request becomes 'being contacted'."""
    _require_request(actor, appointment_request)
    with transaction.atomic():
        current = _locked_open(appointment_request)
        attempt = ContactAttempt(
            request=current, channel=channel, outcome=outcome, note=note.strip(), made_by=actor
        )
        attempt.full_clean()
        attempt.save()
        if current.status == RequestStatus.NEW:
            current.status = RequestStatus.CONTACTING
            current.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="contact_attempt",
            object_id=attempt.pk,
            detail={"request_id": current.pk, "channel": channel, "outcome": outcome},
        )
    return attempt


def request_convert(
    *,
    actor: User,
    appointment_request: AppointmentRequest,
    patient: Patient | None = None,
    new_patient: Patient | None = None,
) -> AppointmentRequest:
    """Close a request as converted: linked to an existing patient the actor may see
    (`patient`), or to a new patient registered from it (`new_patient`, an unsaved Patient;
    see patients.services.patient_register). The request is locked first, so converting
    twice registers nobody twice."""
    if (patient is None) == (new_patient is None):
        raise ValueError("Give either an existing patient or a new one.")
    _require_request(actor, appointment_request)
    if patient is not None:
        require_patient_access(actor, patient, "scheduling.requests")
    with transaction.atomic():
        current = _locked_open(appointment_request)
        if new_patient is not None:
            patient = patient_register(actor=actor, patient=new_patient)
        assert patient is not None
        current.status = RequestStatus.CONVERTED
        current.patient = patient
        current.handled_by = actor
        current.handled_at = timezone.now()
        current.save(update_fields=["status", "patient", "handled_by", "handled_at"])
        _audit(actor, current, {"status": current.status, "new_patient": new_patient is not None})
    return current


def request_decline(
    *, actor: User, appointment_request: AppointmentRequest, reason: str, spam: bool = False
) -> AppointmentRequest:
    """Close a request without a patient (e.g. out of area, not a fit, asked for no
    contact), with the reason; or as spam (nobody real asked), which needs no reason. Both
    are deleted after KETACLINIC_REQUEST_RETENTION_DAYS (requests_purge)."""
    reason = (reason or "").strip() or ("spam" if spam else "")
    if not reason:
        raise ValidationError({"reason": "Give the reason for declining this request."})
    _require_request(actor, appointment_request)
    with transaction.atomic():
        current = _locked_open(appointment_request)
        current.status = RequestStatus.SPAM if spam else RequestStatus.DECLINED
        current.decline_reason = reason[:300]
        current.handled_by = actor
        current.handled_at = timezone.now()
        current.save(update_fields=["status", "decline_reason", "handled_by", "handled_at"])
        _audit(actor, current, {"status": current.status, "reason": current.decline_reason})
    return current


PURGED_STATUSES = (RequestStatus.DECLINED, RequestStatus.SPAM)


@dataclass(frozen=True)
class RequestPurge:
    """What `requests_purge` deleted (or, as a dry run, would delete)."""

    requests: int
    contact_attempts: int
    older_than: datetime


def requests_purge(*, now: datetime | None = None, dry_run: bool = False) -> RequestPurge:
    """Delete declined and spam requests, with their contact attempts, handled more than
    KETACLINIC_REQUEST_RETENTION_DAYS ago: what a person sent who never became a patient is
    not kept for ever. One transaction and one audit entry (who: the system) naming the
    requests by id; requests that became patients, and open ones, are never touched."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.KETACLINIC_REQUEST_RETENTION_DAYS)
    with transaction.atomic():
        expired = AppointmentRequest.objects.select_for_update().filter(
            status__in=PURGED_STATUSES, handled_at__lt=cutoff
        )
        ids = list(expired.order_by("pk").values_list("pk", flat=True))
        attempts = ContactAttempt.objects.filter(request_id__in=ids)
        purge = RequestPurge(len(ids), attempts.count(), cutoff)
        if dry_run or not ids:
            return purge
        attempts.delete()
        AppointmentRequest.objects.filter(pk__in=ids).delete()
        audit_record(
            actor=None,
            action=AuditAction.PURGE,
            object_type="appointment_request",
            detail={
                "request_ids": ids,
                "contact_attempts": purge.contact_attempts,
                "retention_days": settings.KETACLINIC_REQUEST_RETENTION_DAYS,
                "handled_before": cutoff.isoformat(),
            },
        )
    return purge
