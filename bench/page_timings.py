"""Time the key pages of every role on a seeded database against a floor measured in the
same run (not a test: numbers for docs/performance.md).

    KETACLINIC_VAR_DIR=/tmp/kc1m .venv/bin/python bench/page_timings.py [--runs 30]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kc1m .venv/bin/python bench/page_timings.py

Each page is requested in-process with Django's test client against the configured
database, as a logged-in demo user, with its audit entries written as in production. The
floor is a minimal view (a logged-in user, a one-word answer) reached through the same
URL resolver and middleware (sessions, authentication, CSRF, the lockout and audit
context, security headers); it is requested alternately with each page, so that both see
the same load on a shared machine. A page's ratio is its 95th-percentile time divided by
the floor's. Pages are chosen from the data: the patient with the most sessions at the
first location (for the chart pages), that patient's latest session, the coming Monday's
calendars and the last past day with bookings. The query count is the last request's.

With --markdown, the table is printed as Markdown rows; with --explain N, the plans of
the N slowest queries seen (EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite)
follow it. Exits 1 when a page does not answer 200.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import types
from dataclasses import dataclass
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.decorators import login_required  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Count  # noqa: E402
from django.http import HttpRequest, HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402

from ketaclinic.accounts.models import User  # noqa: E402
from ketaclinic.charting.models import TreatmentSession, VitalSign  # noqa: E402
from ketaclinic.organization.models import Location  # noqa: E402
from ketaclinic.patients.models import Patient  # noqa: E402
from ketaclinic.scheduling.models import Appointment  # noqa: E402

FLOOR_URL = "/bench/floor/"


@login_required
def floor(request: HttpRequest) -> HttpResponse:
    """The least a logged-in page can do."""
    return HttpResponse("ok")


def _floor_urlconf() -> str:
    """The project's URLs with the floor view added, as a module the resolver can load."""
    module = types.ModuleType("bench_floor_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path(FLOOR_URL.strip("/") + "/", floor),
        path("", include(settings.ROOT_URLCONF)),
    ]
    sys.modules[module.__name__] = module
    return module.__name__


@dataclass
class Page:
    username: str
    what: str
    url: str


def _pages() -> list[Page]:
    """Every role's key pages, on the data in the database."""
    location = Location.objects.order_by("pk").first()
    busiest = (
        TreatmentSession.objects.filter(location=location)
        .values("patient_id")
        .annotate(sessions=Count("id"))
        .order_by("-sessions", "patient_id")
        .first()
    )
    patient = Patient.objects.get(pk=busiest["patient_id"]) if busiest else Patient.objects.first()
    session = TreatmentSession.objects.filter(patient=patient).order_by("-scheduled_at").first()
    today = timezone.localdate(timezone=location.tz)
    monday = today + timedelta(days=7 - today.weekday())
    past = (
        Appointment.objects.filter(location=location, starts_at__lt=timezone.now())
        .order_by("-starts_at")
        .values_list("starts_at", flat=True)
        .first()
    )
    past_day = timezone.localtime(past, location.tz).date() if past else today
    chart = f"/patients/{patient.pk}"
    name = patient.legal_last_name[:4]
    pages = [
        Page("director", "patient list, page 1", "/patients/"),
        Page("director", "patient list, page 200", "/patients/?page=200"),
        Page("director", "search by name prefix", f"/patients/?q={name}"),
        Page("director", "search by MRN", f"/patients/?q={patient.mrn}"),
        Page("director", "search by birth date", f"/patients/?q={patient.date_of_birth:%m/%d/%Y}"),
        Page("director", "chart overview", f"{chart}/"),
        Page("director", "chart scores", f"{chart}/scores/"),
        Page("director", "chart access history", f"{chart}/access/"),
        Page("director", "treatment tab (courses)", f"{chart}/treatment/"),
        Page("director", "sessions tab", f"{chart}/sessions/"),
        Page("director", "patient outcomes", f"{chart}/outcomes/"),
        Page("director", "home", "/director/"),
        Page("director", "safety-alert worklist", "/alerts/"),
        Page("director", "REMS forms worklist", "/rems/"),
        Page("director", "REMS forms pending", "/rems/?status=pending"),
        Page("director", "REMS forms overdue", "/rems/?status=overdue"),
        Page("director", "REMS forms submitted", "/rems/?status=submitted"),
        Page("director", "outcomes (all locations)", "/outcomes/"),
        Page("director", "outcomes: measurement gaps", "/outcomes/gaps/"),
        Page("director", "register dashboard", "/register/"),
        Page("director", "register entries", "/register/entries/"),
        Page("director", "register: inspector overview", "/register/inspection/"),
        Page("director", "report: inventory", "/register/reports/inventory/"),
        Page("director", "report: dispensing (30 days)", "/register/reports/dispensing/"),
        Page("director", "report: waste", "/register/reports/waste/"),
        Page("director", "report: discrepancies", "/register/reports/discrepancies/"),
        Page("director", "report: biennial inventory", "/register/reports/biennial/"),
        Page("director", "report: expiring stock", "/register/reports/expiring/"),
        Page("director", "FHIR exports", "/exports/"),
        Page("coordinator", "home", "/coordinator/"),
        Page("coordinator", "patient list, page 1", "/patients/"),
        Page("coordinator", "search by name prefix", f"/patients/?q={name}"),
        Page("coordinator", "calendar day, coming Monday", f"/calendar/{location.pk}/{monday}/"),
        Page(
            "coordinator",
            "calendar week, coming Monday",
            f"/calendar/{location.pk}/week/{monday}/",
        ),
        Page("coordinator", "calendar day, a past day", f"/calendar/{location.pk}/{past_day}/"),
        Page("coordinator", "appointment requests", "/requests/"),
        Page("coordinator", "questionnaires due", "/questionnaires/due/"),
        Page("nurse", "home", "/nurse/"),
        Page("nurse", "chair board", "/board/"),
        Page("nurse", "safety-alert worklist", "/alerts/"),
        Page("nurse", "chart scores", f"{chart}/scores/"),
        Page("nurse", "sessions tab", f"{chart}/sessions/"),
        Page("nurse", "REMS forms worklist", "/rems/"),
        Page("prescriber", "home", "/prescriber/"),
        Page("prescriber", "chart overview", f"{chart}/"),
        Page("admin", "home", "/administration/"),
        Page("patient", "portal home (phone)", "/portal/"),
        Page("anyone", "public visit page", "/visit/"),
    ]
    if session is not None:
        pages.insert(10, Page("director", "session chart", f"{chart}/sessions/{session.pk}/"))
        pages.insert(-5, Page("nurse", "session chart", f"{chart}/sessions/{session.pk}/"))
    return pages


