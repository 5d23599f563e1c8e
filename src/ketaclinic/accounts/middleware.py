from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django_otp.plugins.otp_totp.models import TOTPDevice

OPEN_PREFIXES = ("/accounts/2fa/", "/accounts/logout/", "/static/")


def two_factor_required(user: object) -> bool:
    """Staff must pass TOTP when the clinic requires it, or once they have enrolled."""
    if not getattr(user, "is_clinic_staff", False):
        return False
    if settings.KETACLINIC_REQUIRE_STAFF_2FA:
        return True
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


class StaffTwoFactorMiddleware:
    """Send staff who have not passed their second factor to enrol or verify it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(OPEN_PREFIXES)
            and not user.is_verified()  # type: ignore[union-attr]
            and two_factor_required(user)
        ):
            return redirect("accounts:two_factor")
        return self.get_response(request)
