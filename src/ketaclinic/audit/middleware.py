from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from ketaclinic.audit.context import client_address, current_ip_address, current_path

# URL arguments that are secrets (single-use questionnaire tokens): never written to the log.
SECRET_URL_ARGUMENTS = ("token",)


class AuditContextMiddleware:
    """Remember who is asking from where, for the audit entries this request writes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        ip_token = current_ip_address.set(client_address(request) or None)
        path_token = current_path.set(request.get_full_path()[:300])
        try:
            return self.get_response(request)
        finally:
            current_ip_address.reset(ip_token)
            current_path.reset(path_token)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: dict[str, Any]
    ) -> None:
        """Once the URL is resolved, blank out secret arguments in the recorded path."""
        path = request.get_full_path()
        for name in SECRET_URL_ARGUMENTS:
            secret = kwargs.get(name)
            if secret:
                path = path.replace(str(secret), "[redacted]")
        current_path.set(path[:300])