def _p95(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[math.ceil(len(ordered) * 0.95) - 1]


SLOWEST: list[tuple[float, str, str]] = []  # (seconds, page, sql) of every query timed


def _timed(client: Client, url: str, what: str = "") -> tuple[float, int, int]:
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
    if what:
        SLOWEST.extend((float(q["time"]), what, q["sql"]) for q in queries.captured_queries)
    return elapsed, response.status_code, len(queries)


def _explain(count: int) -> None:
    """The plans of the `count` slowest distinct SELECTs seen."""
    seen: set[str] = set()
    for seconds, what, sql in sorted(SLOWEST, reverse=True):
        if len(seen) >= count:
            break
        if not sql.lstrip().upper().startswith("SELECT") or sql in seen:
            continue
        seen.add(sql)
        prefix = "EXPLAIN ANALYZE " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql)
            plan = [" ".join(str(v) for v in row) for row in cursor.fetchall()]
        print(f"\n-- {what}: {seconds * 1000:.1f} ms\n{sql[:1500]}")
        print("\n".join(plan))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="Requests per page (default 30).")
    parser.add_argument("--markdown", action="store_true", help="Print Markdown table rows.")
    parser.add_argument(
        "--explain", type=int, default=0, help="Print the plans of the N slowest queries."
    )
    parser.add_argument(
        "--only",
        default="",
        help="Time only the pages whose name contains this text (e.g. --only REMS).",
    )
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    sessions = TreatmentSession.objects.count()
    print(
        f"{connection.vendor}: {Patient.objects.count()} patients, {sessions} sessions, "
        f"{VitalSign.objects.count()} vital-sign readings, "
        f"{Location.objects.count()} locations; {args.runs} runs per page and floor"
    )
    failed = 0
    rows = []
    with override_settings(ROOT_URLCONF=_floor_urlconf()):
        clients: dict[str, Client] = {}
        for page in _pages():
            if args.only.lower() not in page.what.lower():
                continue
            for username in (page.username, "director"):  # the floor's user is the director
                if username not in clients:
                    clients[username] = Client()
                    if username != "anyone":
                        clients[username].force_login(User.objects.get(username=username))
            client = clients[page.username]
            floor_client = clients["director"]
            status = client.get(page.url).status_code  # warm caches and templates
            if status != 200:
                print(f"{page.username} {page.url}: answered {status}")
                failed += 1
                continue
            page_ms, floor_ms = [], []
            queries = 0
            for _ in range(args.runs):
                elapsed, status, queries = _timed(client, page.url, f"{page.username} {page.what}")
                page_ms.append(elapsed)
                floor_ms.append(_timed(floor_client, FLOOR_URL)[0])
            ratio = _p95(page_ms) / _p95(floor_ms)
            rows.append((page, _p95(page_ms), _p95(floor_ms), ratio, queries))
    if args.markdown:
        print("| user | page | p95 ms | floor p95 ms | ratio | queries |")
        print("|---|---|---|---|---|---|")
        for page, p95, floor_p95, ratio, queries in rows:
            print(
                f"| {page.username} | {page.what} | {p95:.1f} | {floor_p95:.1f} | "
                f"{ratio:.1f} | {queries} |"
            )
    else:
        print(f"{'user':<12} {'page':<34} {'p95 ms':>8} {'floor':>7} {'ratio':>6} {'queries':>8}")
        for page, p95, floor_p95, ratio, queries in rows:
            print(
                f"{page.username:<12} {page.what[:34]:<34} {p95:>8.1f} {floor_p95:>7.1f} "
                f"{ratio:>6.1f} {queries:>8}"
            )
    _explain(args.explain)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
