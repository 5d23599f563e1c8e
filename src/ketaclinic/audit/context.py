"""The request's client address, carried to services without threading it through calls."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from django.conf import settings

current_ip_address: ContextVar[str | None] = ContextVar("current_ip_address", default=None)
current_path: ContextVar[str] = ContextVar("current_path", default="")


def client_address(request: Any) -> str:
    """The visitor's network address. Behind a proxy that sets a forwarding header
    (KETACLINIC_CLIENT_ADDRESS_HEADER, e.g. X-Forwarded-For), the address the proxy saw: the
    last entry, the only one the proxy itself wrote (earlier entries can be forged)."""
    header = settings.KETACLINIC_CLIENT_ADDRESS_HEADER
    if header:
        forwarded = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
        entries = [part.strip() for part in forwarded.split(",") if part.strip()]
        if entries:
            return entries[-1]
    return str(request.META.get("REMOTE_ADDR") or "")
