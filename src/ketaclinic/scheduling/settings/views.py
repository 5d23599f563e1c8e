"""Scheduling settings pages (medical director and administrator: scheduling.configure),
per location: appointment types, chairs and rooms, opening hours and closed days, provider
working hours and licenses.

Thin views over services.py (writes) and selectors.py (reads) beside them. Every page:
login, the capability (403), the location among the user's (404). No patient data is
shown, so reading is not audited; every write is. A removal is shown first by a GET and
only done by the POST. Bad input re-renders the form with what was typed and nothing saved.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import chosen_location_id, locations_for
from ketaclinic.organization.models import Location
from ketaclinic.scheduling.models import ClosedDay, Resource, ResourceKind
from ketaclinic.scheduling.selectors import providers_at
from ketaclinic.scheduling.settings import forms as forms
from ketaclinic.scheduling.settings import selectors as read
from ketaclinic.scheduling.settings import services as services

configure = capability_required(services.CAPABILITY)

SECTIONS = (
    ("scheduling:settings_location", "Overview"),
    ("scheduling:settings_types", "Appointment types"),
    ("scheduling:settings_resources", "Chairs and rooms"),
    ("scheduling:settings_hours", "Opening hours"),
    ("scheduling:settings_providers", "Provider hours"),
    ("scheduling:settings_licenses", "Licenses"),
)


def _locations(request: HttpRequest) -> list[Location]:
    return list(locations_for(request.user).order_by("name"))  # type: ignore[arg-type]


def _location(request: HttpRequest, location_id: int) -> tuple[Location, list[Location]]:
    locations = _locations(request)
    for location in locations:
        if location.pk == location_id:
            return location, locations
    raise Http404("No such location among yours.")


def _render(
    request: HttpRequest,
    template: str,
    location: Location | None,
    locations: list[Location],
    section: str,
    **context: Any,
) -> HttpResponse:
    return render(
        request,
        f"scheduling/{template}",
        {
            **context,
            "location": location,
            "locations": locations,
            "section": section,
            "sections": SECTIONS,
            "nav_section": "scheduling_settings",
        },
    )


def _page(request: HttpRequest, items: Any) -> Page:
    return Paginator(items, settings.KETACLINIC_PAGE_SIZE).get_page(request.GET.get("page"))


def _refused(form: Any, error: ValidationError) -> None:
    """Put the service's refusal on the form: on its fields when it names them."""
    if hasattr(error, "error_dict") and not set(error.error_dict) <= set(form.fields):
        error = ValidationError(error.messages)
    form.add_error(None, error)


def _today(location: Location) -> Any:
    return timezone.localdate(timezone=location.tz)


# --- where to start ---------------------------------------------------------------------


@configure
def settings_home(request: HttpRequest) -> HttpResponse:
    """The location chosen in the switcher, else the first."""
    locations = _locations(request)
    if not locations:
        raise Http404("There is no location to set up yet.")
    chosen = chosen_location_id(request)
    location = next((loc for loc in locations if loc.pk == chosen), locations[0])
    return redirect("scheduling:settings_location", location.pk)


@configure
def settings_location(request: HttpRequest, location_id: int) -> HttpResponse:
    location, locations = _location(request, location_id)
    types = read.types_at(location)
    resources = list(read.resources_of(location))
    providers = list(providers_at(location))
    weeks = read.provider_weeks(location, providers)
    expired, expiring = read.license_warnings(location)
    return _render(
        request,
        "settings_overview.html",
        location,
        locations,
        "scheduling:settings_location",
        types=types,
        own_types=sum(1 for row in types if row.own),
        chairs=[r for r in resources if r.kind == ResourceKind.CHAIR],
        rooms=[r for r in resources if r.kind == ResourceKind.ROOM],
        hours=read.week_lines(read.opening_week(location)),
        closed_days=list(read.closed_days_ahead(location)[:5]),
        providers=len(providers),
        without_hours=[w.provider for w in weeks if not w.has_hours],
        expired=expired,
        expiring=expiring,
        warning_days=read.LICENSE_WARNING_DAYS,
    )


