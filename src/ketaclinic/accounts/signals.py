from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from ketaclinic.accounts.services import signin_failure_record, signin_failures_forgive
from ketaclinic.audit.context import client_address
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record


@receiver(user_logged_in)
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(actor=user, action=AuditAction.LOGIN, object_type="user", object_id=user.pk)
    if request is not None:
        signin_failures_forgive(address=client_address(request), username=user.get_username())


@receiver(user_login_failed)
def count_failure_per_address(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    """Every failed sign-in, also one refused because the account is locked, counts against
    the address it came from (accounts.selectors.signin_address_throttled)."""
    if request is not None:
        signin_failure_record(
            address=client_address(request), username=str(credentials.get("username") or "")
        )


@receiver(user_logged_out)
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(actor=user, action=AuditAction.LOGOUT, object_type="user", object_id=user.pk)
