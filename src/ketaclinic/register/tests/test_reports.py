"""The register's dashboard, reports and inspector overview: what they carry (21 CFR 1304),
who may see them, what is audited, and that their queries do not grow with the register."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting import services as charting
from ketaclinic.charting.tests.conftest import prechecked
from ketaclinic.conftest import PASSWORD, make_course
from ketaclinic.register import selectors, services
from ketaclinic.register.models import Container, EntryKind, LedgerEntry
from ketaclinic.register.tests.conftest import ketamine_vials

PAGES = [
    "dashboard",
    "inspector",
    "entries",
    "inventory",
    "dispensing",
    "waste",
    "discrepancies",
    "biennial",
    "expiring",
]
CSV_PAGES = ["entries", "inventory", "dispensing", "waste", "discrepancies", "biennial", "expiring"]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def _dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _dose(
    clinic: dict[str, Any],
    session: Any,
    vial: Container,
    *,
    drawn: str = "1.0",
    given: str = "0.8",
    waste: bool = True,
    at: Any = None,
) -> LedgerEntry:
    """Draw for the session, give part of it, and (unless waste=False) waste the rest with
    the prescriber as witness."""
    nurse = clinic["nurse"]
    draw = services.draw_for_session(
        actor=nurse, session=session, container=vial, amount_ml=drawn, occurred_at=at
    )
    services.administer(actor=nurse, draw=draw, amount_ml=given, occurred_at=at)
    if waste:
        services.waste(
            actor=nurse,
            draw=draw,
            amount_ml=Decimal(drawn) - Decimal(given),
            witness=clinic["prescriber"],
            witness_password=PASSWORD,
        )
    return draw


def _second_session(clinic: dict[str, Any], make_patient: Any) -> Any:
    """A session for a second SLC patient, in chair 2."""
    patient = make_patient(clinic["slc"], "Katherine", "Johnson")
    course = make_course(patient, clinic["director"], first_day=timezone.localdate())
    return charting.session_check_in(
        actor=clinic["nurse"], planned=course.planned_sessions.first(), chair=2
    )


def _today(clinic: dict[str, Any]) -> str:
    return selectors.local_today(clinic["slc"]).isoformat()


@pytest.mark.django_db
def test_the_dispensing_csv_carries_every_field_of_the_record_for_the_range_only(
    clinic: dict[str, Any],
) -> None:
    vials = ketamine_vials(clinic, count=2)
    session = prechecked(clinic)
    patient = clinic["patient_slc"]
    # Ten days ago: a dose outside the range asked for.
    old = timezone.now() - timedelta(days=10)
    _dose(clinic, session, vials[1], drawn="2.0", given="1.5", waste=False, at=old)
    _dose(clinic, session, vials[0], drawn="1.0", given="0.8")
    today = _today(clinic)

    client = _client(clinic["nurse"])
    response = client.get(
        reverse("register:dispensing"), {"start": today, "end": today, "format": "csv"}
    )
    rows = _csv(response)
    assert f"slc-{today}-to-{today}.csv" in response["Content-Disposition"]
    header = rows[0]
    assert header == selectors.DISPENSING_HEADER
    for column in (
        "Date/time",
        "Kind",
        "Substance",
        "NDC",
        "Form",
        "Strength (mg/mL)",
        "Volume per container (mL)",
        "Lot",
        "Quantity (mL)",
        "Quantity (mg)",
        "Supplier name",
        "Supplier address",
        "Supplier DEA number",
        "Invoice number",
        "Patient name",
        "Patient MRN",
        "Administered by",
        "Manner or reason",
        "Witness",
        "Recorded by",
        "Hash prefix",
    ):
        assert column in header, column
    records = _dicts(rows)
    receipts = [r for r in records if r["Kind"] == "Received"]
    assert len(receipts) == 2
    receipt = receipts[0]
    assert receipt["Supplier name"] == "Mountain Medical Supply"
    assert receipt["Supplier address"] == "100 Depot St, Salt Lake City, UT 84101"
    assert receipt["Supplier DEA number"] == "PM1234563"
    assert receipt["Invoice number"] == vials[0].receipt.invoice_number
    assert receipt["NDC"] == "0409-2051-05" and receipt["Form"] == "Injection, vial"
    assert receipt["Strength (mg/mL)"] == "50.000"
    assert receipt["Volume per container (mL)"] == "10.000"
    assert receipt["Quantity (mL)"] == "10.000" and receipt["Quantity (mg)"] == "500.000"
    assert receipt["Witness"] == clinic["director"].display_name

    (given,) = [r for r in records if r["Kind"] == "Administered"]
    assert given["Patient name"] == patient.display_name == "Lovelace, Ada"
    assert given["Patient MRN"] == patient.mrn
    assert given["Administered by"] == clinic["nurse"].display_name
    assert given["Quantity (mL)"] == "0.800" and given["Quantity (mg)"] == "40.000"
    assert given["Container"] == vials[0].label and given["Lot"] == "KT24A"
    assert given["Date/time"].startswith(today)
    (wasted,) = [r for r in records if r["Kind"] == "Wasted (witnessed)"]
    assert wasted["Witness"] == clinic["prescriber"].display_name
    assert wasted["Manner or reason"] == "unused part of the drawn dose"
    (drawn,) = [r for r in records if r["Kind"] == "Drawn for a session"]
    assert drawn["Patient name"] == "Lovelace, Ada" and drawn["Quantity (mL)"] == "1.000"
    # The dose of ten days ago is outside the range.
    assert not [r for r in records if r["Container"] == vials[1].label and r["Kind"] != "Received"]
    assert all(r["Date/time"].startswith(today) for r in records)

    # ...and it is the only dose in a range of that day.
    day = (selectors.local_today(clinic["slc"]) - timedelta(days=10)).isoformat()
    old_rows = _dicts(
        _csv(
            client.get(reverse("register:dispensing"), {"start": day, "end": day, "format": "csv"})
        )
    )
    assert [(r["Kind"], r["Quantity (mL)"]) for r in old_rows] == [
        ("Drawn for a session", "2.000"),
        ("Administered", "1.500"),
    ]

    # The export is audited, naming the patient.
    export = AuditEntry.objects.filter(
        action="export", actor_id=clinic["nurse"].pk, patient_id__isnull=True
    ).first()
    assert export.detail["report"] == "dispensing"
    assert export.detail["patient_ids"] == [patient.pk]
    assert AuditEntry.objects.filter(
        action="export", patient_id=patient.pk, object_type="controlled_substance_register"
    ).exists()

    # The HTML page shows the same record and audits the patients shown.
    page = client.get(reverse("register:dispensing"), {"start": today, "end": today})
    html = page.content.decode()
    assert page.status_code == 200
    assert "PM1234563" in html and "Lovelace, Ada" in html and patient.mrn in html
    assert f"/patients/{patient.pk}/sessions/{session.pk}/" in html
    assert AuditEntry.objects.filter(action="view", patient_id=patient.pk).exists()


def _queries(client: Client, url: str, data: dict[str, str] | None = None) -> tuple[int, Any]:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, data or {})
    assert response.status_code == 200, (url, response.content[:300])
    # Whatever a page audits, it writes in one statement.
    audit_inserts = [q for q in context.captured_queries if 'INTO "audit_auditentry"' in q["sql"]]
    assert len(audit_inserts) <= 1, (url, data)
    return len(context), response


@pytest.mark.django_db
def test_report_queries_do_not_grow_with_the_register(
    clinic: dict[str, Any], make_patient: Any
) -> None:
    first = prechecked(clinic)
    few = ketamine_vials(clinic, count=2)
    _dose(clinic, first, few[0])
    _dose(clinic, first, few[1], waste=False)  # a draw left unaccounted for
    today = _today(clinic)
    pages = [
        (reverse("register:dashboard"), {}),
        (reverse("register:inventory"), {}),
        (reverse("register:inventory"), {"format": "csv"}),
        (reverse("register:dispensing"), {"start": today, "end": today}),
        (reverse("register:dispensing"), {"start": today, "end": today, "format": "csv"}),
        (reverse("register:dispensing"), {}),
        (reverse("register:waste"), {}),
        (reverse("register:waste"), {"format": "csv"}),
        (reverse("register:entries"), {}),
        (reverse("register:entries"), {"page": "2"}),
        (reverse("register:entries"), {"kind": EntryKind.DRAW}),
        (reverse("register:entries"), {"format": "csv"}),
        (reverse("register:biennial"), {}),
        (reverse("register:expiring"), {}),
        (reverse("register:inspector"), {}),
    ]
    client = _client(clinic["nurse"])
    director = _client(clinic["director"])
    call_command("ledger", "verify", stdout=io.StringIO())  # the inspector shows its result
    for each in (client, director):
        each.get(reverse("register:dashboard"))  # the first request may touch the session
    small = {}
    for url, data in pages:
        who = director if "inspection" in url else client
        small[(url, tuple(data.items()))] = _queries(who, url, data)[0]
        assert _queries(who, url, data)[0] == small[(url, tuple(data.items()))], url

    # Many: 40 containers, each drawn from and given; every third dose's rest wasted, the
    # others left to account for; doses split between two patients.
    second = _second_session(clinic, make_patient)
    many = ketamine_vials(clinic, count=38)
    for index, vial in enumerate(many):
        _dose(clinic, (first, second)[index % 2], vial, waste=index % 3 == 0)
    assert LedgerEntry.objects.filter(location=clinic["slc"]).count() > 130

    for url, data in pages:
        who = director if "inspection" in url else client
        large, response = _queries(who, url, data)
        key = (url, tuple(data.items()))
        assert large == small[key], f"{url} {data}: {small[key]} queries few, {large} many"
        if data.get("format") == "csv":
            rows = _csv(response)
            if "dispensing" in url:
                assert (
                    len(rows) - 1
                    == LedgerEntry.objects.filter(
                        location=clinic["slc"], kind__in=selectors.DISPENSING_KINDS
                    ).count()
                )
            if "inventory" in url:
                assert len(rows) - 1 == 40
            if "entries" in url:  # the CSV has every entry, not one page
                assert len(rows) - 1 == LedgerEntry.objects.filter(location=clinic["slc"]).count()
    dashboard = client.get(reverse("register:dashboard")).content.decode()
    assert dashboard.count("/sessions/") >= 20  # the unaccounted draws, linked
    # Both patients shown were audited, each on their own access history.
    viewed = AuditEntry.objects.filter(action="view", detail__report="dashboard")
    assert {e.patient_id for e in viewed} == {first.patient_id, second.patient_id}


@pytest.mark.django_db
def test_a_nurse_of_another_location_sees_none_of_its_rows(clinic: dict[str, Any]) -> None:
    vials = ketamine_vials(clinic, count=2)
    session = prechecked(clinic)
    _dose(clinic, session, vials[0], waste=False)
    ketamine_vials(clinic, count=1, location=clinic["boise"])
    boise = _client(clinic["nurse_boise"])
    today = _today(clinic)
    for name in [p for p in PAGES if p != "inspector"]:
        url = reverse(f"register:{name}")
        html = boise.get(url, {"start": today, "end": today}).content.decode()
        assert "SLC-0000" not in html and "Lovelace" not in html, name
        assert "Boise Clinic" in html, name
        if name in ("inventory", "entries", "biennial", "dispensing"):
            assert "BOISE-000001" in html, name
        # Asking for SLC by its id is refused.
        assert boise.get(url, {"location": clinic["slc"].pk}).status_code == 404, name
    for name in CSV_PAGES:
        content = boise.get(reverse(f"register:{name}"), {"format": "csv"}).content.decode()
        assert "SLC-0000" not in content and "Lovelace" not in content, name
    # The SLC nurse sees SLC's, and may pick only among her own locations.
    slc = _client(clinic["nurse"]).get(reverse("register:dashboard")).content.decode()
    assert "SLC-000001" in slc and "Lovelace, Ada" in slc
    assert "BOISE-000001" not in slc


@pytest.mark.django_db
def test_patients_coordinators_and_anonymous_users_reach_no_register_page(
    clinic: dict[str, Any],
) -> None:
    ketamine_vials(clinic, count=1)
    for who in ("patient_user", "coordinator", "admin"):
        client = _client(clinic[who])
        for name in PAGES:
            for data in ({}, {"format": "csv"}):
                response = client.get(reverse(f"register:{name}"), data)
                assert response.status_code == 403, (who, name, data)
    anonymous = Client()
    for name in PAGES:
        response = anonymous.get(reverse(f"register:{name}"))
        assert response.status_code == 302 and "login" in response["Location"], name
    # The inspector's overview is the medical director's.
    assert _client(clinic["nurse"]).get(reverse("register:inspector")).status_code == 403
    assert _client(clinic["prescriber"]).get(reverse("register:inspector")).status_code == 403


@pytest.mark.django_db
def test_bad_dates_and_days_are_explained_not_crashed_on(clinic: dict[str, Any]) -> None:
    ketamine_vials(clinic, count=1)
    client = _client(clinic["nurse"])
    for name in ("dispensing", "waste", "discrepancies"):
        url = reverse(f"register:{name}")
        response = client.get(url, {"start": "2026-13-01", "end": "2026-01-31"})
        html = response.content.decode()
        assert response.status_code == 200, name
        assert "Enter the start date as year-month-day, for example 2026-03-01." in html
        assert '<form method="get"' in html and 'name="start"' in html
        response = client.get(url, {"start": "2026-03-10", "end": "2026-03-01"})
        html = response.content.decode()
        assert response.status_code == 200
        assert "The start date (2026-03-10) is after the end date (2026-03-01)" in html
        assert client.get(url, {"start": "yesterday", "format": "csv"}).status_code == 400
        assert client.get(url, {"end": "9999-12-31"}).status_code == 200
        assert client.get(url, {"start": "0001-01-01"}).status_code == 200
    expiring = reverse("register:expiring")
    for days in ("0", "731", "ninety"):
        response = client.get(expiring, {"days": days})
        assert response.status_code == 200
        assert "Enter a whole number of days from 1 to 730." in response.content.decode()
    entries = client.get(reverse("register:entries"), {"sequence": "x"})
    assert entries.status_code == 200 and "Enter an entry number" in entries.content.decode()


@pytest.mark.django_db
def test_the_default_range_is_the_last_30_days(clinic: dict[str, Any]) -> None:
    ketamine_vials(clinic, count=1)
    html = _client(clinic["nurse"]).get(reverse("register:dispensing")).content.decode()
    today = selectors.local_today(clinic["slc"])
    start = today - timedelta(days=29)
    assert f'value="{start.isoformat()}"' in html and f'value="{today.isoformat()}"' in html
    assert "SLC-000001" in html


@pytest.mark.django_db
def test_the_dashboard_shows_stock_deadlines_and_what_needs_doing(clinic: dict[str, Any]) -> None:
    director, nurse = clinic["director"], clinic["nurse"]
    vials = ketamine_vials(clinic, count=3)
    Container.objects.filter(pk=vials[2].pk).update(
        expires_on=selectors.local_today(clinic["slc"]) + timedelta(days=20), lot_number="SOON1"
    )
    session = prechecked(clinic)
    draw = _dose(clinic, session, vials[0], drawn="1.5", given="1.0", waste=False)
    client = _client(nurse)
    html = client.get(reverse("register:dashboard")).content.decode()
    assert "Stock by product" in html and "30.000" not in html  # 8.5 + 10 + 10 mL
    assert "28.500" in html and "1425.000" in html  # mL and mg at 50 mg/mL
    assert f"/patients/{session.patient_id}/sessions/{session.pk}/" in html
    assert "0.500" in html  # not accounted for
    assert "SOON1" in html
    assert "None yet: the initial inventory is due." in html
    assert "No open discrepancies." in html
    assert "No theft or loss report is waiting on the DEA." in html
    for name in ("inventory", "dispensing", "waste", "discrepancies", "biennial", "expiring"):
        assert reverse(f"register:{name}") in html, name
    assert reverse("register:inspector") not in html  # only for the director
    view = AuditEntry.objects.filter(action="view", patient_id=session.patient_id).last()
    assert view.detail["report"] == "dashboard"

    # A biennial inventory that finds one vial short, and a loss discovered long ago.
    services.count_record(
        actor=director,
        location=clinic["slc"],
        kind="biennial",
        witness=nurse,
        witness_password=PASSWORD,
        counted=[
            (vials[0], Container.objects.get(pk=vials[0].pk).remaining_ml, True),
            (vials[1], "9.5", False),
            (vials[2], "10", False),
        ],
    )
    services.loss_report(
        actor=director,
        location=clinic["slc"],
        kind="loss",
        discovered_at=timezone.now() - timedelta(days=60),
        description="Vial found cracked in the safe",
        losses=[(vials[2], "1")],
    )
    services.administer(actor=nurse, draw=draw, amount_ml="0.5")
    html = client.get(reverse("register:dashboard")).content.decode()
    assert "Every draw is accounted for." in html
    assert "None yet" not in html and "due by" in html
    assert "Open discrepancies" in html and "-0.500" in html
    assert html.count("Overdue: was due") == 2  # the notice and Form 106, both late
    discrepancies = client.get(reverse("register:discrepancies")).content.decode()
    assert vials[1].label in discrepancies and "Open" in discrepancies
    rows = _dicts(_csv(client.get(reverse("register:discrepancies"), {"format": "csv"})))
    assert [(r["Container"], r["Difference (mL)"], r["Status"]) for r in rows] == [
        (vials[1].label, "-0.500", "open")
    ]


@pytest.mark.django_db
def test_inventory_waste_biennial_and_expiring_reports(clinic: dict[str, Any]) -> None:
    location = clinic["slc"]
    location.dea_registration_number = "BS1234563"
    location.save()
    vials = ketamine_vials(clinic, count=3)
    session = prechecked(clinic)
    _dose(clinic, session, vials[0], drawn="10", given="9.5")  # empties the vial
    client = _client(clinic["nurse"])

    inventory = _dicts(_csv(client.get(reverse("register:inventory"), {"format": "csv"})))
    assert [r["Container"] for r in inventory] == [v.label for v in vials]
    first = inventory[0]
    assert first["Status"] == "Empty" and first["Remaining (mL)"] == "0.000"
    assert inventory[1]["Remaining (mg)"] == "500.000" and inventory[1]["Safe"] == "Med room safe"
    in_stock = client.get(reverse("register:inventory"), {"in_stock": "on"}).content.decode()
    assert vials[0].label not in in_stock and vials[1].label in in_stock

    waste = _dicts(_csv(client.get(reverse("register:waste"), {"format": "csv"})))
    assert len(waste) == 1
    assert waste[0]["Patient name"] == "Lovelace, Ada"
    assert waste[0]["Drawn by"] == clinic["nurse"].display_name
    assert waste[0]["Witness"] == clinic["prescriber"].display_name
    assert waste[0]["Quantity (mL)"] == "0.500" and waste[0]["Quantity (mg)"] == "25.000"

    sheet = client.get(reverse("register:biennial")).content.decode()
    assert "BS1234563" in sheet and "Opening of business" in sheet
    assert "Closing of business" in sheet and "1 Main St" in sheet
    assert vials[0].label not in sheet and vials[1].label in sheet and vials[2].label in sheet
    rows = _csv(client.get(reverse("register:biennial"), {"format": "csv"}))
    assert rows[0] == selectors.BIENNIAL_HEADER
    assert [r[1] for r in rows[1:]] == [vials[1].label, vials[2].label]
    assert all(r[-3:] == ["", "", ""] for r in rows[1:])

    Container.objects.filter(pk=vials[1].pk).update(
        expires_on=selectors.local_today(location) + timedelta(days=100)
    )
    assert vials[1].label  # lots, not containers, are listed
    listed = client.get(reverse("register:expiring"), {"days": "120"}).content.decode()
    assert "KT24A" in listed and "in 100 days" in listed
    assert "No lot at SLC expires" in client.get(reverse("register:expiring")).content.decode()


@pytest.mark.django_db
def test_the_entries_page_filters_and_links_reversals(clinic: dict[str, Any]) -> None:
    vials = ketamine_vials(clinic, count=2)
    session = prechecked(clinic)
    draw = services.draw_for_session(
        actor=clinic["nurse"], session=session, container=vials[1], amount_ml="2"
    )
    fix = services.correction(actor=clinic["director"], entry=draw, reason="wrong vial")
    client = _client(clinic["nurse"])
    html = client.get(reverse("register:entries")).content.decode()
    assert html.index(f'id="entry-{fix.sequence}"') < html.index(f'id="entry-{draw.sequence}"')
    assert "reversed by <a" in html and f"sequence={fix.sequence}" in html
    assert "wrong vial" in html
    only = client.get(reverse("register:entries"), {"container": vials[0].label}).content.decode()
    assert vials[0].label in only and f'id="entry-{draw.sequence}"' not in only
    kind = client.get(reverse("register:entries"), {"kind": EntryKind.CORRECTION}).content.decode()
    assert f'id="entry-{fix.sequence}"' in kind and f'id="entry-{draw.sequence}"' not in kind
    rows = _dicts(_csv(client.get(reverse("register:entries"), {"format": "csv"})))
    assert rows[0]["Correction"] == f"reverses #{draw.sequence}"
    assert len(rows[0]["Entry hash"]) == 64


@pytest.mark.django_db
def test_the_inspector_overview_is_read_only_and_shows_the_chain(clinic: dict[str, Any]) -> None:
    ketamine_vials(clinic, count=2)
    client = _client(clinic["director"])
    inspector = reverse("register:inspector")
    html = client.get(inspector, {"location": clinic["slc"].pk}).content.decode()
    assert "The whole register has not been verified yet." in html
    # The full walk is the command's; the page shows its last recorded result.
    call_command("ledger", "verify", stdout=io.StringIO())
    response = client.get(inspector, {"location": clinic["slc"].pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert "The register was intact at the last full check" in html
    assert "all 2 entries of every location were checked" in html
    assert "Entries #1 to #2." in html
    ketamine_vials(clinic, count=1)
    later = client.get(inspector, {"location": clinic["slc"].pk}).content.decode()
    assert "Entries #1 to #2; 1 entry written since" in later
    assert "SLC Clinic" in html and "1 Main St" in html and "20.000" in html
    article = html[html.index("<article") : html.index("</article>")]
    assert "<form" not in article and "<button" not in article and 'method="post"' not in article
    for name in ("inventory", "dispensing", "waste", "discrepancies", "biennial", "expiring"):
        assert reverse(f"register:{name}") in article, name
    # The director sees every location, Boise included.
    assert f"?location={clinic['boise'].pk}" in article
    dashboard = client.get(reverse("register:dashboard")).content.decode()
    assert reverse("register:inspector") in dashboard


@pytest.mark.django_db
def test_a_nurse_without_a_location_is_told_so(clinic: dict[str, Any], make_user: Any) -> None:
    from ketaclinic.accounts.roles import Role

    nurse = make_user(Role.NURSE, [clinic["boise"]])
    clinic["boise"].is_active = False  # her only location closed
    clinic["boise"].save()
    client = _client(nurse)
    for name in [p for p in PAGES if p != "inspector"]:
        response = client.get(reverse(f"register:{name}"))
        assert response.status_code == 200, name
        assert "You are not assigned to a clinic location." in response.content.decode()


@pytest.mark.django_db
def test_pages_read_one_page_of_entries_whatever_the_size_of_the_register(
    clinic: dict[str, Any], make_patient: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No page loads the whole register: at most one page of entries is read from the
    database (counted as model instances built), the pager says "page N of M", and the
    pages of the entries list together hold every entry once, newest first."""
    from django.db.models.signals import post_init

    from ketaclinic.register import views_reports

    monkeypatch.setattr(views_reports, "PAGE_SIZE", 7)
    first = prechecked(clinic)
    second = _second_session(clinic, make_patient)
    vials = ketamine_vials(clinic, count=12)
    for index, vial in enumerate(vials):
        _dose(clinic, (first, second)[index % 2], vial, waste=index % 2 == 0)
    location = clinic["slc"]
    total = LedgerEntry.objects.filter(location=location).count()
    assert total > 40
    client = _client(clinic["director"])
    call_command("ledger", "verify", stdout=io.StringIO())

    built: list[int] = []

    def count(sender: Any, instance: Any, **kwargs: Any) -> None:
        built.append(instance.pk)

    post_init.connect(count, sender=LedgerEntry)
    try:
        pages = [
            (reverse("register:dashboard"), {}, 0),
            (reverse("register:inspector"), {}, 0),
            (reverse("register:dispensing"), {}, 7),
            (reverse("register:waste"), {}, 7),
            (reverse("register:entries"), {}, 7),
            (reverse("register:entries"), {"page": "3"}, 7),
            (reverse("register:entries"), {"kind": EntryKind.DRAW}, 7),
        ]
        for url, data, rows in pages:
            built.clear()
            response = client.get(url, {"location": location.pk, **data})
            assert response.status_code == 200, url
            # A page's own rows, each with the entry it reverses (select_related), and
            # for the dashboard the open draws (fewer than a page here); never the register.
            limit = max(rows * 2, 1) + 12
            assert len(built) <= limit, f"{url} {data}: {len(built)} entries read"
            if rows:
                assert "Page " in response.content.decode(), (url, data)
    finally:
        post_init.disconnect(count, sender=LedgerEntry)

    pages_count = -(-total // 7)
    seen: list[int] = []
    for number in range(1, pages_count + 1):
        html = client.get(
            reverse("register:entries"), {"location": location.pk, "page": str(number)}
        ).content.decode()
        assert f"Page {number} of {pages_count}" in html
        shown = [int(part.split('"')[0]) for part in html.split('id="entry-')[1:]]
        assert len(shown) == (7 if number < pages_count else total - 7 * (pages_count - 1))
        if number < pages_count:
            assert f"page={number + 1}" in html
        seen.extend(shown)
    assert seen == list(range(total, 0, -1))
    # Out of range: the last page, as the Paginator does.
    last = client.get(
        reverse("register:entries"), {"location": location.pk, "page": "999"}
    ).content.decode()
    assert f"Page {pages_count} of {pages_count}" in last
