"""The demo clinic at any moment: seeded under a pinned clock at every instant below, it
completes, both hash chains verify, today's chair board has a patient in each phase, and
every demo account's landing pages answer.

The instants: every 3 hours across one week (local night, morning, afternoon and evening,
each weekday), both 2027 daylight-saving changes in America/Denver and America/Los_Angeles
(in the gap, in the repeated hour and later that day), US federal holidays, a Saturday and
a Sunday, the last half hour of a year in both zones and 29 February 2028. Each instant
seeds a small demo inside the test's transaction (about 1.5 s).

`make test` sweeps every instant but the week's other six days (one weekday every 3 hours,
Saturday and Sunday included among the named days); with KETACLINIC_CLOCK_SWEEP=full the
whole week is swept too, as `.ci/run` does on SQLite and PostgreSQL (docs/testing.md).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from django.test import Client
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.audit.services import audit_verify_chain
from ketaclinic.charting.models import TreatmentSession, VitalSign
from ketaclinic.charting.selectors import board_rows
from ketaclinic.measures.models import AssessmentResponse
from ketaclinic.operations.demo import DEMO_ACCOUNTS, seed_demo
from ketaclinic.organization.models import Location
from ketaclinic.register.models import LedgerEntry
from ketaclinic.register.services import ledger_verify
from ketaclinic.scheduling.models import Appointment
from ketaclinic.treatment.models import PlannedSession

DENVER = ZoneInfo("America/Denver")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
# The smallest demo with three IV courses and an esketamine course at Salt Lake City.
SWEEP_PATIENTS = 18


FULL_SWEEP = os.environ.get("KETACLINIC_CLOCK_SWEEP", "").strip().lower() == "full"


def _week_every_three_hours(days: int) -> list[tuple[str, datetime]]:
    """From Monday 4 January 2027, 00:30 Denver time, every 3 hours for `days` days."""
    monday = datetime(2027, 1, 4, 0, 30, tzinfo=DENVER)
    moments = [monday + timedelta(hours=3 * step) for step in range(days * 8)]
    return [(f"{m:%a-%H%M}-denver", m) for m in moments]


INSTANTS: list[tuple[str, datetime]] = [
    *_week_every_three_hours(7 if FULL_SWEEP else 1),
    # Spring forward, 14 March 2027: 02:00-03:00 does not exist.
    ("spring-forward-denver-0130", datetime(2027, 3, 14, 1, 30, tzinfo=DENVER)),
    ("spring-forward-denver-0330", datetime(2027, 3, 14, 3, 30, tzinfo=DENVER)),
    ("spring-forward-denver-1600", datetime(2027, 3, 14, 16, 0, tzinfo=DENVER)),
    ("spring-forward-los-angeles-0330", datetime(2027, 3, 14, 3, 30, tzinfo=LOS_ANGELES)),
    # Fall back, 7 November 2027: 01:00-02:00 happens twice.
    ("fall-back-denver-0130-first", datetime(2027, 11, 7, 1, 30, tzinfo=DENVER)),
    ("fall-back-denver-0130-second", datetime(2027, 11, 7, 1, 30, fold=1, tzinfo=DENVER)),
    ("fall-back-denver-1400", datetime(2027, 11, 7, 14, 0, tzinfo=DENVER)),
    ("fall-back-los-angeles-0115-second", datetime(2027, 11, 7, 1, 15, fold=1, tzinfo=LOS_ANGELES)),
    # US federal holidays: Independence Day observed (Monday), Thanksgiving, Christmas Eve.
    ("independence-day-observed", datetime(2027, 7, 5, 10, 0, tzinfo=DENVER)),
    ("thanksgiving", datetime(2027, 11, 25, 15, 0, tzinfo=DENVER)),
    ("christmas-eve-night", datetime(2027, 12, 24, 22, 0, tzinfo=DENVER)),
    ("saturday-afternoon", datetime(2027, 1, 9, 14, 0, tzinfo=DENVER)),
    ("sunday-morning", datetime(2027, 1, 10, 9, 0, tzinfo=DENVER)),
    ("year-end-denver", datetime(2027, 12, 31, 23, 30, tzinfo=DENVER)),
    ("year-end-los-angeles", datetime(2027, 12, 31, 23, 30, tzinfo=LOS_ANGELES)),
    ("leap-day-noon", datetime(2028, 2, 29, 12, 0, tzinfo=DENVER)),
    ("leap-day-late", datetime(2028, 2, 29, 23, 0, tzinfo=DENVER)),
    # The moment the issue was found: a weekday evening in the clinic's afternoon.
    ("issue-12-evening-utc", datetime(2026, 12, 2, 19, 30, tzinfo=UTC)),
]

NAV = re.compile(r"<nav\b.*?</nav>", re.S)
LINK = re.compile(r'<a [^>]*href="(/[^"#]*)"')


def _nav_links(html: str) -> list[str]:
    """The local pages a page's navigation leads to."""
    navigation = "".join(NAV.findall(html))
    return list(dict.fromkeys(unescape(href) for href in LINK.findall(navigation)))


