from __future__ import annotations

import base64
from io import BytesIO

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.forms import LiftLockoutForm, LoginForm, TokenForm
from ketaclinic.accounts.selectors import (
    LOCATION_SESSION_KEY,
    locations_for,
    locked_out_attempts,
    signin_address_throttled,
    staff_users,
)
from ketaclinic.accounts.services import lockout_lift, totp_device_confirm, totp_device_start
from ketaclinic.audit.context import client_address


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        """An address that made too many failed sign-ins today is turned away before any
        password is checked, so its guesses no longer count against anyone's account."""
        if signin_address_throttled(client_address(request)):
            return render(
                request,
                "accounts/throttled.html",
                {"limit": settings.KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY},
                status=429,
            )
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        cool_off = settings.AXES_COOLOFF_TIME
        context["failure_limit"] = settings.AXES_FAILURE_LIMIT
        context["cooloff_minutes"] = int(cool_off.total_seconds() // 60) if cool_off else 0
        return context


@require_POST
@capability_required("patient.search")
def location_switch(request: HttpRequest) -> HttpResponse:
    """Choose which of the user's locations lists show ('' = all of them)."""
    chosen = request.POST.get("location_id", "")
    allowed = {str(pk) for pk in locations_for(request.user).values_list("pk", flat=True)}
    if chosen in allowed:
        request.session[LOCATION_SESSION_KEY] = int(chosen)
    else:
        request.session.pop(LOCATION_SESSION_KEY, None)
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = settings.LOGIN_REDIRECT_URL
    return redirect(next_url)


@capability_required("accounts.manage_lockouts")
def lockouts(request: HttpRequest) -> HttpResponse:
    page = Paginator(locked_out_attempts(), 25).get_page(request.GET.get("page"))
    return render(request, "accounts/lockouts.html", {"page": page})


@require_POST
@capability_required("accounts.manage_lockouts")
def lockout_lift_view(request: HttpRequest) -> HttpResponse:
    form = LiftLockoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Tick the confirmation box to unlock the account.")
        return redirect("accounts:lockouts")
    username = form.cleaned_data["username"]
    lockout_lift(actor=request.user, username=username)
    messages.success(request, f"The account {username!r} is unlocked and can log in again.")
    return redirect("accounts:lockouts")


@capability_required("accounts.manage_users")
def users(request: HttpRequest) -> HttpResponse:
    page = Paginator(staff_users(), 50).get_page(request.GET.get("page"))
    locked = set(locked_out_attempts().values_list("username", flat=True))
    return render(request, "accounts/users.html", {"page": page, "locked": locked})


def _token_refusal(device: TOTPDevice, token: str, wrong: str) -> str | None:
    """None when the code is right; otherwise why not. django-otp throttles after wrong
    codes, and the user is told so rather than seeing every code refused."""
    allowed, _details = device.verify_is_allowed()
    if not allowed:
        return "Too many wrong codes. Wait a minute, then enter the newest code."
    return None if device.verify_token(token) else wrong


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = BytesIO()
    image.save(buffer)
    svg = buffer.getvalue().decode()
    return svg[svg.index("<svg") :]  # drop the XML declaration: this goes inside HTML


@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app (first time) or enter today's code (later logins)."""
    user = request.user
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    form = TokenForm(request.POST or None)
    if confirmed is not None:
        if request.method == "POST" and form.is_valid():
            refusal = _token_refusal(
                confirmed,
                form.cleaned_data["token"],
                "That code is not right. Codes change every 30 seconds.",
            )
            if refusal is None:
                otp_login(request, confirmed)
                return redirect(settings.LOGIN_REDIRECT_URL)
            form.add_error("token", refusal)
        return render(request, "accounts/two_factor_verify.html", {"form": form})

    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None or request.method == "GET":
        device = totp_device_start(user=user)
    if request.method == "POST" and form.is_valid():
        refusal = _token_refusal(
            device,
            form.cleaned_data["token"],
            "That code is not right. Check the app shows 'ketaclinic'.",
        )
        if refusal is None:
            totp_device_confirm(device=device)
            otp_login(request, device)
            messages.success(request, "Two-factor sign-in is on for your account.")
            return redirect(settings.LOGIN_REDIRECT_URL)
        form.add_error("token", refusal)
    secret = base64.b32encode(device.bin_key).decode()
    return render(
        request,
        "accounts/two_factor_setup.html",
        {"form": form, "qr_svg": _qr_svg(device.config_url), "secret": secret},
    )
