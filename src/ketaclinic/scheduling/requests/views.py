"""The coordinator's appointment-request queue: the list, one request with its contact
attempts and possible existing patients, and the ways to close it (link to a patient,
register a new one, decline).

Every page: login and the scheduling.requests capability (403), then the request must be
one the user works (their locations' plus video requests; directors all), else 404. Each
page view is audited, with the patients shown as possible matches."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import chosen_location_id
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record, audit_record_events
from ketaclinic.patients.forms import PatientForm
from ketaclinic.patients.selectors import patients_visible_to
from ketaclinic.scheduling.models import AppointmentRequest
from ketaclinic.scheduling.requests import selectors as selectors
from ketaclinic.scheduling.requests import services as services
from ketaclinic.scheduling.requests.forms import ContactAttemptForm, DeclineForm, LinkForm


def booking_url(appointment_request: AppointmentRequest) -> str:
    """Where a converted request goes next: the calendar's booking form for a consultation,
    prefilled."""
    location_id = (
        appointment_request.preferred_location_id or appointment_request.patient.primary_location_id
    )
    url = (
        f"{reverse('scheduling:book')}?patient={appointment_request.patient_id}"
        f"&type=consultation&request={appointment_request.pk}&location={location_id}"
    )
    return url + "&telehealth=1" if appointment_request.wants_telehealth else url


def request_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login, the capability, and the request visible to the user (404 otherwise)."""

    @wraps(view)
    @capability_required("scheduling.requests")
    def wrapped(request: HttpRequest, request_id: int) -> HttpResponse:
        appointment_request = selectors.request_get_for_user(request.user, request_id)
        return view(request, appointment_request)

    return wrapped