# --- appointment types ------------------------------------------------------------------


@configure
def settings_types(request: HttpRequest, location_id: int) -> HttpResponse:
    location, locations = _location(request, location_id)
    return _render(
        request,
        "settings_types.html",
        location,
        locations,
        "scheduling:settings_types",
        rows=read.types_at(location),
    )


@configure
def settings_defaults(request: HttpRequest) -> HttpResponse:
    """The clinic-wide defaults ('All locations'), with the locations that have their own."""
    return _render(
        request,
        "settings_types.html",
        None,
        _locations(request),
        "scheduling:settings_types",
        rows=read.types_at(None),
    )


def _type_edit(
    request: HttpRequest, location: Location | None, locations: list[Location], key: str
) -> HttpResponse:
    row = read.type_at(location, key)
    if row is None:
        raise Http404("No such appointment type.")
    back = (
        reverse("scheduling:settings_types", args=[location.pk])
        if location
        else reverse("scheduling:settings_defaults")
    )
    form = forms.AppointmentTypeForm(
        request.POST if request.method == "POST" else None,
        initial=forms.AppointmentTypeForm.initial_from(row.type),
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.appointment_type_save(
                actor=request.user,  # type: ignore[arg-type]
                location=location,
                key=key,
                values=form.settings(),
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            where = location.name if location else "every location without its own version"
            messages.success(request, f"{saved.name} saved for {where}.")
            return redirect(back)
    return _render(
        request,
        "settings_type_edit.html",
        location,
        locations,
        "scheduling:settings_types",
        row=row,
        form=form,
        back=back,
    )


@configure
def settings_type_edit(request: HttpRequest, location_id: int, key: str) -> HttpResponse:
    location, locations = _location(request, location_id)
    return _type_edit(request, location, locations, key)


@configure
def settings_default_type_edit(request: HttpRequest, key: str) -> HttpResponse:
    return _type_edit(request, None, _locations(request), key)


@configure
def settings_type_reset(request: HttpRequest, location_id: int, key: str) -> HttpResponse:
    """GET: what going back to the default means; POST: do it."""
    location, locations = _location(request, location_id)
    row = read.type_at(location, key)
    if row is None or not row.own:
        raise Http404("This location uses the clinic default already.")
    back = reverse("scheduling:settings_types", args=[location.pk])
    error = ""
    if request.method == "POST":
        try:
            moved = services.appointment_type_reset(
                actor=request.user,  # type: ignore[arg-type]
                location=location,
                key=key,
            )
        except ValidationError as refused:
            error = " ".join(refused.messages)
        else:
            messages.success(
                request,
                f"{location.short_name} uses the clinic default for {row.type.name} again"
                + (f"; {moved} appointments now follow it." if moved else "."),
            )
            return redirect(back)
    return _render(
        request,
        "settings_confirm.html",
        location,
        locations,
        "scheduling:settings_types",
        title=f"Use the clinic default for {row.type.name}",
        question=(
            f"{location.name}'s own version of {row.type.name} will be removed and the clinic "
            "default used again"
            + (f" (it differs in: {', '.join(row.differs)})" if row.differs else "")
            + ". Booked visits keep their times."
        ),
        button="Use the clinic default",
        error=error,
        back=back,
    )


# --- chairs and rooms -------------------------------------------------------------------


@configure
def settings_resources(request: HttpRequest, location_id: int) -> HttpResponse:
    """The list, and the form to add one (POST)."""
    location, locations = _location(request, location_id)
    form = forms.ResourceAddForm(
        request.POST if request.method == "POST" else None,
        initial={"kind": ResourceKind.CHAIR},
    )
    if request.method == "POST" and form.is_valid():
        try:
            added = services.resource_add(
                actor=request.user,  # type: ignore[arg-type]
                location=location,
                **form.cleaned_data,
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(request, f"{added.name} added at {location.short_name}.")
            return redirect("scheduling:settings_resources", location.pk)
    return _render(
        request,
        "settings_resources.html",
        location,
        locations,
        "scheduling:settings_resources",
        page=_page(request, read.resources_of(location)),
        form=form,
        chair_count=location.chair_count,
    )


def _resource(location: Location, resource_id: int) -> Resource:
    return get_object_or_404(
        Resource.objects.select_related("location"), pk=resource_id, location=location
    )


@configure
def settings_resource_rename(
    request: HttpRequest, location_id: int, resource_id: int
) -> HttpResponse:
    location, locations = _location(request, location_id)
    resource = _resource(location, resource_id)
    form = forms.ResourceRenameForm(
        request.POST if request.method == "POST" else None, initial={"name": resource.name}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.resource_rename(
                actor=request.user,  # type: ignore[arg-type]
                resource=resource,
                name=form.cleaned_data["name"],
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Renamed to {resource.name}.")
            return redirect("scheduling:settings_resources", location.pk)
    return _render(
        request,
        "settings_resource_rename.html",
        location,
        locations,
        "scheduling:settings_resources",
        resource=resource,
        form=form,
    )


@require_POST
@configure
def settings_resource_active(
    request: HttpRequest, location_id: int, resource_id: int
) -> HttpResponse:
    """POST active=0 takes it out of use (refused while visits are booked in it), 1 back."""
    location, _ = _location(request, location_id)
    resource = _resource(location, resource_id)
    active = request.POST.get("active") == "1"
    try:
        resource = services.resource_set_active(
            actor=request.user,  # type: ignore[arg-type]
            resource=resource,
            active=active,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"{resource.name} is {'in use again' if active else 'out of use'}; the chair board "
            f"shows chairs 1 to {location.chair_count}.",
        )
    return redirect("scheduling:settings_resources", location.pk)


# --- opening hours and closed days ------------------------------------------------------


@configure
def settings_hours(request: HttpRequest, location_id: int) -> HttpResponse:
    """The week of opening hours (POST saves the whole week) and the closed days."""
    location, locations = _location(request, location_id)
    week = forms.WeekForm(
        request.POST if request.method == "POST" else None, week=read.opening_week(location)
    )
    if request.method == "POST" and week.is_valid():
        try:
            services.opening_hours_replace(
                actor=request.user,  # type: ignore[arg-type]
                location=location,
                week=week.week(),
            )
        except ValidationError as error:
            _refused(week, error)
        else:
            messages.success(request, f"Opening hours of {location.short_name} saved.")
            return redirect("scheduling:settings_hours", location.pk)
    return _hours_page(request, location, locations, week, forms.ClosedDayForm())


def _hours_page(
    request: HttpRequest,
    location: Location,
    locations: list[Location],
    week: forms.WeekForm,
    closed_form: forms.ClosedDayForm,
) -> HttpResponse:
    return _render(
        request,
        "settings_hours.html",
        location,
        locations,
        "scheduling:settings_hours",
        week=week,
        closed_form=closed_form,
        page=_page(request, read.closed_days_ahead(location)),
    )


@require_POST
@configure
def settings_closed_day_add(request: HttpRequest, location_id: int) -> HttpResponse:
    location, locations = _location(request, location_id)
    form = forms.ClosedDayForm(request.POST)
    if form.is_valid():
        day = form.cleaned_data["date"]
        try:
            services.closed_day_add(
                actor=request.user,  # type: ignore[arg-type]
                location=location,
                day=day,
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(
                request, f"{location.short_name} is closed on {services.day_text(day)}."
            )
            booked = read.booked_on(location, day)
            if booked:
                messages.warning(
                    request,
                    f"{booked} visit{'s are' if booked != 1 else ' is'} booked that day: "
                    "move or cancel them in the calendar.",
                )
            return redirect("scheduling:settings_hours", location.pk)
    week = forms.WeekForm(week=read.opening_week(location))
    return _hours_page(request, location, locations, week, form)


@configure
def settings_closed_day_remove(
    request: HttpRequest, location_id: int, closed_day_id: int
) -> HttpResponse:
    location, locations = _location(request, location_id)
    closed = get_object_or_404(
        ClosedDay.objects.select_related("location"), pk=closed_day_id, location=location
    )
    back = reverse("scheduling:settings_hours", args=[location.pk])
    error = ""
    if request.method == "POST":
        try:
            services.closed_day_remove(actor=request.user, closed_day=closed)  # type: ignore[arg-type]
        except ValidationError as refused:
            error = " ".join(refused.messages)
        else:
            messages.success(
                request, f"{location.short_name} is open again on {services.day_text(closed.date)}."
            )
            return redirect(back)
    return _render(
        request,
        "settings_confirm.html",
        location,
        locations,
        "scheduling:settings_hours",
        title="Open on a closed day",
        question=(
            f"{location.name} will be open on {services.day_text(closed.date)} "
            f"({closed.reason}), with its usual hours for that weekday."
        ),
        button="Remove the closed day",
        error=error,
        back=back,
    )


# --- provider working hours -------------------------------------------------------------


@configure
def settings_providers(request: HttpRequest, location_id: int) -> HttpResponse:
    location, locations = _location(request, location_id)
    page = _page(request, providers_at(location))
    return _render(
        request,
        "settings_providers.html",
        location,
        locations,
        "scheduling:settings_providers",
        page=page,
        weeks=read.provider_weeks(location, list(page.object_list)),
    )


@configure
def settings_provider_hours(
    request: HttpRequest, location_id: int, provider_id: int
) -> HttpResponse:
    location, locations = _location(request, location_id)
    provider = get_object_or_404(providers_at(location), pk=provider_id)
    week = forms.WeekForm(
        request.POST if request.method == "POST" else None,
        week=read.working_week(provider, location),
    )
    if request.method == "POST" and week.is_valid():
        try:
            services.working_hours_replace(
                actor=request.user,  # type: ignore[arg-type]
                provider=provider,
                location=location,
                week=week.week(),
            )
        except ValidationError as error:
            _refused(week, error)
        else:
            messages.success(
                request,
                f"Working hours of {provider.display_name} at {location.short_name} saved.",
            )
            return redirect("scheduling:settings_providers", location.pk)
    return _render(
        request,
        "settings_provider_hours.html",
        location,
        locations,
        "scheduling:settings_providers",
        provider=provider,
        week=week,
        opening=read.week_lines(read.opening_week(location)),
    )


# --- licenses ---------------------------------------------------------------------------


@configure
def settings_licenses(request: HttpRequest, location_id: int) -> HttpResponse:
    """Licenses of the providers booked here, with expiry warnings; POST adds one."""
    location, locations = _location(request, location_id)
    form = forms.LicenseForm(
        request.POST if request.method == "POST" else None,
        providers=providers_at(location),
        initial={"state": location.state},
    )
    if request.method == "POST" and form.is_valid():
        try:
            added = services.provider_license_add(
                actor=request.user,  # type: ignore[arg-type]
                location=location,
                **form.cleaned_data,
            )
        except ValidationError as error:
            _refused(form, error)
        else:
            messages.success(
                request,
                f"{added.get_kind_display()} license {added.number} in {added.state} recorded "
                f"for {added.provider.display_name}.",
            )
            return redirect("scheduling:settings_licenses", location.pk)
    page = _page(request, read.licenses_at(location))
    return _render(
        request,
        "settings_licenses.html",
        location,
        locations,
        "scheduling:settings_licenses",
        page=page,
        rows=read.license_rows(list(page.object_list), _today(location)),
        form=form,
        warning_days=read.LICENSE_WARNING_DAYS,
    )


@require_POST
@configure
def settings_license_active(
    request: HttpRequest, location_id: int, license_id: int
) -> HttpResponse:
    """POST active=0 marks a license suspended or surrendered, 1 active again."""
    location, _ = _location(request, location_id)
    license_ = get_object_or_404(read.licenses_at(location).select_related(None), pk=license_id)
    active = request.POST.get("active") == "1"
    try:
        license_ = services.provider_license_set_active(
            actor=request.user,  # type: ignore[arg-type]
            location=location,
            license_=license_,
            active=active,
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request,
            f"License {license_.number} ({license_.state}) is "
            f"{'active again' if active else 'marked suspended'}.",
        )
    return redirect("scheduling:settings_licenses", location.pk)
