"""Time saving a vital-signs reading on an in-progress session (not a test: numbers for
docs/performance.md).

    .venv/bin/python bench/session_vitals.py [--readings 200] [--limit-ms 100]
    KETACLINIC_VAR_DIR=<folder> .venv/bin/python bench/session_vitals.py --existing

Acceptance: saving a reading answers within 100 ms at the 95th percentile on the demo data.
By default the demo clinic is seeded into a fresh SQLite database in a temporary folder
(deleted afterwards). With --existing the configured database is used as it is
(KETACLINIC_VAR_DIR or DATABASE_URL, already seeded with the demo); the readings are then
added to one of its sessions, so use a copy.

The session is today's first in-progress session at the nurse's location (dosing if there
is one), from the chair board. A demo nurse logs in through the real login form with
django.test.Client, then every reading is POSTed to the chart's htmx endpoint
(`HX-Request: true`), which saves it, re-evaluates the alerts over the whole session and
returns the re-rendered live panel: the request a nurse's Save makes. Each request is
timed in-process (no network). Exits 1 when the 95th percentile is above --limit-ms or a
reading was refused.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

DEFAULT_READINGS = 200
DEFAULT_LIMIT_MS = 100.0
DEFAULT_PATIENTS = 60


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--readings",
        type=int,
        default=DEFAULT_READINGS,
        help=f"readings to save and time (default {DEFAULT_READINGS})",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=5,
        help="readings saved first and not timed (default 5)",
    )
    parser.add_argument(
        "--limit-ms",
        type=float,
        default=DEFAULT_LIMIT_MS,
        help=f"fail when the 95th percentile is above this (default {DEFAULT_LIMIT_MS:g} ms)",
    )
    parser.add_argument(
        "--patients",
        type=int,
        default=DEFAULT_PATIENTS,
        help=f"patients in the freshly seeded demo (default {DEFAULT_PATIENTS})",
    )
    parser.add_argument(
        "--existing",
        action="store_true",
        help="use the configured database, already seeded, instead of a fresh demo",
    )
    parser.add_argument(
        "--username",
        default="nurse",
        help="the demo nurse who logs in (default 'nurse', Salt Lake City)",
    )
    args = parser.parse_args()
    if args.readings < 1 or args.warmup < 0 or args.patients < 12:
        parser.error("--readings must be at least 1, --warmup 0 or more, --patients 12 or more")
    return args


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def main() -> int:
    args = _arguments()
    workdir = None
    if not args.existing:
        workdir = tempfile.mkdtemp(prefix="ketaclinic-bench-")
        os.environ["KETACLINIC_VAR_DIR"] = workdir
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
    try:
        return _run(args)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace) -> int:
    import django

    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from ketaclinic.accounts.models import User
    from ketaclinic.charting.models import SessionStatus
    from ketaclinic.charting.selectors import board_rows
    from ketaclinic.operations.demo import seed_demo
    from ketaclinic.operations.demo_constants import DEMO_PASSWORD

    settings.ALLOWED_HOSTS = ["*"]
    if args.existing:
        source = f"existing database ({connection.settings_dict['NAME']})"
    else:
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        seed_demo(patients=args.patients)
        source = (
            f"fresh demo, {args.patients} patients, seeded in "
            f"{time.perf_counter() - started:.1f} s ({connection.vendor})"
        )

    nurse = User.objects.filter(username=args.username, is_active=True).first()
    if nurse is None or not nurse.can("sessions.record"):
        print(f"No active user {args.username!r} who may chart sessions.", file=sys.stderr)
        return 2
    session = None
    now = timezone.now()
    for location in nurse.locations.order_by("pk"):
        rows = board_rows(location, timezone.localdate(now, timezone=location.tz), now)
        open_sessions = [r.session for r in rows if r.session is not None and r.session.is_open]
        open_sessions.sort(key=lambda s: s.status != SessionStatus.DOSING)
        if open_sessions:
            session = open_sessions[0]
            break
    if session is None:
        print("No session in progress on today's board at the nurse's locations.", file=sys.stderr)
        return 2

    client = Client()
    login = client.post("/accounts/login/", {"username": nurse.username, "password": DEMO_PASSWORD})
    if login.status_code != 302:
        print(f"The nurse could not log in (status {login.status_code}).", file=sys.stderr)
        return 2
    url = f"/patients/{session.patient_id}/sessions/{session.pk}/vitals/"
    rng = random.Random(20261121)
    timings: list[float] = []
    query_counts: list[int] = []
    refused: list[str] = []
    executed = [0]

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        executed[0] += 1
        return execute(sql, params, many, context)

    for index in range(args.warmup + args.readings):
        systolic = rng.randint(118, 138)
        reading = {
            "systolic": systolic,
            "diastolic": systolic - rng.randint(40, 50),
            "heart_rate": rng.randint(66, 86),
            "spo2": rng.randint(96, 99),
            "respiratory_rate": rng.randint(12, 18),
        }
        executed[0] = 0
        with connection.execute_wrapper(count):
            started = time.perf_counter()
            response = client.post(url, reading, headers={"HX-Request": "true"})
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or response.headers.get("HX-Trigger") != "vitalsSaved":
            refused.append(f"reading {index + 1}: status {response.status_code}")
            continue
        if index >= args.warmup:
            timings.append(elapsed)
            query_counts.append(executed[0])
    session.refresh_from_db()

    print(f"Database: {source}")
    print(
        f"Session {session.pk} ({session.get_status_display().lower()}, chair {session.chair}, "
        f"{session.location.short_name}); nurse {nurse.username!r}; "
        f"POST {url} with HX-Request: true; {args.warmup} warm-up readings not timed"
    )
    if not timings:
        print("No reading was saved.", file=sys.stderr)
        return 1
    p95 = _percentile(timings, 0.95)
    print(
        f"count {len(timings)}  median {statistics.median(timings):.1f} ms  "
        f"p95 {p95:.1f} ms  max {max(timings):.1f} ms"
    )
    tenth = max(1, len(timings) // 10)
    print(
        f"queries per request {min(query_counts)}-{max(query_counts)}; median of the first "
        f"{tenth} {statistics.median(timings[:tenth]):.1f} ms, of the last {tenth} "
        f"{statistics.median(timings[-tenth:]):.1f} ms (the session ends with "
        f"{session.vital_signs.count()} readings, each save re-renders them all)"
    )
    failed = False
    if refused:
        print(f"{len(refused)} readings refused: " + "; ".join(refused[:5]), file=sys.stderr)
        failed = True
    if p95 > args.limit_ms:
        print(f"FAIL: p95 {p95:.1f} ms is above the limit of {args.limit_ms:g} ms.")
        failed = True
    else:
        print(f"OK: p95 {p95:.1f} ms is within the limit of {args.limit_ms:g} ms.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
