from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def capability_required(capability: str) -> Callable[..., Callable[..., HttpResponse]]:
    """Login required, then the role must hold `capability` (docs/roles.md), else 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.can(capability):  # type: ignore[union-attr]
                raise PermissionDenied(f"Your role may not do this ({capability}).")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
