"""Who is calling the FHIR API: a system client with a bearer token, or a signed-in user.

System clients use OAuth2 client credentials (RFC 6749 section 4.4) at `/fhir/auth/token`,
in the style of SMART Backend Services (SMART App Launch 2.2.0): a registered client asks
for `system/` scopes and gets a short-lived bearer token. SMART asks for an asymmetric JWT
client assertion; ketaclinic takes a client secret (HTTP Basic or form fields) instead, as
the OAuth2 baseline does (docs/fhir.md says what that changes).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.fhir.models import AccessToken, SystemClient

TOKEN_LIFETIME = timedelta(minutes=5)  # SMART Backend Services: 5 minutes is recommended
SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(read|[cruds]+)$")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AuthError(Exception):
    """Why a caller is refused; `status` is 401 (who are you?) or 403 (not this)."""

    def __init__(self, message: str, status: int = 401, code: str = "login") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class Caller:
    """The account the reads are done as, and what the token lets it read (None: a signed-in
    user, limited by the role alone)."""

    user: User
    scopes: frozenset[str] | None
    client: SystemClient | None = None

    def may(self, resource_type: str, interaction: str) -> bool:
        """interaction: "r" (read) or "s" (search)."""
        if self.scopes is None:
            return True
        for scope in self.scopes:
            match = SCOPE.match(scope)
            if not match or match.group(1) not in {"*", resource_type}:
                continue
            if match.group(2) == "read" or interaction in match.group(2):
                return True
        return False


def scopes_valid(scopes: list[str]) -> list[str]:
    """The scopes that are not `system/<Type>.read` (or SMART v2 `.rs`)."""
    return [scope for scope in scopes if not SCOPE.match(scope)]


def client_authenticate(client_id: str, secret: str) -> SystemClient | None:
    client = (
        SystemClient.objects.select_related("account")
        .filter(client_id=client_id, is_active=True)
        .first()
    )
    if client is None:
        hmac.compare_digest(digest(secret), digest(""))  # the same work whether or not it exists
        return None
    if not hmac.compare_digest(client.secret_digest, digest(secret)):
        return None
    return client


def token_issue(client: SystemClient, requested: list[str]) -> tuple[str, AccessToken]:
    """A new bearer token for the scopes asked for, each one the client may have."""
    allowed = set(client.scopes)
    refused = [scope for scope in requested if scope not in allowed]
    if refused:
        raise AuthError(f"Scope not granted to this client: {' '.join(refused)}", 400, "forbidden")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    row = AccessToken.objects.create(
        client=client,
        token_digest=digest(token),
        scopes=requested or sorted(allowed),
        issued_at=now,
        expires_at=now + TOKEN_LIFETIME,
    )
    return token, row


def caller_of(request: HttpRequest) -> Caller:
    """The caller, or AuthError. A bearer token wins over a session cookie."""
    header = request.headers.get("Authorization", "")
    if header:
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise AuthError("Send a bearer token: Authorization: Bearer <token>.")
        row = (
            AccessToken.objects.select_related("client__account")
            .filter(token_digest=digest(token.strip()))
            .first()
        )
        if row is None or row.expires_at <= timezone.now() or not row.client.is_active:
            raise AuthError("The access token is not valid or has expired; ask for a new one.")
        account = row.client.account
        if not account.is_active:
            raise AuthError("The client's account is disabled.", 403, "forbidden")
        return Caller(account, frozenset(row.scopes), row.client)
    user = request.user
    if user.is_authenticated and user.is_active and user.is_clinic_staff:
        return Caller(user, None)
    if user.is_authenticated:
        raise AuthError("Patient accounts read their record in the portal.", 403, "forbidden")
    raise AuthError("Sign in, or send a bearer token from /fhir/auth/token.")
