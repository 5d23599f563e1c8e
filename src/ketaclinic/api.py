"""The JSON API (django-ninja): OpenAPI schema at /api/openapi.json, docs at /api/docs.

The schema documents every status the API really returns, with its body, so that a client
(and schemathesis in CI, tests/test_api_fuzz.py) meets no undocumented response:

- 400 the request cannot be read (a body that is not JSON, text with a NUL character) or
  the clinic's rules refuse what was sent;
- 401 not signed in;
- 403 signed in, but the role may not do this (or a write without its CSRF token);
- 404 no such record, or not one the caller may see;
- 422 a parameter or body field of the wrong type or shape.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI
from ninja.openapi.schema import OpenAPISchema
from ninja.security import django_auth

from ketaclinic.measures.api import router as measures_router
from ketaclinic.patients.api import router as patients_router

ERROR = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"title": "Detail", "type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERROR = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "detail": {
            "title": "Detail",
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                },
                "required": ["type", "loc", "msg"],
            },
        }
    },
    "required": ["detail"],
}
ERRORS = {
    "400": ("The request cannot be read, or the clinic's rules refuse it", "Error"),
    "401": ("Not signed in", "Error"),
    "403": ("The caller's role may not do this, or a write came without its CSRF token", "Error"),
    "404": ("No such record, or not one the caller may see", "Error"),
    "422": ("A parameter or a body field has the wrong type or shape", "ValidationError"),
}
NUL_REFUSED = "Text with a NUL character (\\u0000) cannot be stored or searched for."


def _has_nul(request: HttpRequest) -> bool:
    if any("\x00" in value for values in request.GET.lists() for value in values[1]):
        return True
    if "\x00" in request.path:
        return True
    body = request.body if request.method in {"POST", "PUT", "PATCH"} else b""
    return b"\x00" in body or b"\\u0000" in body


def _refusing_nul(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """PostgreSQL cannot store or compare text holding NUL: refuse it with a 400 up front,
    the same on both databases, rather than fail inside a query."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _has_nul(request):
            return JsonResponse({"detail": NUL_REFUSED}, status=400)
        return view(request, *args, **kwargs)

    return wrapped


class ClinicAPI(NinjaAPI):
    """django-ninja with every error status documented and NUL characters refused."""

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: dict[str, Any] | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.setdefault("Error", ERROR)
        components.setdefault("ValidationError", VALIDATION_ERROR)
        for operations in schema["paths"].values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, (description, body) in ERRORS.items():
                    responses.setdefault(
                        status,
                        {
                            "description": description,
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": f"#/components/schemas/{body}"}
                                }
                            },
                        },
                    )
        return schema

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        urls = super()._get_urls()
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = _refusing_nul(pattern.callback)
        return urls


api = ClinicAPI(title="ketaclinic API", version="1", auth=django_auth, urls_namespace="api")
api.add_router("/", patients_router)
api.add_router("/", measures_router)


@api.exception_handler(PermissionDenied)
def permission_denied(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc) or "Forbidden"}, status=403)


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return api.create_response(request, {"detail": "Not found"}, status=404)
