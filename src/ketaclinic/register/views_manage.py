"""The director's stock operations on the register: receiving deliveries, counts and their
discrepancies, transfers, destruction, theft or loss, and corrections.

Thin views over register.services, which check the rules, write the ledger and the audit
log. Every page: login; the container, entry, count line or report must be at one of the
user's locations (404 otherwise, before anything else is said about it); then the role's
capability (403). A destructive step (transfer, destruction, correction) is shown first by
a GET and only done by the POST. Bad input re-renders the form with what was typed
(passwords excepted) and nothing saved.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from ketaclinic.accounts.selectors import chosen_location_id, locations_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.organization.models import Location
from ketaclinic.register import forms_manage as forms
from ketaclinic.register import services
from ketaclinic.register.models import (
    Container,
    CountLine,
    EntryKind,
    InventoryCount,
    LedgerEntry,
    LossReport,
)

# The read side's pages (urls_reports), linked from here; the path is used while a name
# does not resolve.
REPORT_PAGES = {
    "dashboard": "/register/",
    "inventory": "/register/reports/inventory/",
    "discrepancies": "/register/reports/discrepancies/",
    "entries": "/register/entries/",
}
# A transfer is one pair of entries that moved the container itself: correcting only one
# of them would leave the stock on both registers or on neither.
NOT_CORRECTED_HERE = (EntryKind.TRANSFER_OUT, EntryKind.TRANSFER_IN)


# --- scoping ----------------------------------------------------------------------------


def _need(request: HttpRequest, capability: str) -> None:
    if not request.user.can(capability):  # type: ignore[union-attr]
        raise PermissionDenied(f"Your role may not do this ({capability}).")


def _location(request: HttpRequest) -> tuple[Location, list[Location]]:
    """The location asked for (`location` in the query or form), else the one chosen in the
    switcher, else the user's first; 404 when asked for one that is not theirs."""
    locations = list(locations_for(request.user).order_by("name"))
    wanted = request.POST.get("location") or request.GET.get("location")
    if wanted:
        for location in locations:
            if str(location.pk) == str(wanted):
                return location, locations
        raise Http404("No such location among yours.")
    chosen = chosen_location_id(request)
    for location in locations:
        if location.pk == chosen:
            return location, locations
    if not locations:
        raise Http404("You have no location.")
    return locations[0], locations


def _container(request: HttpRequest, container_id: int) -> Container:
    return get_object_or_404(
        Container.objects.select_related("product", "location__organization", "safe"),
        pk=container_id,
        location__in=locations_for(request.user),
    )


def _reports(location: Location) -> dict[str, str]:
    links = {}
    for name, path in REPORT_PAGES.items():
        try:
            links[name] = reverse(f"register:{name}")
        except NoReverseMatch:
            links[name] = path
    return {name: f"{url}?location={location.pk}" for name, url in links.items()}


def _home(location: Location) -> str:
    return f"{reverse('register:manage_home')}?location={location.pk}"


