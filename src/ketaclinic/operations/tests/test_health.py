"""`/healthz` for the proxy and monitoring: 200 when this process can serve, 503 saying what
is wrong when it cannot; no login, nothing audited, never cached, reachable over plain HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from ketaclinic.audit.models import AuditEntry

PROBE = """
import django, json
django.setup()
from django.test import Client
response = Client().get("/healthz", HTTP_HOST="localhost")
print(json.dumps({"status": response.status_code, "body": response.json()}))
"""


def _probe(var_dir: Path, database_url: str | None = None) -> dict[str, Any]:
    """Ask /healthz in a process of its own, set up with this database."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KETACLINIC_ENV"}}
    env.update(
        {"KETACLINIC_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "ketaclinic.settings"}
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
def test_healthz_answers_ok_without_login_audit_or_cache(client: Client) -> None:
    before = AuditEntry.objects.count()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}
    assert "no-store" in response["Cache-Control"]
    assert "sessionid" not in response.cookies
    assert AuditEntry.objects.count() == before
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_healthz_is_not_redirected_to_https(client: Client, settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/accounts/login/").status_code == 301
    assert client.get("/healthz").status_code == 200


def test_healthz_says_503_on_a_database_never_migrated(tmp_path: Path) -> None:
    answer = _probe(tmp_path)
    assert answer["status"] == 503
    assert answer["body"]["status"] == "unavailable"
    assert "run `ketaclinic migrate`" in answer["body"]["checks"]["migrations"]


def test_healthz_says_503_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    answer = _probe(tmp_path, "postgres://nobody@127.0.0.1:1/ketaclinic")
    assert answer["status"] == 503
    assert answer["body"]["checks"]["database"].startswith("cannot reach the database")
