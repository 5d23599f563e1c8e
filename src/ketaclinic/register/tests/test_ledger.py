"""The register's invariants: balances never below zero, witnessed waste, draws accounted for
before signing, append-only entries refused by the database, and the hash chain."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction

from ketaclinic.charting import services as charting
from ketaclinic.charting.tests.conftest import ago, prechecked, vitals
from ketaclinic.conftest import PASSWORD
from ketaclinic.register import services, triggers
from ketaclinic.register.models import Container, EntryKind, LedgerEntry, LedgerVerification
from ketaclinic.register.tests.conftest import ketamine_vials


def _dosing_session(clinic: dict[str, Any]) -> Any:
    session = prechecked(clinic)
    vitals(clinic["nurse"], session, 30, (128, 82))
    return session


@pytest.mark.django_db
def test_receipt_needs_a_second_person_and_labels_each_container(
    clinic: dict[str, Any], vials: list[Container]
) -> None:
    assert [v.remaining_ml for v in vials] == [Decimal("10.000")] * 2
    assert vials[0].label == "SLC-000001" and vials[1].label == "SLC-000002"
    receive = LedgerEntry.objects.filter(kind=EntryKind.RECEIVE)
    assert receive.count() == 2
    first = receive.first()
    assert first.witness == clinic["director"] and first.detail["supplier_dea"] == "PM1234563"
    assert first.amount_mg == Decimal("500.000")
    with pytest.raises(ValidationError, match="another person"):
        services.receipt_record(
            actor=clinic["director"],
            location=clinic["slc"],
            supplier=vials[0].receipt.supplier,
            invoice_number="X1",
            invoice_date=vials[0].receipt.invoice_date,
            lines=[
                services.ReceivedLine(
                    product=vials[0].product,
                    lot_number="L",
                    expires_on=vials[0].expires_on,
                    containers=1,
                )
            ],
            checked_by=clinic["director"],
            checker_password=PASSWORD,
        )


@pytest.mark.django_db
def test_a_draw_never_takes_a_container_below_zero(
    clinic: dict[str, Any], vials: list[Container]
) -> None:
    session = _dosing_session(clinic)
    vial = vials[0]
    services.draw_for_session(actor=clinic["nurse"], session=session, container=vial, amount_ml="9")
    with pytest.raises(ValidationError, match=r"only 1\.000 mL left"):
        services.draw_for_session(
            actor=clinic["nurse"], session=session, container=vial, amount_ml="1.5"
        )
    vial.refresh_from_db()
    assert vial.remaining_ml == Decimal("1.000") and vial.status == Container.Status.OPEN
    # The database refuses a negative balance even from code that skips the service.
    with pytest.raises(IntegrityError), transaction.atomic():
        Container.objects.filter(pk=vial.pk).update(remaining_ml=Decimal("-1"))


@pytest.mark.django_db
def test_waste_needs_a_witness_who_is_not_the_one_who_drew(
    clinic: dict[str, Any], vials: list[Container]
) -> None:
    session = _dosing_session(clinic)
    nurse, prescriber = clinic["nurse"], clinic["prescriber"]
    draw = services.draw_for_session(
        actor=nurse, session=session, container=vials[0], amount_ml="1.0"
    )
    services.administer(actor=nurse, draw=draw, amount_ml="0.72")
    for witness, password, message in (
        (None, "", "witness must confirm"),
        (prescriber, "wrong", "password is not right"),
        (nurse, PASSWORD, "cannot be the person who drew"),
        (clinic["coordinator"], PASSWORD, "cannot witness"),
        (clinic["nurse_boise"], PASSWORD, "does not work at SLC"),
    ):
        with pytest.raises(ValidationError, match=message):
            services.waste(
                actor=nurse,
                draw=draw,
                amount_ml="0.28",
                witness=witness,
                witness_password=password,
            )
    assert services.draw_unaccounted_ml(draw) == Decimal("0.280")
    with pytest.raises(ValidationError, match=r"Only 0\.280 mL"):
        services.waste(
            actor=nurse, draw=draw, amount_ml="0.5", witness=prescriber, witness_password=PASSWORD
        )
    wasted = services.waste(
        actor=nurse, draw=draw, amount_ml="0.28", witness=prescriber, witness_password=PASSWORD
    )
    assert wasted.witness == prescriber and wasted.container_change_ml == 0
    assert services.draw_unaccounted_ml(draw) == 0


@pytest.mark.django_db
def test_a_session_is_not_signed_while_a_draw_has_unaccounted_volume(
    clinic: dict[str, Any], vials: list[Container]
) -> None:
    nurse = clinic["nurse"]
    session = prechecked(clinic)
    vitals(nurse, session, 130, (128, 82))
    charting.dosing_record(
        actor=nurse,
        session=session.__class__.objects.get(pk=session.pk),
        kind="start",
        at=ago(120),
        amount_drawn_ml=Decimal("0.8"),
        pump_rate_ml_per_h=Decimal("150"),
        container=vials[0],
    )
    # Starting the infusion drew from the register in the same step, with the vial's lot.
    draw = LedgerEntry.objects.get(session=session, kind=EntryKind.DRAW)
    assert draw.amount_ml == Decimal("0.800") and draw.patient_id == session.patient_id
    assert session.__class__.objects.get(pk=session.pk).lot_number == vials[0].lot_number
    charting.dosing_record(
        actor=nurse, session=session.__class__.objects.get(pk=session.pk), kind="stop", at=ago(80)
    )
    fresh = session.__class__.objects.get(pk=session.pk)
    charting.session_stop_early(actor=nurse, session=fresh, reason="patient left")
    fresh = session.__class__.objects.get(pk=session.pk)
    with pytest.raises(ValidationError, match=r"0\.800 mL drawn from SLC-000001 is not accounted"):
        charting.note_sign(actor=nurse, session=fresh, password=PASSWORD)
    services.administer(actor=nurse, draw=draw, amount_ml="0.72")
    with pytest.raises(ValidationError, match=r"0\.080 mL drawn"):
        charting.note_sign(actor=nurse, session=fresh, password=PASSWORD)
    services.waste(
        actor=nurse,
        draw=draw,
        amount_ml="0.08",
        witness=clinic["prescriber"],
        witness_password=PASSWORD,
    )
    for alert in fresh.alerts.filter(acknowledged_at__isnull=True):
        charting.alert_acknowledge(actor=nurse, alert=alert, action_taken="late entry")
    charting.note_sign(actor=nurse, session=fresh, password=PASSWORD)


@pytest.mark.django_db
def test_the_database_refuses_to_update_or_delete_an_entry(vials: list[Container]) -> None:
    entry = LedgerEntry.objects.first()
    table = LedgerEntry._meta.db_table
    for statement in (
        f"UPDATE {table} SET amount_ml = 1 WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [entry.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(reason="edited")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.delete()
    assert LedgerEntry.objects.get(pk=entry.pk).amount_ml == Decimal("10.000")


@pytest.mark.django_db
def test_a_correction_reverses_an_entry_and_keeps_both(
    clinic: dict[str, Any], vials: list[Container]
) -> None:
    session = _dosing_session(clinic)
    draw = services.draw_for_session(
        actor=clinic["nurse"], session=session, container=vials[0], amount_ml="2"
    )
    with pytest.raises(ValidationError, match="reason"):
        services.correction(actor=clinic["director"], entry=draw, reason="")
    with pytest.raises(Exception, match=r"register\.manage"):
        services.correction(actor=clinic["nurse"], entry=draw, reason="wrong vial")
    fix = services.correction(actor=clinic["director"], entry=draw, reason="wrong vial")
    vials[0].refresh_from_db()
    assert vials[0].remaining_ml == Decimal("10.000") and fix.reverses == draw
    assert services.session_unaccounted(session) == []
    with pytest.raises(ValidationError, match="already corrected"):
        services.correction(actor=clinic["director"], entry=draw, reason="again")


def _verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run `ketaclinic ledger verify` (the management command) and return (exit, output)."""
    try:
        call_command("ledger", "verify")
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    else:
        status = 0
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def _tamper(sql: str, params: list[Any]) -> None:
    """Change stored entries as someone with database rights could (triggers dropped)."""
    triggers.remove(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    triggers.install(connection)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attack", ["alter", "delete", "reorder"])
def test_ledger_verify_names_the_first_altered_removed_or_reordered_entry(
    clinic: dict[str, Any], attack: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ketamine_vials(clinic, count=4)
    status, output = _verify(capsys)
    assert status == 0 and "Ledger intact: 4 entries verified." in output
    table = LedgerEntry._meta.db_table
    second = LedgerEntry.objects.get(sequence=2)
    if attack == "alter":
        _tamper(f"UPDATE {table} SET amount_ml = 5 WHERE id = %s", [second.pk])
        expected = "SLC entry #2: entry #2 was altered"
    elif attack == "delete":
        _tamper(f"DELETE FROM {table} WHERE id = %s", [second.pk])
        expected = "SLC entry #2: entry #2 is missing"
    else:
        third = LedgerEntry.objects.get(sequence=3)
        _tamper(
            f"UPDATE {table} SET sequence = CASE WHEN id = %s THEN 1000 ELSE sequence END",
            [second.pk],
        )
        _tamper(f"UPDATE {table} SET sequence = 2 WHERE id = %s", [third.pk])
        _tamper(f"UPDATE {table} SET sequence = 3 WHERE id = %s", [second.pk])
        expected = "SLC entry #2: entry #2 does not follow entry #1"
    status, output = _verify(capsys)
    assert status == 1 and expected in output, output
    # Each run is recorded for the inspector's overview, the failure with what it found.
    runs = list(LedgerVerification.objects.order_by("pk"))
    assert [r.ok for r in runs] == [True, False]
    assert runs[0].entries_checked == 4 and runs[0].sequences[str(clinic["slc"].pk)] == 4
    assert runs[1].location_name == "SLC" and runs[1].first_bad_sequence == 2


@pytest.mark.django_db(transaction=True)
def test_the_inspector_overview_checks_the_chain_tip_on_every_view(
    clinic: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """Between two full runs of `ledger verify`, the overview still catches the newest entry
    being altered or removed (a constant-cost check against the chain head)."""
    from django.test import Client
    from django.urls import reverse

    ketamine_vials(clinic, count=3)
    assert _verify(capsys)[0] == 0
    client = Client()
    client.force_login(clinic["director"])
    url = reverse("register:inspector")
    params = {"location": clinic["slc"].pk}
    assert "found a problem" not in client.get(url, params).content.decode()
    table = LedgerEntry._meta.db_table
    last = LedgerEntry.objects.get(location=clinic["slc"], sequence=3)
    _tamper(f"UPDATE {table} SET amount_ml = 5 WHERE id = %s", [last.pk])
    html = client.get(url, params).content.decode()
    assert "found a problem at SLC" in html and "entry #3 was altered" in html
    _tamper(f"DELETE FROM {table} WHERE id = %s", [last.pk])
    html = client.get(url, params).content.decode()
    assert "the chain head records 3 entries but the last stored is #2" in html
    # The full walk, run again, is what names the first entry affected.
    status, output = _verify(capsys)
    assert status == 1 and "SLC entry #3" in output


@pytest.mark.django_db(transaction=True)
def test_two_nurses_drawing_from_one_vial_at_once_never_overdraw_it(
    clinic: dict[str, Any], make_user: Any
) -> None:
    from ketaclinic.accounts.roles import Role

    vial = ketamine_vials(clinic, count=1)[0]
    sessions = [_dosing_session(clinic)]
    other = make_user(Role.NURSE, [clinic["slc"]])
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def draw(user: Any) -> None:
        try:
            barrier.wait()
            for _ in range(4):
                try:
                    services.draw_for_session(
                        actor=user, session=sessions[0], container=vial, amount_ml="1.5"
                    )
                    outcomes.append("drawn")
                except ValidationError:
                    outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=draw, args=(u,)) for u in (clinic["nurse"], other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    vial.refresh_from_db()
    # 10 mL holds six draws of 1.5 mL; the other two are refused, whoever asked.
    assert outcomes.count("drawn") == 6 and outcomes.count("refused") == 2
    assert vial.remaining_ml == Decimal("1.000")
    draws = LedgerEntry.objects.filter(container=vial, kind=EntryKind.DRAW)
    assert sorted(e.balance_after_ml for e in draws) == [
        Decimal(x) for x in ("1.000", "2.500", "4.000", "5.500", "7.000", "8.500")
    ]
    assert services.ledger_verify().ok


@pytest.mark.django_db
def test_the_nurse_draws_and_accounts_from_the_session_chart(
    clinic: dict[str, Any], vials: list[Container]
) -> None:
    from django.test import Client

    nurse = clinic["nurse"]
    session = _dosing_session(clinic)
    client = Client()
    client.force_login(nurse)
    base = f"/patients/{session.patient_id}/sessions/{session.pk}/"
    page = client.get(base).content.decode()
    assert "Container (from the register)" in page and vials[0].label in page
    response = client.post(
        base + "dosing/",
        {
            "kind": "start",
            "container": vials[0].pk,
            "amount_drawn_ml": "0.8",
            "pump_rate_ml_per_h": "150",
        },
    )
    assert response.status_code == 302
    draw = LedgerEntry.objects.get(session=session, kind=EntryKind.DRAW)
    charting.dosing_record(
        actor=nurse,
        session=session.__class__.objects.get(pk=session.pk),
        kind="stop",
        reason="nausea",
    )
    # Wrong witness password: nothing is recorded, not even the administration.
    client.post(
        base + f"draws/{draw.pk}/account/",
        {
            "administered_ml": "0.72",
            "wasted_ml": "0.08",
            "witness": clinic["prescriber"].pk,
            "witness_password": "wrong",
        },
    )
    assert services.draw_unaccounted_ml(draw) == Decimal("0.800")
    client.post(
        base + f"draws/{draw.pk}/account/",
        {
            "administered_ml": "0.72",
            "wasted_ml": "0.08",
            "witness": clinic["prescriber"].pk,
            "witness_password": PASSWORD,
        },
    )
    assert services.draw_unaccounted_ml(draw) == 0
    assert "Accounted for" in client.get(base).content.decode()


@pytest.mark.django_db
def test_the_status_follows_the_volume(clinic: dict[str, Any], vials: list[Container]) -> None:
    session = _dosing_session(clinic)
    vial = vials[0]
    draw = services.draw_for_session(
        actor=clinic["nurse"], session=session, container=vial, amount_ml="10"
    )
    vial.refresh_from_db()
    assert vial.status == Container.Status.EMPTY and vial.closed_on is not None
    services.correction(actor=clinic["director"], entry=draw, reason="drawn from the wrong vial")
    vial.refresh_from_db()
    assert vial.status == Container.Status.OPEN and vial.remaining_ml == Decimal("10.000")
    services.draw_for_session(actor=clinic["nurse"], session=session, container=vial, amount_ml="1")
    services.transfer(
        actor=clinic["director"],
        container=vials[1],
        to_location=clinic["boise"],
        witness=clinic["nurse"],
        witness_password=PASSWORD,
    )
    vials[1].refresh_from_db()
    assert vials[1].status == Container.Status.SEALED and vials[1].location == clinic["boise"]
    assert vials[1].remaining_ml == Decimal("10.000")
