"""Writes to accounts: creating users, lifting lockouts, two-factor enrolment."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from axes.utils import reset as axes_reset
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.models import SignInFailure, User
from ketaclinic.accounts.roles import ALL_LOCATION_ROLES, Role
from ketaclinic.accounts.selectors import ADDRESS_WINDOW
from ketaclinic.audit.context import address_network
from ketaclinic.audit.models import AuditAction, AuditEntry
from ketaclinic.audit.services import audit_record

if TYPE_CHECKING:
    from django.db.models import Model

    from ketaclinic.organization.models import Location


def user_create(
    *,
    username: str,
    password: str,
    role: Role,
    first_name: str = "",
    last_name: str = "",
    title: str = "",
    email: str = "",
    locations: Iterable[Location] = (),
    # A patients.Patient: accounts sits below the patients app, which it never imports.
    patient: Model | None = None,
    check_password: bool = True,
) -> User:
    """Create an account. Staff need at least one location unless their role sees all;
    a patient account is linked to exactly one patient."""
    locations = list(locations)
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"The username {username!r} is already taken.")
    if role is Role.PATIENT and patient is None:
        raise ValidationError("A patient account needs the patient it belongs to.")
    if role is not Role.PATIENT and patient is not None:
        raise ValidationError("Only a patient account is linked to a patient.")
    if role not in ALL_LOCATION_ROLES and role is not Role.PATIENT and not locations:
        raise ValidationError(f"A {role.label.lower()} must be assigned to at least one location.")
    user = User(
        username=username,
        role=role.value,
        first_name=first_name,
        last_name=last_name,
        title=title,
        email=email,
        patient=patient,
    )
    if check_password:
        validate_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        user.full_clean(exclude=["password"])
        user.save()
        user.locations.set(locations)
    return user


def lockout_lift(*, actor: User, username: str) -> int:
    """Clear a brute-force lockout so the user can log in again (admins only)."""
    if not actor.can("accounts.manage_lockouts"):
        raise PermissionDenied("Only an administrator can lift a lockout.")
    with transaction.atomic():
        cleared = axes_reset(username=username)
        audit_record(
            actor=actor,
            action=AuditAction.LOCKOUT_LIFTED,
            object_type="user",
            object_id=username,
            detail={"attempt_records_cleared": cleared},
        )
    return cleared


def lockout_lift_on_server(*, username: str = "", address: str = "") -> tuple[int, int]:
    """Recovery that is always possible: on the server (`ketaclinic unlock`), lift an
    account's lockout and, with `address`, the per-address sign-in throttle of that
    address's network. Audited with no actor (the server's operator). Returns how many
    lockout records and address failures were cleared."""
    if not username and not address:
        raise ValidationError("Name the account to unlock, or the address to let sign in again.")
    if username and not User.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"There is no account named {username!r}.")
    with transaction.atomic():
        records = 0
        for name in set(
            User.objects.filter(username__iexact=username).values_list("username", flat=True)
        ):
            records += axes_reset(username=name)
        failures = 0
        if address:
            failures, _ = SignInFailure.objects.filter(network=address_network(address)).delete()
        audit_record(
            actor=None,
            action=AuditAction.LOCKOUT_LIFTED,
            object_type="user" if username else "address",
            object_id=username or address_network(address),
            detail={
                "via": "ketaclinic unlock",
                "attempt_records_cleared": records,
                "address": address_network(address) if address else "",
                "address_failures_cleared": failures,
            },
        )
    return records, failures


def signin_failure_record(*, address: str, username: str) -> None:
    """Count one failed sign-in against the address's network (the per-address throttle),
    and forget the failures older than a day."""
    now = timezone.now()
    with transaction.atomic():
        SignInFailure.objects.filter(failed_at__lt=now - ADDRESS_WINDOW).delete()
        SignInFailure.objects.create(
            network=address_network(address),
            username=(username or "")[:150].lower(),
            failed_at=now,
        )


def signin_failures_forgive(*, address: str, username: str) -> None:
    """Someone signed in correctly: their own earlier typos from this network no longer
    count against it (a clinic's staff share one address behind NAT). Failures for other
    accounts, a guesser's, still count."""
    SignInFailure.objects.filter(
        network=address_network(address), username=(username or "").lower()
    ).delete()


def totp_device_start(*, user: User) -> TOTPDevice:
    """An unconfirmed authenticator for the user to scan; replaces any earlier
    unconfirmed one so a half-finished enrolment cannot be used."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_device_confirm(*, device: TOTPDevice) -> None:
    """Mark an authenticator as enrolled once the user has entered a right code from it."""
    device.confirmed = True
    device.save(update_fields=["confirmed"])


SIGNATURE_ATTEMPTS = 5
SIGNATURE_LOCK_WINDOW = timedelta(minutes=15)


def signature_password_check(
    *, actor: User, password: str, patient_id: int | None, object_type: str, object_id: int
) -> None:
    """An electronic signature re-enters the signer's password. A wrong one is audited
    (SIGNATURE_REFUSED) and raises ValidationError; after SIGNATURE_ATTEMPTS wrong ones
    within SIGNATURE_LOCK_WINDOW, signing is paused for that user."""
    recent_refusals = AuditEntry.objects.filter(
        actor_id=actor.pk,
        action=AuditAction.SIGNATURE_REFUSED,
        occurred_at__gte=timezone.now() - SIGNATURE_LOCK_WINDOW,
    ).count()
    if recent_refusals >= SIGNATURE_ATTEMPTS:
        raise ValidationError(
            "Too many wrong passwords: signing is paused for 15 minutes. "
            "If this was not you, tell your administrator."
        )
    if not actor.check_password(password):
        audit_record(
            actor=actor,
            action=AuditAction.SIGNATURE_REFUSED,
            patient_id=patient_id,
            object_type=object_type,
            object_id=object_id,
            detail={"reason": "wrong password"},
        )
        raise ValidationError("The password is not right. Your signature was not recorded.")
