import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from ketaclinic.audit.models import AuditEntry
from ketaclinic.conftest import PASSWORD

LOGIN = "/accounts/login/"


def _login(client: Client, username: str, password: str = PASSWORD) -> Any:
    return client.post(LOGIN, {"username": username, "password": password})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "home"),
    [("coordinator", "/coordinator/"), ("nurse", "/nurse/"), ("prescriber", "/prescriber/"),
     ("director", "/director/"), ("admin", "/administration/"), ("therapist", "/therapist/"),
     ("patient_user", "/portal/")],
)  # fmt: skip
def test_each_role_lands_on_its_home(
    client: Client, clinic: dict[str, Any], role: str, home: str
) -> None:
    response = _login(client, clinic[role].username)
    assert response.status_code == 302
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == home
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_role_cannot_open_another_roles_home(client: Client, clinic: dict[str, Any]) -> None:
    client.force_login(clinic["nurse"])
    assert client.get("/director/").url == "/nurse/"
    assert client.get("/administration/users/").status_code == 403


@pytest.mark.django_db
def test_six_failures_lock_the_account_and_an_admin_lifts_it(
    client: Client, clinic: dict[str, Any]
) -> None:
    nurse = clinic["nurse"].username
    for _ in range(6):
        _login(client, nurse, "wrong-password")
    locked = _login(client, nurse)  # even the right password is refused now
    assert locked.status_code == 429
    assert b"locked" in locked.content
    assert "_auth_user_id" not in client.session

    admin = Client()
    admin.force_login(clinic["admin"])
    page = admin.get("/administration/lockouts/")
    assert nurse in page.content.decode()
    assert "Locked" in admin.get("/administration/users/").content.decode()

    # Lifting needs the confirmation box; without it nothing changes.
    admin.post("/administration/lockouts/lift/", {"username": nurse})
    assert _login(Client(), nurse).status_code == 429
    admin.post("/administration/lockouts/lift/", {"username": nurse, "confirm": "on"})
    assert b"Nobody is locked out" in admin.get("/administration/lockouts/").content
    assert _login(client, nurse).status_code == 302
    assert AuditEntry.objects.filter(action="lockout_lifted", object_id=nurse).exists()


@pytest.mark.django_db
def test_only_admins_see_or_lift_lockouts(client: Client, clinic: dict[str, Any]) -> None:
    client.force_login(clinic["director"])
    assert client.get("/administration/lockouts/").status_code == 403
    assert (
        client.post(
            "/administration/lockouts/lift/", {"username": "x", "confirm": "on"}
        ).status_code
        == 403
    )


@pytest.mark.django_db
def test_staff_must_pass_totp_when_required(
    client: Client, clinic: dict[str, Any], settings: Any
) -> None:
    settings.KETACLINIC_REQUIRE_STAFF_2FA = True
    _login(client, clinic["nurse"].username)
    assert client.get("/patients/").url == "/accounts/2fa/"
    assert b"Turn on two-factor" in client.get("/accounts/2fa/").content
    device = TOTPDevice.objects.get(user=clinic["nurse"], confirmed=False)
    token = f"{TOTP(device.bin_key, device.step, device.t0, device.digits).token():06d}"
    wrong = f"{(int(token) + 1) % 1_000_000:06d}"
    assert b"not right" in client.post("/accounts/2fa/", {"token": wrong}).content
    # django-otp throttles after a wrong code; the page says so instead of failing silently.
    assert b"Too many wrong codes" in client.post("/accounts/2fa/", {"token": token}).content
    device.refresh_from_db()
    device.throttle_reset()
    assert client.post("/accounts/2fa/", {"token": token}).status_code == 302
    assert client.get("/patients/").status_code == 200

    # A later login asks for the code again.
    client.logout()
    _login(client, clinic["nurse"].username)
    assert client.get("/patients/").url == "/accounts/2fa/"
    assert b"Enter your code" in client.get("/accounts/2fa/").content


@pytest.mark.django_db
def test_patients_are_not_asked_for_totp(
    client: Client, clinic: dict[str, Any], settings: Any
) -> None:
    settings.KETACLINIC_REQUIRE_STAFF_2FA = True
    _login(client, clinic["patient_user"].username)
    assert client.get("/portal/").status_code == 200


@pytest.mark.django_db
def test_idle_sessions_expire(client: Client, clinic: dict[str, Any], settings: Any) -> None:
    assert settings.SESSION_COOKIE_AGE == 15 * 60
    _login(client, clinic["nurse"].username)
    assert client.get("/patients/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/patients/")
    assert response.status_code == 302 and response.url.startswith(LOGIN)


@pytest.mark.django_db
def test_login_without_csrf_token_is_refused(clinic: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN, {"username": clinic["nurse"].username, "password": PASSWORD})
    assert response.status_code == 403


@pytest.mark.django_db
def test_secure_headers_and_content_security_policy(client: Client, clinic: dict[str, Any]) -> None:
    response = client.get(LOGIN)
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_templates_have_no_inline_script_style_or_handlers() -> None:
    """The CSP forbids inline code, so none may creep into a template."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for template in root.rglob("templates/**/*.html"):
        text = template.read_text()
        for match in re.finditer(r"<script\b[^>]*>", text):
            if "src=" not in match.group(0):
                offenders.append(f"{template.name}: inline <script>")
        if re.search(r"\sstyle=\"", text):
            offenders.append(f"{template.name}: style attribute")
        if re.search(r"\son[a-z]+=\"", text):
            offenders.append(f"{template.name}: inline event handler")
    assert offenders == []


@pytest.mark.django_db
def test_logins_are_audited(client: Client, clinic: dict[str, Any]) -> None:
    _login(client, clinic["nurse"].username)
    entry = AuditEntry.objects.filter(action="login").last()
    assert entry.actor_username == clinic["nurse"].username
    assert entry.ip_address == "127.0.0.1"
