"""The demo clinic's register: a year of deliveries, the demo sessions' draws accounted for,
one biennial inventory with one resolved discrepancy, and a chain that verifies."""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.core.management import call_command
from django.db.models import Max, Min
from django.utils import timezone

from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.clinical.codes import is_valid_dea_number
from ketaclinic.operations.demo import seed_demo
from ketaclinic.organization.models import Location
from ketaclinic.register import services
from ketaclinic.register.models import (
    Container,
    CountLine,
    EntryKind,
    InventoryCount,
    LedgerEntry,
    Product,
    Receipt,
    Supplier,
)

pytestmark = pytest.mark.django_db

BROWSER_DEMO_PATIENTS = 12
COMPLETED = (SessionStatus.DISCHARGED, SessionStatus.SIGNED)


def _verify_exit(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        call_command("ledger", "verify")
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    else:
        status = 0
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def _check_balances() -> None:
    for container in Container.objects.all():
        entries = LedgerEntry.objects.filter(container=container).order_by("pk")
        # Summed as decimals here: SQLite's SUM adds them as floats (a vial drawn in parts
        # and its remainder destroyed can come to -4e-16 there).
        total = sum(entries.values_list("container_change_ml", flat=True), Decimal(0))
        assert container.remaining_ml == total, container
        assert 0 <= container.remaining_ml <= container.initial_ml, container
        assert entries.last().balance_after_ml == container.remaining_ml, container


def _check_chain_in_time_order() -> None:
    for location_id in LedgerEntry.objects.values_list("location", flat=True).distinct():
        times = list(
            LedgerEntry.objects.filter(location_id=location_id)
            .order_by("sequence")
            .values_list("occurred_at", flat=True)
        )
        assert times == sorted(times)


def _check_sessions() -> None:
    now = timezone.now()
    sessions = TreatmentSession.objects.filter(dosing_started_at__isnull=False)
    assert sessions.filter(status__in=COMPLETED).count() >= 5
    # The outcome histories' sessions, months back, are among them.
    assert sessions.filter(dosing_started_at__lt=now - timedelta(days=180)).exists()
    for session in sessions.select_related("location"):
        draws = list(
            LedgerEntry.objects.filter(session=session, kind=EntryKind.DRAW).select_related(
                "container__product"
            )
        )
        assert len(draws) == 1, session
        draw = draws[0]
        assert draw.occurred_at == session.dosing_started_at
        assert draw.patient_id == session.patient_id
        assert draw.container.lot_number == session.lot_number
        assert draw.container.location_id == session.location_id
        drug = "esketamine" if session.is_esketamine else "ketamine"
        assert draw.container.product.drug == drug
        unaccounted = services.draw_unaccounted_ml(draw)
        ended = session.dosing_ended_at is not None and session.dosing_ended_at <= now
        if session.status in COMPLETED or ended:
            assert unaccounted == 0, session
            given = draw.accounted_by.get(kind=EntryKind.ADMINISTER)
            strength = draw.container.product.strength_mg_per_ml
            expected = (session.dose_mg / strength).quantize(Decimal("0.01"), ROUND_HALF_UP)
            assert given.amount_ml == expected and given.occurred_at == session.dosing_ended_at
            for entry in draw.accounted_by.all():
                assert entry.session_id == session.pk and entry.patient_id == session.patient_id
                if entry.kind == EntryKind.WASTE:
                    assert entry.witness_id and entry.witness_id != draw.actor_id
        else:
            # Today's infusion still running: drawn, accounted for at the end.
            assert session.status == SessionStatus.DOSING and unaccounted > 0
    # Wastes are witnessed IV leftovers; every completed IV session has one.
    wastes = LedgerEntry.objects.filter(kind=EntryKind.WASTE)
    assert wastes.exists() and not wastes.filter(witness__isnull=True).exists()


def _check_beyond_use() -> None:
    """Opened vials are drawn from for 28 days at most (USP <797>); then what is left is
    destroyed, so no vial opened longer ago is still open."""
    draws = LedgerEntry.objects.filter(
        kind=EntryKind.DRAW, container__product__form=Product.Form.VIAL
    ).select_related("container__location")
    assert draws.exists()
    for draw in draws:
        container = draw.container
        day = timezone.localdate(draw.occurred_at, timezone=container.location.tz)
        assert container.opened_on <= day < container.opened_on + timedelta(days=28), draw
    for container in Container.objects.filter(status=Container.Status.OPEN).select_related(
        "location"
    ):
        today = timezone.localdate(timezone=container.location.tz)
        assert today <= container.opened_on + timedelta(days=28), container
    assert LedgerEntry.objects.filter(kind=EntryKind.DESTROY, reason__contains="beyond-use")


def _check_counts() -> None:
    now = timezone.now()
    biennial = InventoryCount.objects.get(kind=InventoryCount.Kind.BIENNIAL)
    assert timedelta(days=120) < now - biennial.counted_at < timedelta(days=180)
    assert biennial.witness_id != biennial.counted_by_id
    odd = [line for line in biennial.lines.all() if line.discrepancy_ml]
    assert len(odd) == 1
    line = odd[0]
    assert line.discrepancy_ml == Decimal("-0.100") and line.estimated
    assert line.resolved_at and line.resolved_by and line.resolution
    assert biennial.counted_at < line.resolved_at < now
    periodic = InventoryCount.objects.get(kind=InventoryCount.Kind.PERIODIC)
    assert timedelta(days=20) < now - periodic.counted_at < timedelta(days=45)
    assert not [line for line in periodic.lines.all() if line.discrepancy_ml]
    # Each line expected the container's balance at the time, and its COUNT entry says
    # what was counted.
    for line in CountLine.objects.select_related("count"):
        entry = LedgerEntry.objects.get(
            kind=EntryKind.COUNT, container=line.container, detail__count=line.count_id
        )
        before = (
            LedgerEntry.objects.filter(location=entry.location, sequence__lt=entry.sequence)
            .filter(container=line.container)
            .order_by("-sequence")
            .first()
        )
        assert line.expected_ml == before.balance_after_ml == entry.balance_after_ml
        assert entry.amount_ml == line.counted_ml and entry.occurred_at == line.count.counted_at


def _check_receipts() -> None:
    now = timezone.now()
    span = Receipt.objects.filter(location__short_name="SLC").aggregate(
        first=Min("received_at"), last=Max("received_at")
    )
    assert now - span["first"] > timedelta(days=330)
    assert now - span["last"] < timedelta(days=40)
    assert Receipt.objects.filter(location__short_name="SLC").count() >= 12
    assert Receipt.objects.filter(location__short_name="Boise").exists()
    assert all(r.received_by_id != r.checked_by_id for r in Receipt.objects.all())
    assert all(is_valid_dea_number(s.dea_number) for s in Supplier.objects.all())
    receive = LedgerEntry.objects.filter(kind=EntryKind.RECEIVE)
    assert receive.count() == Container.objects.count()
    for entry in receive.select_related("container__receipt"):
        assert entry.occurred_at == entry.container.receipt.received_at


def test_demo_register(capsys: pytest.CaptureFixture[str]) -> None:
    seed_demo(patients=BROWSER_DEMO_PATIENTS)
    capsys.readouterr()
    status, output = _verify_exit(capsys)
    assert status == 0 and "Ledger intact" in output, output
    assert services.ledger_verify().ok
    _check_balances()
    _check_chain_in_time_order()
    _check_sessions()
    _check_beyond_use()
    _check_counts()
    _check_receipts()
    # Expired stock went to the reverse distributor with two witnesses; one vial moved.
    destroyed = LedgerEntry.objects.filter(kind=EntryKind.DESTROY)
    assert destroyed.exists()
    assert all(e.witness_id and e.second_witness_id for e in destroyed)
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_IN).count() == 1
    # The board's next patient can start: ketamine and esketamine are in stock at SLC.
    slc = Location.objects.get(short_name="SLC").pk
    assert Container.objects.usable(slc, "ketamine").exists()
    assert Container.objects.usable(slc, "esketamine").exists()
