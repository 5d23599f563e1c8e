"""The request's client address, carried to services without threading it through calls."""

from __future__ import annotations

from contextvars import ContextVar

current_ip_address: ContextVar[str | None] = ContextVar("current_ip_address", default=None)
current_path: ContextVar[str] = ContextVar("current_path", default="")