def _page(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    location = context["location"]
    return render(
        request,
        f"register/{template}",
        {
            **context,
            "reports": _reports(location),
            "stock_url": _home(location),
            # The layout's navigation: these pages are the register's, not patient
            # registration's (the namespace is also called "register").
            "nav_section": "controlled_substances",
            "today": timezone.localdate(timezone=location.tz),
        },
    )


def _ml(value: Decimal) -> str:
    """10.000 -> "10", 2.500 -> "2.5" (never "1E+1")."""
    return f"{value.normalize():f}"


def _day(day: Any) -> str:
    return f"{day:%a %b} {day.day}, {day.year}"


def _error(form: Any, error: ValidationError) -> None:
    form.add_error(None, error)


# --- the operations page ----------------------------------------------------------------


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Stock at one location with what may be done with it, and the latest entries
    (without patients: the reports show those, audited)."""
    location, locations = _location(request)
    _need(request, "register.view")
    entries = (
        LedgerEntry.objects.filter(location=location)
        .select_related("container__product")
        .order_by("-sequence")[:15]
    )
    return _page(
        request,
        "manage_home.html",
        {
            "location": location,
            "locations": locations,
            "containers": list(forms.stock_at(location)),
            "entries": list(entries),
            "counts": list(InventoryCount.objects.filter(location=location)[:5]),
            "losses": list(LossReport.objects.filter(location=location)[:5]),
            "can_manage": request.user.can("register.manage"),
            "can_receive": request.user.can("register.receive"),
        },
    )


# --- 1. receiving a delivery ------------------------------------------------------------


@login_required
def receive(request: HttpRequest) -> HttpResponse:
    location, locations = _location(request)
    _need(request, "register.receive")
    data = request.POST if request.method == "POST" else None
    form = forms.ReceiveForm(
        data,
        location=location,
        actor=request.user,
        initial={"invoice_date": timezone.localdate(timezone=location.tz)},
    )
    lines = forms.ReceiveLines(data, prefix="line")
    if data is not None:
        form_ok, lines_ok = form.is_valid(), lines.is_valid()
        if form_ok and lines_ok:
            values = form.cleaned_data
            try:
                receipt = services.receipt_record(
                    actor=request.user,
                    location=location,
                    supplier=values["supplier"],
                    invoice_number=values["invoice_number"],
                    invoice_date=values["invoice_date"],
                    lines=lines.received(),
                    checked_by=values["checked_by"],
                    checker_password=values["checker_password"],
                    safe=values["safe"],
                )
            except ValidationError as error:
                _error(form, error)
            else:
                labels = list(receipt.containers.order_by("label").values_list("label", flat=True))
                span = labels[0] if len(labels) == 1 else f"{labels[0]} to {labels[-1]}"
                messages.success(
                    request,
                    f"Invoice {receipt.invoice_number} received: {len(labels)} "
                    f"container{'s' if len(labels) != 1 else ''}, labelled {span}.",
                )
                return redirect(_home(location))
        elif not lines_ok:
            form.add_error(
                None,
                lines.non_form_errors()
                or "Check the highlighted lines: each needs product, lot, expiry and containers.",
            )
    return _page(
        request,
        "manage_receive.html",
        {"location": location, "locations": locations, "form": form, "lines": lines},
    )


# --- 2. counts and 3. discrepancies -----------------------------------------------------


@login_required
def count(request: HttpRequest) -> HttpResponse:
    location, locations = _location(request)
    _need(request, "register.manage")
    containers = list(forms.stock_at(location))
    form = forms.CountForm(
        request.POST if request.method == "POST" else None,
        location=location,
        actor=request.user,
        containers=containers,
        initial={"kind": request.GET.get("kind") or InventoryCount.Kind.PERIODIC},
    )
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        try:
            done = services.count_record(
                actor=request.user,
                location=location,
                kind=values["kind"],
                witness=values["witness"],
                witness_password=values["witness_password"],
                counted=form.counted(),
                note=values["note"],
            )
        except ValidationError as error:
            _error(form, error)
        else:
            differ = sum(1 for line in done.lines.all() if line.discrepancy_ml)
            messages.success(
                request,
                f"{done.get_kind_display()} recorded: {len(containers)} containers, "
                + (f"{differ} differ from the register." if differ else "all as registered."),
            )
            return redirect("register:manage_count_detail", done.pk)
    return _page(
        request,
        "manage_count.html",
        {"location": location, "locations": locations, "form": form},
    )


@login_required
def count_detail(request: HttpRequest, count_id: int) -> HttpResponse:
    done = get_object_or_404(
        InventoryCount.objects.select_related("location", "counted_by", "witness"),
        pk=count_id,
        location__in=locations_for(request.user),
    )
    _need(request, "register.manage")
    lines = list(done.lines.select_related("container__product", "container__safe", "resolved_by"))
    return _page(
        request,
        "manage_count_detail.html",
        {
            "location": done.location,
            "count": done,
            "lines": lines,
            "differ": sum(1 for line in lines if line.discrepancy_ml),
        },
    )


@login_required
def resolve(request: HttpRequest, line_id: int) -> HttpResponse:
    line = get_object_or_404(
        CountLine.objects.select_related(
            "count__location", "count__counted_by", "container__product", "resolved_by"
        ),
        pk=line_id,
        count__location__in=locations_for(request.user),
    )
    _need(request, "register.manage")
    location = line.count.location
    form = forms.ResolveForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.discrepancy_resolve(
                actor=request.user, line=line, resolution=form.cleaned_data["resolution"]
            )
        except ValidationError as error:
            _error(form, error)
        else:
            messages.success(request, f"The difference in {line.container.label} is resolved.")
            return redirect("register:manage_count_detail", line.count_id)
    shortage = -line.discrepancy_ml if line.discrepancy_ml < 0 else None
    loss_url = ""
    if shortage is not None:
        loss_url = (
            f"{reverse('register:manage_loss_new')}?location={location.pk}"
            f"&container={line.container_id}&missing={_ml(shortage)}"
        )
    return _page(
        request,
        "manage_resolve.html",
        {
            "location": location,
            "line": line,
            "form": form,
            "shortage": shortage,
            "loss_url": loss_url,
        },
    )


# --- 4. transfer ------------------------------------------------------------------------


def _destinations(container: Container) -> Any:
    return Location.objects.filter(
        organization_id=container.location.organization_id, is_active=True
    ).exclude(pk=container.location_id)


@login_required
def transfer(request: HttpRequest, container_id: int) -> HttpResponse:
    """GET ?to=<location>: what will happen, with the witness's confirmation; POST: do it."""
    container = _container(request, container_id)
    _need(request, "register.manage")
    location = container.location
    destinations = _destinations(container)
    if request.method == "POST":
        choose = forms.TransferChooseForm(request.POST, destinations=destinations)
        form = None
        if choose.is_valid():
            form = forms.TransferForm(
                request.POST, destinations=destinations, location=location, actor=request.user
            )
        if form is not None and form.is_valid():
            to = form.cleaned_data["to"]
            try:
                services.transfer(
                    actor=request.user,
                    container=container,
                    to_location=to,
                    witness=form.cleaned_data["witness"],
                    witness_password=form.cleaned_data["witness_password"],
                )
            except ValidationError as error:
                _error(form, error)
            else:
                messages.success(
                    request,
                    f"{container.label} moved to {to.name}: out of this location's register "
                    f"and into {to.short_name}'s.",
                )
                return redirect(_home(location))
    else:
        choose = forms.TransferChooseForm(
            request.GET if "to" in request.GET else None, destinations=destinations
        )
        form = None
        if choose.is_bound and choose.is_valid():
            form = forms.TransferForm(
                initial={"to": choose.cleaned_data["to"].pk},
                destinations=destinations,
                location=location,
                actor=request.user,
            )
    to = choose.cleaned_data.get("to") if choose.is_bound and choose.is_valid() else None
    return _page(
        request,
        "manage_transfer.html",
        {
            "location": location,
            "container": container,
            "choose": choose,
            "form": form,
            "to": to,
            "destinations": destinations,
        },
    )


# --- 5. destruction ---------------------------------------------------------------------


@login_required
def destroy(request: HttpRequest, container_id: int) -> HttpResponse:
    """GET: the details (amount, method); GET with them: what will be recorded and the two
    witnesses' confirmation; POST: record it (DEA Form 41 fields on the entry)."""
    container = _container(request, container_id)
    _need(request, "register.manage")
    location = container.location
    form = None
    if request.method == "POST":
        details = forms.DestroyDetailsForm(request.POST, container=container)
        if details.is_valid():
            form = forms.DestroyForm(
                request.POST, container=container, location=location, actor=request.user
            )
        if form is not None and form.is_valid():
            values = form.cleaned_data
            try:
                entry = services.destroy(
                    actor=request.user,
                    container=container,
                    amount_ml=values["amount_ml"],
                    method=values["method"],
                    witnesses=[
                        (values["witness"], values["witness_password"]),
                        (values["second_witness"], values["second_witness_password"]),
                    ],
                    reverse_distributor=values["reverse_distributor"],
                )
            except ValidationError as error:
                _error(form, error)
            else:
                messages.success(
                    request,
                    f"Destruction of {_ml(entry.amount_ml)} mL from {container.label} "
                    f"recorded as register entry #{entry.sequence} (DEA Form 41).",
                )
                return redirect(_home(location))
    else:
        asked = "amount_ml" in request.GET
        details = forms.DestroyDetailsForm(
            request.GET if asked else None,
            container=container,
            initial={"amount_ml": _ml(container.remaining_ml)},
        )
        if asked and details.is_valid() and "edit" not in request.GET:
            form = forms.DestroyForm(
                initial=details.cleaned_data,
                container=container,
                location=location,
                actor=request.user,
            )
    review = details.cleaned_data if details.is_bound and details.is_valid() else None
    amount_mg = left_after = None
    edit_query = ""
    if review:
        amount_mg = review["amount_ml"] * container.product.strength_mg_per_ml
        left_after = container.remaining_ml - review["amount_ml"]
        edit_query = urlencode(
            {
                "amount_ml": _ml(review["amount_ml"]),
                "method": review["method"],
                "reverse_distributor": review["reverse_distributor"],
                "edit": 1,
            }
        )
    return _page(
        request,
        "manage_destroy.html",
        {
            "location": location,
            "container": container,
            "details": details,
            "form": form,
            "review": review,
            "amount_mg": amount_mg,
            "left_after": left_after,
            "edit_query": edit_query,
            "methods": forms.DESTRUCTION_METHODS,
        },
    )


# --- 6. theft or loss -------------------------------------------------------------------


@login_required
def loss_new(request: HttpRequest) -> HttpResponse:
    location, locations = _location(request)
    _need(request, "register.manage")
    containers = forms.stock_at(location)
    data = request.POST if request.method == "POST" else None
    form = forms.LossForm(
        data,
        location=location,
        initial={"discovered_at": timezone.localtime(timezone.now(), location.tz)},
    )
    prefill = []
    wanted = request.GET.get("container")
    if data is None and wanted and containers.filter(pk=wanted).exists():
        prefill = [{"container": wanted, "missing_ml": request.GET.get("missing", "")}]
    rows = forms.LossLines(
        data, prefix="row", initial=prefill, form_kwargs={"containers": containers}
    )
    if data is not None:
        form_ok, rows_ok = form.is_valid(), rows.is_valid()
        if form_ok and rows_ok:
            values = form.cleaned_data
            try:
                report = services.loss_report(
                    actor=request.user,
                    location=location,
                    kind=values["kind"],
                    discovered_at=values["discovered_at"],
                    description=values["description"],
                    losses=rows.losses(),
                    police_report_number=values["police_report_number"],
                )
            except ValidationError as error:
                _error(form, error)
            else:
                messages.success(
                    request,
                    f"{report.get_kind_display()} recorded. Written notice to the DEA is due by "
                    f"{_day(report.notice_due_on)}; DEA Form 106 by "
                    f"{_day(report.form_106_due_on)}.",
                )
                return redirect("register:manage_loss", report.pk)
        elif not rows_ok:
            form.add_error(
                None,
                rows.non_form_errors()
                or "Check the highlighted rows: each needs a container and the volume missing.",
            )
    return _page(
        request,
        "manage_loss_new.html",
        {"location": location, "locations": locations, "form": form, "rows": rows},
    )


def _deadline(due: Any, done: Any, today: Any) -> dict[str, Any]:
    return {"due": due, "done": done, "late": done is None and due < today}


@login_required
def loss(request: HttpRequest, report_id: int) -> HttpResponse:
    """A theft or loss report: its deadlines (red when past and not done), the entries it
    wrote, and where the director records the notice and Form 106."""
    report = get_object_or_404(
        LossReport.objects.select_related("location", "reported_by"),
        pk=report_id,
        location__in=locations_for(request.user),
    )
    _need(request, "register.manage")
    location = report.location
    today = timezone.localdate(timezone=location.tz)
    form = forms.LossProgressForm(
        request.POST if request.method == "POST" else None,
        today=today,
        initial={
            "notice_sent_on": report.notice_sent_on,
            "form_106_filed_on": report.form_106_filed_on,
            "form_106_number": report.form_106_number,
        },
    )
    if request.method == "POST" and form.is_valid():
        values = form.cleaned_data
        try:
            services.loss_report_progress(
                actor=request.user,
                report=report,
                notice_sent_on=values["notice_sent_on"],
                form_106_filed_on=values["form_106_filed_on"],
                form_106_number=values["form_106_number"],
            )
        except ValidationError as error:
            _error(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("register:manage_loss", report.pk)
    entries = (
        LedgerEntry.objects.filter(
            location=location, kind=EntryKind.LOSS, detail__loss_report=report.pk
        )
        .select_related("container__product")
        .order_by("sequence")
    )
    return _page(
        request,
        "manage_loss.html",
        {
            "location": location,
            "report": report,
            "entries": list(entries),
            "form": form,
            "notice": _deadline(report.notice_due_on, report.notice_sent_on, today),
            "form_106": _deadline(report.form_106_due_on, report.form_106_filed_on, today),
        },
    )


# --- 7. corrections ---------------------------------------------------------------------


@login_required
def correct(request: HttpRequest, entry_id: int) -> HttpResponse:
    """GET: the entry and what its correction will do; POST with a reason: the reversing
    entry. An entry about a patient (a draw, an administration, a waste) shows the patient,
    so the page is an audited view of their record."""
    entry = get_object_or_404(
        LedgerEntry.objects.select_related(
            "location", "container__product", "patient", "session", "witness", "second_witness"
        ),
        pk=entry_id,
        location__in=locations_for(request.user),
    )
    _need(request, "register.manage")
    location = entry.location
    corrected_by = LedgerEntry.objects.filter(reverses=entry).first()
    blocked = ""
    if entry.kind in NOT_CORRECTED_HERE:
        blocked = (
            "A transfer moved the container itself: it is not corrected one entry at a time. "
            "Transfer the container back instead."
        )
    elif entry.kind in (EntryKind.CORRECTION, EntryKind.COUNT):
        blocked = "Counts and corrections are not reversed."
    elif corrected_by is not None:
        blocked = f"This entry was already corrected by entry #{corrected_by.sequence}."
    form = forms.CorrectionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and not blocked and form.is_valid():
        try:
            reversal = services.correction(
                actor=request.user, entry=entry, reason=form.cleaned_data["reason"]
            )
        except ValidationError as error:
            _error(form, error)
        else:
            messages.success(
                request,
                f"Entry #{entry.sequence} corrected by entry #{reversal.sequence}; "
                "both stay on the register.",
            )
            return redirect(_home(location))
    elif request.method == "POST" and blocked:
        form.add_error(None, blocked)
    if entry.patient_id:
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            patient_id=entry.patient_id,
            object_type="ledger_entry",
            object_id=entry.pk,
            detail={"page": "register_correct", "entry_id": entry.pk},
        )
    change = -entry.container_change_ml
    return _page(
        request,
        "manage_correct.html",
        {
            "location": location,
            "entry": entry,
            "form": form,
            "blocked": blocked,
            "corrected_by": corrected_by,
            "change": change,
            "change_abs": _ml(abs(change)),
            "balance_after": entry.container.remaining_ml + change,
        },
    )
