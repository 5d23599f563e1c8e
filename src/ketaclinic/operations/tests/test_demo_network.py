"""The network-scale demo (ketaclinic demo --sessions --locations): about the number of
sessions asked for, each charted like a real one, at the network's sites, with a register
and an audit chain that verify; and the row writer it uses stores what the ORM would."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count, Max, Min, Sum

from ketaclinic.audit.models import AuditEntry
from ketaclinic.audit.services import audit_verify_chain
from ketaclinic.charting.models import (
    ACTIVE_STATUSES,
    RemsFormOwed,
    SessionInChair,
    SessionScore,
    TreatmentSession,
    VitalSign,
)
from ketaclinic.charting.selectors import rems_sessions_owed
from ketaclinic.charting.triggers import REMS_FORMS_OWED, SESSIONS_IN_CHAIR
from ketaclinic.operations.demo import MAX_LOCATIONS, seed_demo
from ketaclinic.operations.demo_rows import instances_insert, rows_insert, rows_update
from ketaclinic.organization.models import Location
from ketaclinic.register.models import (
    UNACCOUNTED_NOISE_ML,
    Container,
    EntryKind,
    LedgerEntry,
    OpenDraw,
)
from ketaclinic.register.services import ledger_verify
from ketaclinic.register.triggers import OPEN_DRAWS

pytestmark = pytest.mark.django_db


def test_a_network_demo_has_the_sessions_asked_for_each_charted_and_booked() -> None:
    seed_demo(patients=400, locations=6, sessions=3000)
    assert Location.objects.count() == 6
    assert Location.objects.filter(chair_count=10).count() == 3  # the network's sites
    sessions = TreatmentSession.objects.filter(vital_signs__isnull=False).distinct()
    total = TreatmentSession.objects.count()
    assert 2700 <= total <= 3300, total
    # Every history session (the demo's other stories chart their own) has about ten
    # readings and four scores, a booking and its audit entry; the sessions are spread
    # over every location.
    audited = AuditEntry.objects.filter(object_type="treatment session")
    history = TreatmentSession.objects.filter(
        pk__in=[int(pk) for pk in audited.values_list("object_id", flat=True)]
    )
    assert history.count() >= total - 200
    readings = (
        VitalSign.objects.filter(session__in=history)
        .values("session")
        .annotate(n=Count("id"))
        .aggregate(Min("n"), Max("n"))
    )
    assert readings["n__min"] >= 8 and readings["n__max"] <= 12
    assert SessionScore.objects.filter(session__in=history).count() == 4 * history.count()
    assert not history.filter(vital_signs__isnull=True).exists()
    assert not history.filter(scores__isnull=True).exists()
    assert not history.filter(planned_session__appointments__isnull=True).exists()
    assert set(sessions.values_list("location_id", flat=True)) == set(
        Location.objects.values_list("pk", flat=True)
    )
    # A network's sessions are placed on chairs slot by slot: no two at once on one chair.
    placed = history.filter(location__chair_count=10).values("location", "chair", "scheduled_at")
    assert not placed.annotate(n=Count("id")).filter(n__gt=1).exists()
    # Every dose is in the register, and both chains verify.
    dosed = history.filter(dose_mg__isnull=False).count()
    draws = LedgerEntry.objects.filter(kind="draw", session__in=history).count()
    assert draws == dosed
    assert ledger_verify().ok
    assert audit_verify_chain().ok
    assert not Container.objects.filter(remaining_ml__lt=0).exists()
    the_kept_tables_are_their_rules()


def the_kept_tables_are_their_rules() -> None:
    """The tables the database keeps for the worklists and the board (register/triggers.py,
    charting/triggers.py) hold what their rule finds from scratch, by the ORM and by the
    kept table's own SELECT; and none is empty (the demo has an open draw, forms owed and
    sessions in the chair)."""
    owed = set(RemsFormOwed.objects.values_list("session_id", "location_id"))
    assert owed == set(
        rems_sessions_owed().filter(rems_submission__isnull=True).values_list("pk", "location_id")
    )
    accounted = dict(
        LedgerEntry.objects.filter(draw__isnull=False, reversed_by__isnull=True)
        .exclude(kind=EntryKind.CORRECTION)
        .values("draw")
        .annotate(total=Sum("amount_ml"))
        .values_list("draw", "total")
    )
    open_draws = {
        (pk, location_id)
        for pk, location_id, amount in LedgerEntry.objects.filter(
            kind=EntryKind.DRAW, reversed_by__isnull=True
        ).values_list("pk", "location_id", "amount_ml")
        if amount - Decimal(accounted.get(pk) or 0) > UNACCOUNTED_NOISE_ML
    }
    assert set(OpenDraw.objects.values_list("draw_id", "location_id")) == open_draws
    in_chair = set(
        TreatmentSession.objects.filter(status__in=ACTIVE_STATUSES).values_list("pk", "location_id")
    )
    assert set(SessionInChair.objects.values_list("session_id", "location_id")) == in_chair
    assert owed and open_draws and in_chair
    for kept in (OPEN_DRAWS, REMS_FORMS_OWED, SESSIONS_IN_CHAIR):
        with connection.cursor() as cursor:
            cursor.execute(kept.select.format(keys=kept.all_keys))
            from_scratch = set(cursor.fetchall())
            cursor.execute(f"SELECT * FROM {kept.table}")
            assert set(cursor.fetchall()) == from_scratch, kept.table
        assert kept.missing(connection) == []


def test_the_demo_refuses_more_locations_than_it_has() -> None:
    with pytest.raises(ValueError, match="at most 24 locations"):
        seed_demo(patients=5, locations=MAX_LOCATIONS + 1)


def test_rows_are_stored_as_the_orm_stores_them() -> None:
    aware = datetime(2026, 3, 8, 9, 30, 15, 120000, tzinfo=UTC)
    fields = ["sequence", "occurred_at", "action", "object_id", "detail", "previous_hash"]
    fields += ["actor_username", "object_type", "path", "entry_hash"]
    rows = [
        (10**9 + n, aware, "seed", str(n), {"n": n, "at": aware}, "p", "", "x", "", "h")
        for n in range(3)
    ]
    assert rows_insert(AuditEntry, fields, rows) == 3
    stored = list(AuditEntry.objects.filter(sequence__gte=10**9).order_by("sequence"))
    assert [e.occurred_at for e in stored] == [aware] * 3
    assert stored[2].detail == {"n": 2, "at": str(aware)}
    # A range query on the stored time finds them exactly, as for rows the ORM wrote.
    mine = AuditEntry.objects.filter(sequence__gte=10**9)
    assert mine.filter(occurred_at__gte=aware).count() == 3
    assert mine.filter(occurred_at__gt=aware).count() == 0
    with pytest.raises(ValueError, match="2 values for 10 columns"):
        rows_insert(AuditEntry, fields, [(1, aware)])


def test_instances_get_the_keys_after_the_largest_and_updates_apply(
    make_location: Any,
) -> None:
    first = make_location(short_name="A")
    second = make_location(short_name="B")
    rows_update(Location, ["chair_count", "is_active"], [(first.pk, 7, False)])
    first.refresh_from_db()
    assert (first.chair_count, first.is_active) == (7, False)
    largest = Location.objects.aggregate(Max("pk"))["pk__max"]
    new = [
        Location(
            organization=second.organization,
            short_name=f"N{n}",
            name=f"New {n}",
            address_line1="1 Main St",
            city="Boise",
            state="ID",
            postal_code="83702",
            timezone="America/Boise",
        )
        for n in range(2)
    ]
    instances_insert(Location, new)
    assert [loc.pk for loc in new] == [largest + 1, largest + 2]
    assert Location.objects.get(pk=largest + 2).short_name == "N1"
    # The database's own key sequence has moved past them.
    after = make_location(short_name="C")
    assert after.pk > largest + 2