def test_the_sweep_covers_the_instants_the_issue_names() -> None:
    local = [moment.astimezone(DENVER) for _, moment in INSTANTS]
    assert {m.hour // 3 for m in local} == set(range(8))
    assert {m.weekday() for m in local} >= {0, 5, 6}
    # Every 3-hour slot of every weekday in the full sweep.
    assert len({(m.weekday(), m.hour // 3) for m in local}) >= (7 * 8 if FULL_SWEEP else 8)
    assert {(m.month, m.day) for m in local} >= {(3, 14), (11, 7), (12, 31), (2, 29)}
    zones = {moment.tzinfo for _, moment in INSTANTS}
    assert {DENVER, LOS_ANGELES} <= zones


def _board_phases(location: Location, now: datetime) -> set[str]:
    rows = board_rows(location, timezone.localdate(now, timezone=location.tz), now)
    return {row.phase for row in rows if row.session is not None and row.session.is_open}


@pytest.mark.django_db
@pytest.mark.parametrize("instant", [m for _, m in INSTANTS], ids=[i for i, _ in INSTANTS])
def test_the_demo_clinic_at(instant: datetime, settings: Any) -> None:
    with time_machine.travel(instant, tick=False):
        seed_demo(patients=SWEEP_PATIENTS)

        assert audit_verify_chain().ok
        assert ledger_verify().ok

        slc = Location.objects.get(short_name="SLC")
        phases = _board_phases(slc, timezone.now())
        assert {"Pre-checks done", "Dosing"} <= phases, phases
        assert phases & {"Monitoring", "Ready for discharge"}, phases

        # Each account's home page, and every page its navigation leads to.
        for username, _ in DEMO_ACCOUNTS:
            client = Client()
            client.force_login(User.objects.get(username=username))
            home = client.get("/", follow=True)
            assert home.status_code == 200, username
            for page in _nav_links(home.content.decode()):
                response = client.get(page, follow=True)
                assert response.status_code == 200, (username, page, response.status_code)


def _rows(queryset: Any, *fields: str) -> list[tuple[Any, ...]]:
    # Ordered by every field shown, so that ties come out the same on every database.
    return list(queryset.order_by(*fields).values_list(*fields))


def _clinic_at_a_glance() -> dict[str, list[Any]]:
    """Every time-bearing row of the demo by natural keys (primary keys differ between two
    seedings on PostgreSQL)."""
    return {
        "planned": _rows(PlannedSession.objects, "course__patient__mrn", "number", "starts_at"),
        "sessions": _rows(
            TreatmentSession.objects,
            "scheduled_at",
            "patient__mrn",
            "status",
            "checked_in_at",
            "dosing_started_at",
            "discharged_at",
        ),
        "vitals": _rows(
            VitalSign.objects,
            "taken_at",
            "session__patient__mrn",
            "systolic",
            "diastolic",
            "heart_rate",
        ),
        "appointments": _rows(Appointment.objects, "starts_at", "patient__mrn", "status"),
        "responses": _rows(
            AssessmentResponse.objects, "completed_at", "patient__mrn", "instrument_key", "total"
        ),
        "ledger": _rows(
            LedgerEntry.objects,
            "location__short_name",
            "sequence",
            "kind",
            "occurred_at",
            "balance_after_ml",
        ),
    }


@pytest.mark.django_db
def test_the_demo_is_a_function_of_the_seed_and_the_instant() -> None:
    class Rollback(Exception):
        pass

    evening = datetime(2027, 1, 6, 18, 45, tzinfo=DENVER)
    with time_machine.travel(evening, tick=False):
        with pytest.raises(Rollback), transaction.atomic():
            seed_demo(patients=SWEEP_PATIENTS)
            first = _clinic_at_a_glance()
            raise Rollback
        seed_demo(patients=SWEEP_PATIENTS)
        assert _clinic_at_a_glance() == first
    assert all(first.values()), {name: len(rows) for name, rows in first.items()}
