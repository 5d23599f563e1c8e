"""A FHIR client's view of the clinic: system clients, tokens, and validation with R4B."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from fhir.resources.R4B import get_fhir_model_class

from ketaclinic.fhir.services import client_create


def validate(resource: dict[str, Any]) -> None:
    """Parse and validate with fhir.resources' R4B model of the resource's type."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def token_for(client: Client, account: Any, scopes: list[str]) -> str:
    """Register a system client acting as `account` and take a token through the real
    token endpoint."""
    registered, secret = client_create(name="Test registry", account=account, scopes=scopes)
    response = client.post(
        "/fhir/auth/token",
        {
            "grant_type": "client_credentials",
            "client_id": registered.client_id,
            "client_secret": secret,
            "scope": " ".join(scopes),
        },
    )
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


@pytest.fixture
def fhir_get() -> Callable[..., Any]:
    """GET with a bearer token; returns (status, parsed body or None, response)."""

    def get(client: Client, url: str, token: str, **headers: str) -> tuple[int, Any, Any]:
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}", **headers)
        body = None
        if response.content and response["Content-Type"].startswith(
            ("application/fhir+json", "application/json")
        ):
            body = json.loads(response.content)
        return response.status_code, body, response

    return get
