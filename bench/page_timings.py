"""Time the registry's pages on a seeded database (not a test: numbers for docs/performance.md).

    KETACLINIC_VAR_DIR=/tmp/kc100k .venv/bin/python bench/page_timings.py [--runs 30]

Uses Django's test client in-process against the configured database, logged in as the
demo director (all locations) and the demo coordinator (one location).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from ketaclinic.accounts.models import User  # noqa: E402
from ketaclinic.patients.models import Patient  # noqa: E402


def _scheduling_pages() -> list[str]:
    """The calendars of the first location for the coming Monday, and the request queue."""
    from datetime import timedelta

    from django.utils import timezone

    from ketaclinic.organization.models import Location

    location = Location.objects.order_by("pk").first()
    today = timezone.localdate()
    monday = today + timedelta(days=7 - today.weekday())
    return [
        f"/calendar/{location.pk}/{monday:%Y-%m-%d}/",
        f"/calendar/{location.pk}/week/{monday:%Y-%m-%d}/",
        "/requests/",
        "/visit/",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    patient = Patient.objects.order_by("pk").first()
    last_name = patient.legal_last_name[:4]
    pages = [
        "/patients/",
        "/patients/?page=200",
        f"/patients/?q={last_name}",
        f"/patients/?q={patient.mrn}",
        f"/patients/?q={patient.date_of_birth:%m/%d/%Y}",
        f"/patients/{patient.pk}/",
        f"/patients/{patient.pk}/history/",
        f"/patients/{patient.pk}/access/",
        f"/patients/{patient.pk}/scores/",
        f"/api/patients/{patient.pk}/responses",
        "/director/",
        "/nurse/",
        "/coordinator/",
        "/alerts/",
        "/questionnaires/due/",
        "/api/patients",
        *_scheduling_pages(),
    ]
    print(f"{Patient.objects.count()} patients; {args.runs} runs per page")
    print(f"{'user':<12} {'page':<40} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
    for username in ("director", "coordinator", "nurse"):
        client = Client()
        client.force_login(User.objects.get(username=username))
        for url in pages:
            if client.get(url).status_code != 200:
                continue  # not this role's page (403) or its home redirect
            timings = []
            for _ in range(args.runs):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(url)
                    timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            timings.sort()
            p95 = timings[int(len(timings) * 0.95) - 1]
            print(
                f"{username:<12} {url[:40]:<40} {statistics.median(timings):>10.1f} {p95:>8.1f} "
                f"{len(queries):>8}"
            )


if __name__ == "__main__":
    main()
