"""Text messages through a pluggable backend, the way Django sends email.

KETACLINIC_SMS_BACKEND names the class (a dotted path). A backend for an SMS provider is a
class with `send_messages(messages) -> int` that raises when the provider refuses a message
(docs/reminders.md shows one). The console backend (the default) prints each text; the
local-memory backend keeps them in `outbox` for tests, like django.core.mail.outbox.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsMessage:
    """One text message: `to` is the phone number as the patient record holds it."""

    to: str
    body: str


class BaseSmsBackend:
    """Subclasses send each message or raise; they return how many were sent."""

    def __init__(self, **kwargs: Any) -> None:
        self.options = kwargs

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        raise NotImplementedError("An SMS backend must define send_messages(messages).")


class ConsoleSmsBackend(BaseSmsBackend):
    """Writes each text to a stream (stdout unless given): for development and demos."""

    def __init__(self, stream: TextIO | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        with self._lock:
            for message in messages:
                self.stream.write(f"SMS to {message.to}\n{message.body}\n{'-' * 40}\n")
            self.stream.flush()
        return len(messages)


outbox: list[SmsMessage] = []
"""Texts "sent" by LocmemSmsBackend; tests empty it before each use."""


class LocmemSmsBackend(BaseSmsBackend):
    """Keeps the texts in the module-level `outbox` list instead of sending them."""

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        outbox.extend(messages)
        return len(messages)


def get_sms_backend(path: str | None = None, **kwargs: Any) -> BaseSmsBackend:
    """An instance of the configured backend (KETACLINIC_SMS_BACKEND unless `path`)."""
    path = path or settings.KETACLINIC_SMS_BACKEND
    try:
        backend_class = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"KETACLINIC_SMS_BACKEND {path!r} cannot be imported ({error}). Give the dotted "
            "path of a class with a send_messages(messages) method, e.g. "
            "'ketaclinic.scheduling.reminders.sms.ConsoleSmsBackend'."
        ) from error
    if not isinstance(backend_class, type) or not callable(
        getattr(backend_class, "send_messages", None)
    ):
        raise ImproperlyConfigured(
            f"KETACLINIC_SMS_BACKEND {path!r} is not a class with a send_messages method."
        )
    return backend_class(**kwargs)