@capability_required("scheduling.requests")
def request_queue(request: HttpRequest) -> HttpResponse:
    """Open requests by default (or one status), oldest first, one audit entry per page."""
    status = request.GET.get("status", "open")
    if status not in selectors.STATUS_FILTERS:
        status = "open"
    requests = selectors.request_queue(
        request.user, status=status, location_id=chosen_location_id(request)
    )
    page = Paginator(requests, settings.KETACLINIC_PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record_events(
        actor=request.user,
        events=[
            AuditEvent(
                action=AuditAction.VIEW,
                object_type="appointment_request_list",
                detail={
                    "status": status,
                    "page": page.number,
                    "request_ids": [r.pk for r in page],
                },
            )
        ],
    )
    return render(
        request,
        "scheduling/requests_queue.html",
        {
            "page": page,
            "status": status,
            "filters": [(key, label) for key, (label, _) in selectors.STATUS_FILTERS.items()],
        },
    )


def _detail(
    request: HttpRequest,
    appointment_request: AppointmentRequest,
    *,
    status: int = 200,
    **bound: Any,
) -> HttpResponse:
    """The request page (also re-rendered with a form's errors and what was typed)."""
    matches, elsewhere = selectors.request_matches(request.user, appointment_request)
    shown = list(matches)
    # A video request is worked by every location; once converted, only staff who may see
    # that patient are shown (and audited as seeing) who it became.
    patient_shown = (
        appointment_request.patient_id is not None
        and patients_visible_to(request.user).filter(pk=appointment_request.patient_id).exists()
    )
    audit_record_events(
        actor=request.user,
        events=[
            AuditEvent(
                action=AuditAction.VIEW,
                patient_id=appointment_request.patient_id if patient_shown else None,
                object_type="appointment_request",
                object_id=appointment_request.pk,
                detail={"page": "request_detail"},
            ),
            *(
                AuditEvent(
                    action=AuditAction.VIEW,
                    patient_id=patient.pk,
                    object_type="patient",
                    object_id=patient.pk,
                    detail={"page": "request_match", "request_id": appointment_request.pk},
                )
                for patient in shown
            ),
        ],
    )
    location = appointment_request.preferred_location
    is_open = appointment_request.status in selectors.OPEN_STATUSES
    context = {
        "req": appointment_request,
        "attempts": selectors.request_attempts(appointment_request),
        "is_open": is_open,
        # Someone closed the request meanwhile: its forms are gone, so say why at the top.
        "refusals": []
        if is_open
        else [error for form in bound.values() if form for error in form.non_field_errors()],
        "matches": shown,
        "matches_elsewhere": elsewhere,
        "tz_name": location.timezone if location else settings.TIME_ZONE,
        "patient_shown": patient_shown,
        "booking_url": booking_url(appointment_request) if patient_shown else "",
        "attempt_form": bound.get("attempt_form") or ContactAttemptForm(),
        "decline_form": bound.get("decline_form") or DeclineForm(),
        "retention_days": settings.KETACLINIC_REQUEST_RETENTION_DAYS,
        "link_form": bound.get("link_form"),
    }
    return render(request, "scheduling/requests_detail.html", context, status=status)


@request_page
def request_detail(request: HttpRequest, appointment_request: AppointmentRequest) -> HttpResponse:
    return _detail(request, appointment_request)


@request_page
@require_POST
def request_attempt(request: HttpRequest, appointment_request: AppointmentRequest) -> HttpResponse:
    form = ContactAttemptForm(request.POST)
    if form.is_valid():
        try:
            services.contact_attempt_record(
                actor=request.user, appointment_request=appointment_request, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "The contact attempt is recorded.")
            return redirect("scheduling:request_detail", request_id=appointment_request.pk)
    return _detail(request, appointment_request, attempt_form=form)


@request_page
@require_POST
def request_link(request: HttpRequest, appointment_request: AppointmentRequest) -> HttpResponse:
    matches, _ = selectors.request_matches(request.user, appointment_request)
    form = LinkForm(request.POST, matches=matches)
    if form.is_valid():
        try:
            converted = services.request_convert(
                actor=request.user,
                appointment_request=appointment_request,
                patient=form.cleaned_data["patient"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"The request is linked to {converted.patient.display_name}. "
                "Book the consultation now.",
            )
            return redirect(booking_url(converted))
    return _detail(request, appointment_request, link_form=form)


@request_page
def request_register(request: HttpRequest, appointment_request: AppointmentRequest) -> HttpResponse:
    """Register the person as a new patient, prefilled from the request; the coordinator
    adds sex at birth and the primary location. Then on to booking the consultation."""
    if appointment_request.status not in selectors.OPEN_STATUSES:
        messages.error(request, "This request is already closed; nothing was registered.")
        return redirect("scheduling:request_detail", request_id=appointment_request.pk)
    initial = {
        "legal_first_name": appointment_request.first_name,
        "legal_last_name": appointment_request.last_name,
        "date_of_birth": appointment_request.date_of_birth,
        "phone": appointment_request.phone,
        "email": appointment_request.email,
        "state": appointment_request.state,
        "primary_location": appointment_request.preferred_location_id,
    }
    form = PatientForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            converted = services.request_convert(
                actor=request.user,
                appointment_request=appointment_request,
                new_patient=form.save(commit=False),
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"{converted.patient.display_name} is registered as {converted.patient.mrn}. "
                "Book the consultation now.",
            )
            return redirect(booking_url(converted))
    # The page shows what the person sent, like the request's own page.
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="appointment_request",
        object_id=appointment_request.pk,
        detail={"page": "request_register"},
    )
    return render(
        request,
        "scheduling/requests_register.html",
        {"req": appointment_request, "form": form},
    )


@request_page
@require_POST
def request_decline(request: HttpRequest, appointment_request: AppointmentRequest) -> HttpResponse:
    form = DeclineForm(request.POST)
    if form.is_valid():
        try:
            services.request_decline(
                actor=request.user,
                appointment_request=appointment_request,
                reason=form.cleaned_data["reason"],
                spam=form.cleaned_data["spam"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            spam = form.cleaned_data["spam"]
            messages.success(
                request, "The request is marked as spam." if spam else "The request is declined."
            )
            return redirect("scheduling:request_queue")
    return _detail(request, appointment_request, decline_form=form)
