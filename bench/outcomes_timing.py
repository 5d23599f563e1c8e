"""Time the outcomes page against the raw SQL aggregate of the same cohort (not a test:
numbers for docs/performance.md).

    KETACLINIC_VAR_DIR=/tmp/kc100k .venv/bin/python bench/outcomes_timing.py [--runs 10]

In one run, logged in as the demo director (every location): the outcomes page (Django
test client, real database, audit entry written as in production) and one SQL statement
that computes the summary table's counts for the same cohort (every dosed course; PHQ-9;
baseline, end of induction and weeks 4-26 by the definitions in force: due, assessed,
responders and remitters per timepoint). The SQL's counts must equal the page's, both when
the page computes everything and when it reuses what it kept.

The page keeps each patient's data and course outcomes between requests while the
patient's stamp token is unchanged (outcomes/selectors.py, outcomes/triggers.py). So three
timings are printed, each against the SQL of the same run:
- the page as a director sees it again (the acceptance figure; nothing changed since),
- after one patient's data was written (a score updated, rolled back afterwards),
- with nothing kept (the first request of a process, or after every patient changed),
- in a new process after its warm-up (`ketaclinic serve` runs it in each worker as it
  starts: selectors.outcomes_warm); the warm-up's own time is printed too.
Exits 1 when the first or the last ratio is above --limit (default 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import F  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from ketaclinic.accounts.models import User  # noqa: E402
from ketaclinic.measures.models import AssessmentResponse  # noqa: E402
from ketaclinic.outcomes.raw_sql import summary_counts_sql  # noqa: E402
from ketaclinic.outcomes.selectors import (  # noqa: E402
    CohortFilters,
    OutcomesReport,
    outcomes_cache_clear,
    outcomes_report,
    outcomes_warm,
)


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def _counts(report: OutcomesReport) -> dict[str, tuple[int, int, int, int]]:
    return {
        p.key: (p.due, p.assessed, p.response_completers.count, p.remission_completers.count)
        for p in report.summary.timepoints
    }


def _timed_page(client: Client) -> tuple[float, int]:
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/outcomes/")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    return elapsed, len(captured.captured_queries)


def _timed_sql() -> float:
    started = time.perf_counter()
    summary_counts_sql(now=timezone.now())
    return time.perf_counter() - started


def _line(label: str, page: list[float], sql: list[float], queries: int) -> float:
    ratio = statistics.median(page) / statistics.median(sql)
    print(
        f"{label:<34} page median {_median_ms(page):7.1f} ms ({queries} queries), "
        f"SQL {_median_ms(sql):6.1f} ms: ratio {ratio:.2f}"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--limit", type=float, default=2.0)
    args = parser.parse_args()
    settings.ALLOWED_HOSTS = ["*"]
    director = User.objects.get(username="director")
    for kept in (False, True):
        if not kept:
            outcomes_cache_clear()
        now = timezone.now()
        report = outcomes_report(director, CohortFilters(), now=now)
        counts = summary_counts_sql(now=now)
        if counts != _counts(report):
            which = "reused" if kept else "computed"
            print(f"the SQL aggregate disagrees with the {which} page:")
            print(f"  SQL  {counts}\n  page {_counts(report)}")
            return 1
    client = Client()
    client.force_login(director)
    client.get("/outcomes/")
    patients = report.cohort.patient_ids
    print(f"{len(report.outcomes)} courses, {len(patients)} patients; {args.runs} runs each")
    page, sql = [], []
    for _ in range(args.runs):
        elapsed, warm_queries = _timed_page(client)
        page.append(elapsed)
        sql.append(_timed_sql())
    ratio = _line("seen again (nothing changed)", page, sql, warm_queries)
    page, sql = [], []
    step = max(len(patients) // args.runs, 1)
    for run in range(args.runs):
        patient_id = patients[(run * step) % len(patients)]
        with transaction.atomic():
            AssessmentResponse.objects.filter(
                pk=AssessmentResponse.objects.filter(patient_id=patient_id)
                .order_by("-completed_at")
                .values("pk")[:1]
            ).update(total=F("total"))
            elapsed, changed_queries = _timed_page(client)
            transaction.set_rollback(True)
        page.append(elapsed)
        sql.append(_timed_sql())
    _line("after one patient's score written", page, sql, changed_queries)
    page, sql = [], []
    for _ in range(max(args.runs // 2, 1)):
        outcomes_cache_clear()
        elapsed, cold_queries = _timed_page(client)
        page.append(elapsed)
        sql.append(_timed_sql())
    _line("nothing kept (a new process)", page, sql, cold_queries)
    page, sql, warm_ups = [], [], []
    for _ in range(max(args.runs // 2, 1)):
        outcomes_cache_clear()
        started = time.perf_counter()
        outcomes_warm()
        warm_ups.append(time.perf_counter() - started)
        elapsed, first_queries = _timed_page(client)
        page.append(elapsed)
        sql.append(_timed_sql())
    first = _line("a new process after its warm-up", page, sql, first_queries)
    print(f"the warm-up itself: median {_median_ms(warm_ups):.0f} ms")
    print(f"ratio {ratio:.2f} seen again, {first:.2f} first view after the warm-up")
    print(f"(limit {args.limit:g}); counts per timepoint (due, assessed, responders, remitters):")
    print(f"  {counts}")
    return 0 if max(ratio, first) <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
