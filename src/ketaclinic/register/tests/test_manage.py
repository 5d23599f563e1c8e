"""The director's stock pages, through the web client: each write lands in the register with
the right kind, amount and witnesses; refused input saves nothing and says why; roles and
locations are enforced (403 for a role without the capability, 404 for stock elsewhere)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.tests.conftest import prechecked, vitals
from ketaclinic.conftest import PASSWORD
from ketaclinic.register import services
from ketaclinic.register.models import (
    Container,
    CountLine,
    EntryKind,
    InventoryCount,
    LedgerEntry,
    LossReport,
    Receipt,
)
from ketaclinic.register.tests.conftest import ketamine_vials

WRONG = "The password is not right"


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _text(response: Any) -> str:
    return response.content.decode()


def _kinds() -> list[str]:
    return list(LedgerEntry.objects.order_by("location", "sequence").values_list("kind", flat=True))


# --- 1. receiving -----------------------------------------------------------------------


def _receive_data(clinic: dict[str, Any], vial: Container, **changes: Any) -> dict[str, Any]:
    today = timezone.localdate()
    data = {
        "location": clinic["slc"].pk,
        "supplier": vial.receipt.supplier_id,
        "invoice_number": "INV-TYPED-77",
        "invoice_date": today.isoformat(),
        "safe": vial.safe_id,
        "line-TOTAL_FORMS": "4",
        "line-INITIAL_FORMS": "0",
        "line-MIN_NUM_FORMS": "0",
        "line-MAX_NUM_FORMS": "4",
        "line-0-product": vial.product_id,
        "line-0-lot_number": "KT25B",
        "line-0-expires_on": date(today.year + 2, 1, 31).isoformat(),
        "line-0-containers": "3",
        # An untouched row is ignored.
        "line-1-product": "",
        "line-1-lot_number": "",
        "line-1-expires_on": "",
        "line-1-containers": "",
        "checked_by": clinic["director"].pk,
        "checker_password": PASSWORD,
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_a_delivery_is_received_with_its_checker(clinic: dict[str, Any]) -> None:
    vial = ketamine_vials(clinic, 1)[0]
    nurse = _client(clinic["nurse"])
    page = nurse.get("/register/receive/")
    assert page.status_code == 200 and "Receive a delivery" in _text(page)
    assert "Med room safe" in _text(page) and clinic["director"].display_name in _text(page)
    response = nurse.post("/register/receive/", _receive_data(clinic, vial))
    assert response.status_code == 302
    receipt = Receipt.objects.get(invoice_number="INV-TYPED-77")
    assert receipt.received_by == clinic["nurse"] and receipt.checked_by == clinic["director"]
    containers = list(receipt.containers.order_by("label"))
    assert [c.label for c in containers] == ["SLC-000002", "SLC-000003", "SLC-000004"]
    assert all(c.remaining_ml == Decimal("10.000") and c.lot_number == "KT25B" for c in containers)
    assert all(c.safe_id == vial.safe_id for c in containers)
    entries = LedgerEntry.objects.filter(container__receipt=receipt)
    assert {(e.kind, e.amount_ml, e.balance_after_ml, e.witness_id) for e in entries} == {
        (EntryKind.RECEIVE, Decimal("10.000"), Decimal("10.000"), clinic["director"].pk)
    }
    assert entries.count() == 3
    followed = nurse.get(response["Location"])
    assert "SLC-000002 to SLC-000004" in _text(followed)


@pytest.mark.django_db
def test_a_refused_delivery_saves_nothing_and_keeps_what_was_typed(
    clinic: dict[str, Any],
) -> None:
    vial = ketamine_vials(clinic, 1)[0]
    nurse = _client(clinic["nurse"])
    before = (Receipt.objects.count(), Container.objects.count(), LedgerEntry.objects.count())
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    for changes, message in (
        ({"checker_password": "wrong"}, WRONG),
        ({"checked_by": ""}, "A witness must confirm with their own password."),
        ({"checked_by": clinic["nurse"].pk}, "Select a valid choice"),
        ({"line-0-lot_number": ""}, "Check the highlighted lines"),
        ({"line-0-expires_on": yesterday}, "has expired: it cannot be received"),
        ({"line-0-product": "", "line-0-lot_number": "", "line-0-expires_on": "",
          "line-0-containers": ""}, "Enter at least one line"),
    ):  # fmt: skip
        response = nurse.post("/register/receive/", _receive_data(clinic, vial, **changes))
        page = _text(response)
        assert response.status_code == 200, changes
        assert message in page, (changes, message)
        assert 'value="INV-TYPED-77"' in page, changes
        assert PASSWORD not in page and 'value="wrong"' not in page
    after = (Receipt.objects.count(), Container.objects.count(), LedgerEntry.objects.count())
    assert after == before


@pytest.mark.django_db
def test_receiving_is_for_the_users_own_locations_and_roles(clinic: dict[str, Any]) -> None:
    vial = ketamine_vials(clinic, 1)[0]
    boise = _client(clinic["nurse_boise"])
    assert boise.get(f"/register/receive/?location={clinic['slc'].pk}").status_code == 404
    data = _receive_data(clinic, vial)
    assert boise.post("/register/receive/", data).status_code == 404
    assert _client(clinic["coordinator"]).get("/register/receive/").status_code == 403
    assert Receipt.objects.count() == 1
    anonymous = Client().get("/register/receive/")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


# --- 2. counts and 3. discrepancies -----------------------------------------------------


def _count_data(vials: list[Container], counted: list[str], **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"location": vials[0].location_id, "kind": "periodic", "note": ""}
    for vial, value in zip(vials, counted, strict=True):
        data[f"counted_{vial.pk}"] = value
    data.update(changes)
    return data


@pytest.mark.django_db
def test_a_count_records_every_container_and_highlights_differences(
    clinic: dict[str, Any],
) -> None:
    vials = ketamine_vials(clinic, 2)
    director = _client(clinic["director"])
    page = _text(director.get(f"/register/count/?location={clinic['slc'].pk}"))
    assert vials[0].label in page and vials[1].label in page and "Register (mL)" in page
    response = director.post(
        "/register/count/",
        _count_data(
            vials,
            ["10", "9.5"],
            witness=clinic["nurse"].pk,
            witness_password=PASSWORD,
        ),
    )
    count = InventoryCount.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/register/counts/{count.pk}/"
    assert count.witness == clinic["nurse"] and count.counted_by == clinic["director"]
    entries = LedgerEntry.objects.filter(kind=EntryKind.COUNT).order_by("sequence")
    assert [
        (e.container_id, e.amount_ml, e.container_change_ml, e.witness_id) for e in entries
    ] == [
        (vials[0].pk, Decimal("10.000"), Decimal("0.000"), clinic["nurse"].pk),
        (vials[1].pk, Decimal("9.500"), Decimal("0.000"), clinic["nurse"].pk),
    ]
    # A count changes no balance: the difference stays a discrepancy to explain.
    assert [v.remaining_ml for v in Container.objects.filter(pk__in=[v.pk for v in vials])] == [
        Decimal("10.000")
    ] * 2
    line = CountLine.objects.get(container=vials[1])
    assert line.discrepancy_ml == Decimal("-0.500")
    shown = _text(director.get(response["Location"]))
    assert f'<tr data-line="{line.pk}" class="flag">' in shown and "-0.500 mL" in shown
    assert f"/register/discrepancies/{line.pk}/resolve/" in shown
    assert "1 container differs from the register" in shown


@pytest.mark.django_db
def test_a_count_without_its_witness_or_a_volume_saves_nothing(clinic: dict[str, Any]) -> None:
    vials = ketamine_vials(clinic, 2)
    director = _client(clinic["director"])
    for changes, counted, message in (
        ({"witness": clinic["nurse"].pk, "witness_password": "wrong"}, ["10", "10"], WRONG),
        ({"witness_password": PASSWORD}, ["10", "10"], "A witness must confirm"),
        (
            {"witness": clinic["nurse"].pk, "witness_password": PASSWORD},
            ["10", ""],
            f"Enter the volume counted in {vials[1].label}.",
        ),
    ):
        response = director.post("/register/count/", _count_data(vials, counted, **changes))
        assert response.status_code == 200 and message in _text(response), message
        assert 'value="10"' in _text(response)
    assert InventoryCount.objects.count() == 0
    assert LedgerEntry.objects.filter(kind=EntryKind.COUNT).count() == 0


def _counted_short(clinic: dict[str, Any], vials: list[Container]) -> CountLine:
    services.count_record(
        actor=clinic["director"],
        location=clinic["slc"],
        kind="periodic",
        witness=clinic["nurse"],
        witness_password=PASSWORD,
        counted=[(vials[0], Decimal("8"), True)],
    )
    return CountLine.objects.get(container=vials[0])


@pytest.mark.django_db
def test_a_discrepancy_is_resolved_with_a_link_to_report_a_loss(clinic: dict[str, Any]) -> None:
    vials = ketamine_vials(clinic, 1)
    line = _counted_short(clinic, vials)
    director = _client(clinic["director"])
    url = f"/register/discrepancies/{line.pk}/resolve/"
    page = _text(director.get(url))
    slc = clinic["slc"].pk
    loss_link = f"/register/losses/new/?location={slc}&amp;container={vials[0].pk}&amp;missing=2"
    assert "-2 mL" in page and loss_link in page
    prefilled = _text(director.get(loss_link.replace("&amp;", "&")))
    assert f'<option value="{vials[0].pk}" selected>' in prefilled and 'value="2"' in prefilled
    response = director.post(url, {"resolution": ""})
    assert response.status_code == 200 and "This field is required" in _text(response)
    response = director.post(url, {"resolution": "Spilled while counting; see loss report."})
    assert response.status_code == 302
    line.refresh_from_db()
    assert line.resolved_by == clinic["director"] and line.resolution.startswith("Spilled")
    again = director.post(url, {"resolution": "again"})
    assert "already resolved" in _text(again)


# --- 4. transfer ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_transfer_is_shown_first_then_moves_the_container(clinic: dict[str, Any]) -> None:
    vial = ketamine_vials(clinic, 1)[0]
    boise = clinic["boise"]
    director = _client(clinic["director"])
    url = f"/register/containers/{vial.pk}/transfer/"
    assert f'<option value="{boise.pk}">' in _text(director.get(url))
    review = _text(director.get(f"{url}?to={boise.pk}"))
    assert (
        "This moves <strong>10 mL</strong> (500 mg)" in review
        and "to <strong>Boise Clinic" in review
    )
    assert LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT).count() == 0
    refused = director.post(
        url, {"to": boise.pk, "witness": clinic["nurse"].pk, "witness_password": "wrong"}
    )
    assert refused.status_code == 200 and WRONG in _text(refused)
    missing = director.post(url, {"to": boise.pk, "witness_password": PASSWORD})
    assert "A witness must confirm" in _text(missing)
    vial.refresh_from_db()
    assert vial.location == clinic["slc"] and _kinds() == [EntryKind.RECEIVE]
    response = director.post(
        url, {"to": boise.pk, "witness": clinic["nurse"].pk, "witness_password": PASSWORD}
    )
    assert response.status_code == 302
    out = LedgerEntry.objects.get(kind=EntryKind.TRANSFER_OUT)
    into = LedgerEntry.objects.get(kind=EntryKind.TRANSFER_IN)
    assert (out.location, out.amount_ml, out.container_change_ml, out.balance_after_ml) == (
        clinic["slc"],
        Decimal("10.000"),
        Decimal("-10.000"),
        Decimal("0.000"),
    )
    assert (into.location, into.amount_ml, into.balance_after_ml) == (
        boise,
        Decimal("10.000"),
        Decimal("10.000"),
    )
    assert out.witness == into.witness == clinic["nurse"]
    vial.refresh_from_db()
    assert vial.location == boise and vial.remaining_ml == Decimal("10.000") and vial.safe is None
    # Now at Boise: the Boise nurse may see it in lists, the SLC pages no longer hold it.
    assert _client(clinic["nurse_boise"]).get(url).status_code == 403


# --- 5. destruction ---------------------------------------------------------------------


def _destroy_data(clinic: dict[str, Any], **changes: Any) -> dict[str, Any]:
    data = {
        "amount_ml": "10",
        "method": "Rendered non-retrievable in a chemical digestion container",
        "reverse_distributor": "",
        "witness": clinic["nurse"].pk,
        "witness_password": PASSWORD,
        "second_witness": clinic["prescriber"].pk,
        "second_witness_password": PASSWORD,
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_destruction_is_reviewed_then_recorded_with_two_witnesses(
    clinic: dict[str, Any],
) -> None:
    vial = ketamine_vials(clinic, 1)[0]
    director = _client(clinic["director"])
    url = f"/register/containers/{vial.pk}/destroy/"
    first = _text(director.get(url))
    assert 'name="amount_ml" value="10"' in first and 'list="destruction-methods"' in first
    too_much = _text(director.get(f"{url}?amount_ml=11&method=x"))
    assert "Only 10 mL remain in SLC-000001." in too_much
    review = _text(
        director.get(
            url, {"amount_ml": "10", "method": "Chemical digestion", "reverse_distributor": ""}
        )
    )
    assert "This records the destruction of <strong>10 mL</strong> (500 mg)" in review
    assert "marked destroyed" in review and 'type="password"' in review
    assert _kinds() == [EntryKind.RECEIVE]
    response = director.post(url, _destroy_data(clinic))
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(kind=EntryKind.DESTROY)
    assert (entry.amount_ml, entry.container_change_ml, entry.balance_after_ml) == (
        Decimal("10.000"),
        Decimal("-10.000"),
        Decimal("0.000"),
    )
    assert entry.witness == clinic["nurse"] and entry.second_witness == clinic["prescriber"]
    assert entry.detail["form"] == "DEA Form 41" and entry.detail["ndc"] == "0409-2051-05"
    assert entry.detail["quantity_ml"] == "10.000"
    vial.refresh_from_db()
    assert vial.remaining_ml == 0 and vial.status == Container.Status.DESTROYED
    assert f"entry #{entry.sequence} (DEA Form 41)" in _text(director.get(response["Location"]))


@pytest.mark.django_db
def test_destruction_without_two_good_witnesses_saves_nothing(clinic: dict[str, Any]) -> None:
    vial = ketamine_vials(clinic, 1)[0]
    director = _client(clinic["director"])
    url = f"/register/containers/{vial.pk}/destroy/"
    for changes, message in (
        ({"second_witness": ""}, "Destruction needs two witnesses"),
        ({"second_witness_password": "wrong"}, WRONG),
        ({"second_witness": clinic["nurse"].pk}, "two witnesses must be different people"),
        ({"method": ""}, "This field is required"),
    ):
        response = director.post(url, _destroy_data(clinic, **changes))
        assert response.status_code == 200 and message in _text(response), message
    vial.refresh_from_db()
    assert vial.remaining_ml == Decimal("10.000") and _kinds() == [EntryKind.RECEIVE]


# --- 6. theft or loss -------------------------------------------------------------------


def _loss_data(
    clinic: dict[str, Any], rows: list[tuple[Any, str]], **changes: Any
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "location": clinic["slc"].pk,
        "kind": "theft",
        "discovered_at": "2026-11-20T10:00",
        "description": "Two vials missing from the med room safe at the morning count.",
        "police_report_number": "SLCPD-26-4411",
        "row-TOTAL_FORMS": "4",
        "row-INITIAL_FORMS": "0",
        "row-MIN_NUM_FORMS": "0",
        "row-MAX_NUM_FORMS": "4",
    }
    for i, (container, missing) in enumerate(rows):
        data[f"row-{i}-container"] = container.pk
        data[f"row-{i}-missing_ml"] = missing
    data.update(changes)
    return data


@pytest.mark.django_db
def test_a_theft_found_on_a_friday_is_due_to_the_dea_on_monday(clinic: dict[str, Any]) -> None:
    vials = ketamine_vials(clinic, 2)
    director = _client(clinic["director"])
    response = director.post(
        "/register/losses/new/", _loss_data(clinic, [(vials[0], "10"), (vials[1], "2.5")])
    )
    assert response.status_code == 302
    report = LossReport.objects.get()
    assert report.discovered_at == datetime(2026, 11, 20, 10, 0, tzinfo=ZoneInfo("America/Denver"))
    assert report.notice_due_on == date(2026, 11, 23)  # the next business day, a Monday
    assert report.form_106_due_on == date(2027, 1, 4)
    assert report.police_report_number == "SLCPD-26-4411" and report.kind == "theft"
    losses = LedgerEntry.objects.filter(kind=EntryKind.LOSS).order_by("sequence")
    assert [(e.container_id, e.amount_ml, e.balance_after_ml) for e in losses] == [
        (vials[0].pk, Decimal("10.000"), Decimal("0.000")),
        (vials[1].pk, Decimal("2.500"), Decimal("7.500")),
    ]
    assert all(e.detail["loss_report"] == report.pk for e in losses)
    assert Container.objects.get(pk=vials[0].pk).status == Container.Status.LOST
    assert Container.objects.get(pk=vials[1].pk).remaining_ml == Decimal("7.500")
    page = _text(director.get(response["Location"]))
    assert "Mon Nov 23, 2026" in page and "Mon Jan 4, 2027" in page
    assert "Fri Nov 20, 2026 10:00" in page and "SLCPD-26-4411" in page
    today = timezone.localdate(timezone=clinic["slc"].tz)
    notice_late = today > date(2026, 11, 23)
    assert ('<tr id="notice-deadline" class="flag">' in page) == notice_late
    assert ('<tr id="form-106-deadline" class="flag">' in page) == (today > date(2027, 1, 4))
    # The director records the notice, then the filed Form 106.
    sent = director.post(response["Location"], {"notice_sent_on": "2026-11-20"})
    assert sent.status_code == 302
    refused = director.post(response["Location"], {"form_106_filed_on": "2026-11-21"})
    assert "Enter the Form 106 confirmation number." in _text(refused)
    director.post(
        response["Location"], {"form_106_filed_on": "2026-11-21", "form_106_number": "F106-991"}
    )
    report.refresh_from_db()
    assert report.notice_sent_on == date(2026, 11, 20)
    assert (report.form_106_filed_on, report.form_106_number) == (date(2026, 11, 21), "F106-991")
    page = _text(director.get(response["Location"]))
    assert "Sent Nov 20, 2026" in page and "Filed Nov 21, 2026" in page and "flag" not in page


@pytest.mark.django_db
def test_a_refused_loss_report_saves_nothing(clinic: dict[str, Any]) -> None:
    vials = ketamine_vials(clinic, 1)
    director = _client(clinic["director"])
    future = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    for data, message in (
        (_loss_data(clinic, []), "Name at least one container"),
        (_loss_data(clinic, [(vials[0], "12")]), "has only 10.000 mL left"),
        (_loss_data(clinic, [(vials[0], "1")], description=""), "This field is required"),
        (_loss_data(clinic, [(vials[0], "1")], discovered_at=future), "cannot be in the future"),
    ):
        response = director.post("/register/losses/new/", data)
        assert response.status_code == 200 and message in _text(response), message
        assert "SLCPD-26-4411" in _text(response)
    assert LossReport.objects.count() == 0 and _kinds() == [EntryKind.RECEIVE]


# --- 7. corrections ---------------------------------------------------------------------


@pytest.mark.django_db
def test_correcting_a_draw_shows_the_patient_audited_and_reverses_it(
    clinic: dict[str, Any],
) -> None:
    vials = ketamine_vials(clinic, 1)
    session = prechecked(clinic)
    vitals(clinic["nurse"], session, 30, (128, 82))
    draw = services.draw_for_session(
        actor=clinic["nurse"], session=session, container=vials[0], amount_ml="1.5"
    )
    director = _client(clinic["director"])
    url = f"/register/entries/{draw.pk}/correct/"
    page = _text(director.get(url))
    assert "Lovelace" in page and "puts 1.5 mL back into SLC-000001" in page
    viewed = AuditEntry.objects.filter(
        actor_id=clinic["director"].pk, action="view", object_type="ledger_entry"
    ).last()
    assert viewed.patient_id == session.patient_id and viewed.object_id == str(draw.pk)
    assert _kinds().count(EntryKind.CORRECTION) == 0
    assert director.post(url, {"reason": ""}).status_code == 200
    response = director.post(url, {"reason": "Drawn from the wrong vial."})
    assert response.status_code == 302
    reversal = LedgerEntry.objects.get(kind=EntryKind.CORRECTION)
    assert reversal.reverses == draw and reversal.container_change_ml == Decimal("1.500")
    assert (
        reversal.patient_id == session.patient_id
        and reversal.reason == "Drawn from the wrong vial."
    )
    assert Container.objects.get(pk=vials[0].pk).remaining_ml == Decimal("10.000")
    again = _text(director.get(url))
    assert f"already corrected by entry #{reversal.sequence}" in again
    assert "already corrected" in _text(director.post(url, {"reason": "twice"}))
    assert LedgerEntry.objects.filter(kind=EntryKind.CORRECTION).count() == 1


@pytest.mark.django_db
def test_a_transfer_entry_is_not_corrected_on_its_own(clinic: dict[str, Any]) -> None:
    vial = ketamine_vials(clinic, 1)[0]
    out, _ = services.transfer(
        actor=clinic["director"],
        container=vial,
        to_location=clinic["boise"],
        witness=clinic["nurse"],
        witness_password=PASSWORD,
    )
    director = _client(clinic["director"])
    url = f"/register/entries/{out.pk}/correct/"
    assert "Transfer the container back instead" in _text(director.get(url))
    director.post(url, {"reason": "wrong location"})
    assert LedgerEntry.objects.filter(kind=EntryKind.CORRECTION).count() == 0


# --- who may do what --------------------------------------------------------------------


@pytest.mark.django_db
def test_manage_pages_need_the_capability_and_the_location(clinic: dict[str, Any]) -> None:
    vials = ketamine_vials(clinic, 2)
    line = _counted_short(clinic, vials)
    report = services.loss_report(
        actor=clinic["director"],
        location=clinic["slc"],
        kind="loss",
        discovered_at=timezone.now(),
        description="dropped",
        losses=[(vials[1], "1")],
    )
    entry = LedgerEntry.objects.filter(kind=EntryKind.RECEIVE).first()
    slc = clinic["slc"].pk
    pages = [
        f"/register/count/?location={slc}",
        f"/register/counts/{line.count_id}/",
        f"/register/discrepancies/{line.pk}/resolve/",
        f"/register/containers/{vials[0].pk}/transfer/",
        f"/register/containers/{vials[0].pk}/destroy/",
        f"/register/losses/new/?location={slc}",
        f"/register/losses/{report.pk}/",
        f"/register/entries/{entry.pk}/correct/",
    ]
    nurse, boise = _client(clinic["nurse"]), _client(clinic["nurse_boise"])
    director, patient = _client(clinic["director"]), _client(clinic["patient_user"])
    for url in pages:
        assert director.get(url).status_code == 200, url
        assert nurse.get(url).status_code == 403, url
        assert nurse.post(url, {"reason": "x", "resolution": "x"}).status_code == 403, url
        assert boise.get(url).status_code == 404, url
        assert boise.post(url, {"reason": "x", "resolution": "x"}).status_code == 404, url
        assert patient.get(url).status_code == 404, url
    # The nurse sees the operations page, without the director's actions.
    home = _text(nurse.get("/register/manage/"))
    assert vials[0].label in home and "Receive a delivery" in home and "Transfer" not in home
    assert vials[0].label not in _text(boise.get("/register/manage/"))
    line.refresh_from_db()
    assert line.resolved_at is None and _kinds().count(EntryKind.CORRECTION) == 0
