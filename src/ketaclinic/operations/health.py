"""`/healthz`: whether this app process can serve, for the TLS proxy and monitoring.

No login, no session, nothing recorded in the audit log (there is no patient data in it),
never cached, and exempt from the HTTPS redirect so that a proxy can poll it over plain HTTP
on the private network. 200 with {"status": "ok"} when the database answers and has every
migration applied; 503 with what is wrong otherwise.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from ketaclinic.operations.maintenance import database_unmigrated

# Once a process has seen every migration applied it stops asking: reading the migration
# files on every poll would cost more than the answer is worth.
_migrated = {"seen": False}


def health_checks() -> dict[str, str]:
    """Each check's result: "ok", or one line saying what is wrong."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as error:  # any driver error means this process cannot serve
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        checks["database"] = f"cannot reach the database ({first})"
        checks["migrations"] = "unknown"
        return checks
    if _migrated["seen"]:
        checks["migrations"] = "ok"
        return checks
    try:
        pending = database_unmigrated()
    except DatabaseError as error:
        checks["migrations"] = f"cannot read the applied migrations ({error})"
        return checks
    if pending:
        checks["migrations"] = f"{len(pending)} migration(s) not applied: run `ketaclinic migrate`"
    else:
        _migrated["seen"] = True
        checks["migrations"] = "ok"
    return checks


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = health_checks()
    healthy = all(result == "ok" for result in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return JsonResponse(body, status=200 if healthy else 503)
