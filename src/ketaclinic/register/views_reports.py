"""The register's read-only pages: the dashboard, the reports (HTML to print, CSV to keep)
and the overview a medical director opens for a DEA inspector.

Every page shows one of the user's locations (`?location=`, else the location chosen in the
switcher, else the first). Reports naming patients audit the patients shown (VIEW) or
exported (EXPORT) in one bulk write. Reads live in register.selectors.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.text import slugify

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import current_location_id, locations_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record_events
from ketaclinic.organization.models import Location
from ketaclinic.register import selectors
from ketaclinic.register.models import EntryKind
from ketaclinic.register.services import chain_tip_check

PAGE_SIZE = 50
DEFAULT_DAYS = 30
NAV = "controlled_substances"
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)


# --- filters ----------------------------------------------------------------------------


def _date_field(label: str) -> forms.DateField:
    return forms.DateField(
        label=label,
        required=False,
        input_formats=["%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "invalid": f"Enter the {label.lower()} as year-month-day, for example 2026-03-01."
        },
    )


class RangeForm(forms.Form):
    """A period of whole days in the location's time zone (default: the last 30 days)."""

    start = _date_field("Start date")
    end = _date_field("End date")

    def __init__(self, data: Any, *, today: date) -> None:
        data = data.copy()
        if not data.get("end"):
            data["end"] = today.isoformat()
        if not data.get("start"):
            try:
                end = date.fromisoformat(data["end"])
            except ValueError:
                end = today
            data["start"] = (end - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        super().__init__(data)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None or end is None:
            return cleaned
        for day in (start, end):
            if not EARLIEST <= day <= LATEST:
                raise forms.ValidationError(
                    f"{day:%Y-%m-%d} is out of range: enter dates between 1900 and 2999."
                )
        if start > end:
            raise forms.ValidationError(
                f"The start date ({start:%Y-%m-%d}) is after the end date ({end:%Y-%m-%d}): "
                "choose a start on or before the end."
            )
        return cleaned


class DaysForm(forms.Form):
    days = forms.IntegerField(
        label="Expiring within (days)",
        min_value=1,
        max_value=730,
        error_messages={
            "invalid": "Enter a whole number of days from 1 to 730.",
            "min_value": "Enter a whole number of days from 1 to 730.",
            "max_value": "Enter a whole number of days from 1 to 730.",
            "required": "Enter a whole number of days from 1 to 730.",
        },
    )

    def __init__(self, data: Any) -> None:
        data = data.copy()
        if not data.get("days"):
            data["days"] = str(selectors.EXPIRY_DAYS_DEFAULT)
        super().__init__(data)


class InventoryForm(forms.Form):
    in_stock = forms.BooleanField(label="Only containers with volume left", required=False)


class EntriesForm(forms.Form):
    container = forms.CharField(label="Container label", required=False, max_length=20)
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "Any kind"), *EntryKind.choices]
    )
    sequence = forms.IntegerField(
        label="Entry number",
        required=False,
        min_value=1,
        error_messages={"invalid": "Enter an entry number (a whole number)."},
    )


# --- helpers ----------------------------------------------------------------------------


def _location(request: HttpRequest) -> tuple[Location | None, list[Location]]:
    """The location the page shows: ?location= (one of the user's, else 404), else the
    switcher's choice, else the user's first location."""
    locations = list(locations_for(request.user))
    wanted = request.GET.get("location", "")
    if wanted:
        for location in locations:
            if str(location.pk) == wanted:
                return location, locations
        raise Http404("That is not one of your locations.")
    chosen = current_location_id(request, locations)
    for location in locations:
        if location.pk == chosen:
            return location, locations
    return (locations[0] if locations else None), locations


