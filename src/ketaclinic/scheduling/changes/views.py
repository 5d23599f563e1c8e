"""Staff pages: patients' change requests from the portal, and marking them handled."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import chosen_location_id
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.scheduling.changes.selectors import (
    change_request_get_for_user,
    open_change_requests_for,
)
from ketaclinic.scheduling.changes.services import NOTE_CHARS, change_request_handle
from ketaclinic.scheduling.models import Appointment


class HandleForm(forms.Form):
    note = forms.CharField(
        label="Note for the team",
        max_length=NOTE_CHARS,
        required=False,
        help_text="e.g. 'Moved to Thursday 10:00, patient agreed'.",
    )


def appointment_href(appointment: Appointment) -> str:
    """The appointment's page (under its patient)."""
    return reverse(
        "scheduling:appointment",
        kwargs={"patient_id": appointment.patient_id, "appointment_id": appointment.pk},
    )


def _page_number(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 1


def _list(
    request: HttpRequest, *, bound: HandleForm | None = None, bound_id: int | None = None
) -> HttpResponse:
    changes = open_change_requests_for(request.user, location_id=chosen_location_id(request))
    page_number = request.POST.get("page") if bound is not None else request.GET.get("page")
    page = Paginator(changes, settings.KETACLINIC_PAGE_SIZE).get_page(page_number)
    rows = [
        {
            "change": change,
            "href": appointment_href(change.appointment),
            "form": bound if change.pk == bound_id else HandleForm(auto_id=f"id_%s_{change.pk}"),
        }
        for change in page
    ]
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="change_requests",
        detail={"patient_ids": sorted({row["change"].appointment.patient_id for row in rows})},
    )
    return render(
        request,
        "scheduling/changes_list.html",
        {"page": page, "rows": rows},
        status=400 if bound is not None else 200,
    )


@capability_required("scheduling.book")
def change_requests(request: HttpRequest) -> HttpResponse:
    """Open change requests of the user's locations' patients, oldest first."""
    return _list(request)


@capability_required("scheduling.book")
def change_request_handle_view(request: HttpRequest, change_id: int) -> HttpResponse:
    # Whose request it is before which method: another location's id is a 404 either way.
    change = change_request_get_for_user(request.user, change_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = HandleForm(request.POST, auto_id=f"id_%s_{change.pk}")
    if not form.is_valid():
        return _list(request, bound=form, bound_id=change.pk)
    try:
        change_request_handle(actor=request.user, change=change, note=form.cleaned_data["note"])
    except ValidationError as error:
        messages.info(request, " ".join(error.messages))
    else:
        patient = change.appointment.patient
        messages.success(request, f"{patient.display_name}'s change request is marked handled.")
    page = _page_number(request.POST.get("page"))
    url = reverse("scheduling:change_requests")
    return redirect(f"{url}?page={page}" if page > 1 else url)