def _wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def _page(request: HttpRequest, rows: Any) -> Page:
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _cell(value: Any) -> Any:
    """Keep spreadsheet programs from running text that looks like a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _csv(filename: str, header: list[str], rows: Iterable[list[Any]]) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return response


def _filename(report: str, location: Location, *days: date) -> str:
    span = "-to-".join(d.isoformat() for d in days)
    return f"controlled-substances-{report}-{slugify(location.short_name)}-{span}.csv"


def _audit(
    request: HttpRequest,
    *,
    action: AuditAction,
    report: str,
    location: Location,
    patient_ids: list[int],
    **detail: Any,
) -> None:
    """One bulk write: per patient shown or exported, an entry on their access history;
    for an export, also one entry naming the report and every patient in it."""
    base = {"report": report, "location": location.short_name, **detail}
    events = [
        AuditEvent(
            action=action,
            patient_id=pid,
            object_type="controlled_substance_register",
            object_id=location.pk,
            detail=base,
        )
        for pid in patient_ids
    ]
    if action == AuditAction.EXPORT:
        events.insert(
            0,
            AuditEvent(
                action=action,
                object_type="controlled_substance_register",
                object_id=location.pk,
                detail={**base, "format": "csv", "patient_ids": patient_ids},
            ),
        )
    audit_record_events(actor=request.user, events=events)


def _render(
    request: HttpRequest,
    template: str,
    location: Location | None,
    locations: list[Location],
    status: int = 200,
    **context: Any,
) -> HttpResponse:
    today = selectors.local_today(location) if location else timezone.localdate()
    return render(
        request,
        template,
        {
            "location": location,
            "locations": locations,
            "today": today,
            "now": timezone.now(),
            "nav_section": NAV,
            **context,
        },
        status=status,
    )


def _no_location(request: HttpRequest, locations: list[Location], title: str) -> HttpResponse:
    return _render(request, "register/report_no_location.html", None, locations, title=title)


def _ranged(request: HttpRequest, location: Location) -> tuple[RangeForm, tuple[Any, Any] | None]:
    form = RangeForm(request.GET, today=selectors.local_today(location))
    if not form.is_valid():
        return form, None
    start, end = form.cleaned_data["start"], form.cleaned_data["end"]
    return form, selectors.day_bounds(start, end, location.tz)


def _invalid(
    request: HttpRequest,
    template: str,
    location: Location,
    locations: list[Location],
    form: forms.Form,
    title: str,
) -> HttpResponse:
    """A report asked for with filters that do not make sense: the form with its message
    (400 for a CSV download, which cannot show it)."""
    return _render(
        request,
        template,
        location,
        locations,
        status=400 if _wants_csv(request) else 200,
        filters=form,
        title=title,
        page=None,
    )


# --- the dashboard and the inspector's overview ----------------------------------------


@capability_required("register.view")
def dashboard(request: HttpRequest) -> HttpResponse:
    location, locations = _location(request)
    if location is None:
        return _no_location(request, locations, "Controlled substances")
    today = selectors.local_today(location)
    draws = list(selectors.unaccounted_draws(location))
    shown = selectors.patient_ids(draws)
    if shown:
        _audit(
            request,
            action=AuditAction.VIEW,
            report="dashboard",
            location=location,
            patient_ids=shown,
        )
    containers = selectors.stock_containers(location)
    balances = selectors.stock_balances(location)
    return _render(
        request,
        "register/dashboard.html",
        location,
        locations,
        title="Controlled substances",
        balances=balances,
        stock_total=sum(b.containers for b in balances),
        containers=list(containers[:PAGE_SIZE]),
        expiring=selectors.expiring_lots(location, days=selectors.EXPIRY_DAYS_DEFAULT, today=today),
        expiry_days=selectors.EXPIRY_DAYS_DEFAULT,
        discrepancies=list(selectors.open_discrepancies(location)[:PAGE_SIZE]),
        counts=selectors.count_status(location, today),
        losses=selectors.open_loss_reports(location, today),
        draws=draws,
    )


@capability_required("register.manage")
def inspector(request: HttpRequest) -> HttpResponse:
    location, locations = _location(request)
    if location is None:
        return _no_location(request, locations, "Register overview for inspection")
    today = selectors.local_today(location)
    two_years_ago = selectors.add_years(today, -2)
    # The full walk of the chains is `ketaclinic ledger verify` (run on a schedule): its last
    # result is shown, with how many entries were written here since. Walking every entry on
    # each view would grow with the register.
    head = selectors.chain_head(location)
    verification = selectors.last_verification()
    verified_up_to = unverified = None
    if verification is not None:
        verified_up_to = verification.sequences.get(str(location.pk), 0)
        unverified = max((head.last_sequence if head else 0) - verified_up_to, 0)
    return _render(
        request,
        "register/inspector.html",
        location,
        locations,
        title="Register overview for inspection",
        verification=verification,
        verified_up_to=verified_up_to,
        unverified=unverified,
        tip_problem=chain_tip_check(location, head),
        head=head,
        balances=selectors.stock_balances(location),
        counts=selectors.count_status(location, today),
        losses=selectors.open_loss_reports(location, today),
        two_years_ago=two_years_ago,
        range_query=f"&start={two_years_ago.isoformat()}&end={today.isoformat()}",
    )


# --- reports ----------------------------------------------------------------------------


@capability_required("register.view")
def inventory(request: HttpRequest) -> HttpResponse:
    title, template = "Perpetual inventory", "register/report_inventory.html"
    location, locations = _location(request)
    if location is None:
        return _no_location(request, locations, title)
    form = InventoryForm(request.GET)
    form.is_valid()
    containers = selectors.inventory(location, in_stock_only=form.cleaned_data.get("in_stock"))
    if _wants_csv(request):
        _audit(
            request,
            action=AuditAction.EXPORT,
            report="inventory",
            location=location,
            patient_ids=[],
        )
        return _csv(
            _filename("inventory", location, selectors.local_today(location)),
            selectors.INVENTORY_HEADER,
            selectors.inventory_rows(containers.iterator(chunk_size=2000)),
        )
    return _render(
        request,
        template,
        location,
        locations,
        title=title,
        filters=form,
        page=_page(request, containers),
        balances=selectors.stock_balances(location),
    )


def _ranged_report(
    request: HttpRequest,
    *,
    report: str,
    title: str,
    rows_between: Callable[..., Any],
    header: list[str],
    csv_rows: Callable[..., Iterable[list[Any]]],
    with_patients: bool = True,
) -> HttpResponse:
    """A report over a date range: the page (50 rows, audited for each patient shown) or
    the whole range as CSV (an EXPORT naming every patient in it)."""
    template = f"register/report_{report}.html"
    location, locations = _location(request)
    if location is None:
        return _no_location(request, locations, title)
    form, bounds = _ranged(request, location)
    if bounds is None:
        return _invalid(request, template, location, locations, form, title)
    rows = rows_between(location, *bounds)
    period = {"start": form.cleaned_data["start"], "end": form.cleaned_data["end"]}
    if _wants_csv(request):
        _audit(
            request,
            action=AuditAction.EXPORT,
            report=report,
            location=location,
            patient_ids=selectors.patient_ids_of(rows) if with_patients else [],
            **period,
        )
        return _csv(
            _filename(report, location, period["start"], period["end"]),
            header,
            csv_rows(rows.iterator(chunk_size=2000), location.tz),
        )
    page = _page(request, rows)
    shown = selectors.patient_ids(page) if with_patients else []
    if shown:
        _audit(
            request,
            action=AuditAction.VIEW,
            report=report,
            location=location,
            patient_ids=shown,
            page=page.number,
            **period,
        )
    extra = {}
    if report == "dispensing":
        products = {e.container.product_id: e.container.product for e in page}
        extra["products"] = sorted(products.values(), key=lambda p: p.name)
    return _render(
        request,
        template,
        location,
        locations,
        title=title,
        filters=form,
        page=page,
        **period,
        **extra,
    )


@capability_required("register.view")
def dispensing(request: HttpRequest) -> HttpResponse:
    return _ranged_report(
        request,
        report="dispensing",
        title="Dispensing and administration record",
        rows_between=selectors.dispensing_record,
        header=selectors.DISPENSING_HEADER,
        csv_rows=selectors.dispensing_rows,
    )


@capability_required("register.view")
def waste(request: HttpRequest) -> HttpResponse:
    return _ranged_report(
        request,
        report="waste",
        title="Waste log",
        rows_between=selectors.waste_log,
        header=selectors.WASTE_HEADER,
        csv_rows=selectors.waste_rows,
    )


@capability_required("register.view")
def discrepancies(request: HttpRequest) -> HttpResponse:
    return _ranged_report(
        request,
        report="discrepancies",
        title="Count discrepancies",
        rows_between=selectors.discrepancies_between,
        header=selectors.DISCREPANCY_HEADER,
        csv_rows=selectors.discrepancy_rows,
        with_patients=False,
    )


@capability_required("register.view")
def biennial(request: HttpRequest) -> HttpResponse:
    """The worksheet for the biennial inventory: every container with volume, on one page
    so the printed sheet is complete."""
    title = "Biennial inventory worksheet"
    location, locations = _location(request)
    if location is None:
        return _no_location(request, locations, title)
    containers = selectors.biennial_worksheet(location)
    today = selectors.local_today(location)
    if _wants_csv(request):
        _audit(
            request, action=AuditAction.EXPORT, report="biennial", location=location, patient_ids=[]
        )
        return _csv(
            _filename("biennial", location, today),
            selectors.BIENNIAL_HEADER,
            selectors.biennial_rows(containers.iterator(chunk_size=2000)),
        )
    return _render(
        request,
        "register/report_biennial.html",
        location,
        locations,
        title=title,
        containers=list(containers),
        counts=selectors.count_status(location, today),
    )


@capability_required("register.view")
def expiring(request: HttpRequest) -> HttpResponse:
    title, template = "Expiring lots", "register/report_expiring.html"
    location, locations = _location(request)
    if location is None:
        return _no_location(request, locations, title)
    form = DaysForm(request.GET)
    if not form.is_valid():
        return _invalid(request, template, location, locations, form, title)
    days = form.cleaned_data["days"]
    today = selectors.local_today(location)
    lots = selectors.expiring_lots(location, days=days, today=today)
    if _wants_csv(request):
        _audit(
            request,
            action=AuditAction.EXPORT,
            report="expiring",
            location=location,
            patient_ids=[],
            days=days,
        )
        return _csv(
            _filename("expiring", location, today),
            selectors.EXPIRING_HEADER,
            selectors.expiring_rows(lots),
        )
    return _render(
        request,
        template,
        location,
        locations,
        title=title,
        filters=form,
        page=_page(request, lots),
        days=days,
        until=today + timedelta(days=days),
    )


@capability_required("register.view")
def entries(request: HttpRequest) -> HttpResponse:
    title, template = "Register entries", "register/report_entries.html"
    location, locations = _location(request)
    if location is None:
        return _no_location(request, locations, title)
    form = EntriesForm(request.GET)
    if not form.is_valid():
        return _invalid(request, template, location, locations, form, title)
    data = form.cleaned_data
    rows = selectors.ledger_entries(
        location,
        container=data["container"].strip(),
        kind=data["kind"],
        sequence=data["sequence"],
    )
    if _wants_csv(request):
        _audit(
            request, action=AuditAction.EXPORT, report="entries", location=location, patient_ids=[]
        )
        return _csv(
            _filename("entries", location, selectors.local_today(location)),
            selectors.ENTRIES_HEADER,
            selectors.entries_rows(rows.iterator(chunk_size=2000), location.tz),
        )
    head = selectors.chain_head(location)
    filtered = data["container"].strip() or data["kind"] or data["sequence"] is not None
    if not filtered:
        # The whole register: pages are sequence ranges (no COUNT, no OFFSET), see SequencePages.
        rows = selectors.SequencePages(rows, head.last_sequence if head else 0)
    return _render(
        request,
        template,
        location,
        locations,
        title=title,
        filters=form,
        page=_page(request, rows),
        head=head,
    )
