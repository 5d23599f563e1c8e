"""The patient portal: the patient's own record, upcoming appointments (with the video link
when it is open), requests to change a visit, questionnaires and after-treatment advice."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.measures.selectors import open_self_reports
from ketaclinic.organization.selectors import crisis_line
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import patient_chart, patient_get_for_user
from ketaclinic.plugins import panels_shown, render_page_panels
from ketaclinic.portal.selectors import last_treatment, own_appointment, upcoming_appointments
from ketaclinic.scheduling.changes.selectors import open_change_request_of
from ketaclinic.scheduling.changes.services import MESSAGE_CHARS, change_request_submit

DISCHARGE_INSTRUCTIONS = Path(__file__).with_name("discharge_instructions.json")


@lru_cache(maxsize=1)
def discharge_instructions() -> dict[str, list[dict[str, str]]]:
    """After-treatment advice by route, each item with its source (discharge_instructions.json)."""
    data = json.loads(DISCHARGE_INSTRUCTIONS.read_text())
    return {route: items for route, items in data.items() if not route.startswith("_")}


def _after_treatment(patient: Patient) -> dict[str, Any] | None:
    session = last_treatment(patient)
    items = discharge_instructions().get(session.route, []) if session else []
    if not items:
        return None
    return {
        "session": session,
        "items": items,
        "sources": list(dict.fromkeys(item["source"] for item in items)),
    }


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The patient's own record: only ever the one patient linked to this account."""
    if not request.user.can("patient.view_own_record"):
        raise PermissionDenied("The patient portal is for patients.")
    patient = patient_get_for_user(request.user, request.user.patient_id)
    now = timezone.now()
    appointments = (
        upcoming_appointments(request.user, now) if request.user.can("portal.appointments") else []
    )
    # Sections other apps add to the portal (referrals, estimates, therapy visits), each
    # naming what it shows so this one audit entry records it.
    panels = list(render_page_panels("portal_home", request, patient=patient))
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        detail={
            "page": "portal_home",
            "appointment_ids": [item["appointment"].pk for item in appointments],
            **panels_shown(panels),
        },
    )
    chart = patient_chart(patient)
    return render(
        request,
        "portal/home.html",
        {
            "patient": patient,
            "location": patient.primary_location,
            "crisis": crisis_line(),
            "medications": [m for m in chart["medications"] if m.is_current],
            "allergies": chart["allergies"],
            "questionnaires": open_self_reports(patient),
            "appointments": appointments,
            "show_appointments": request.user.can("portal.appointments"),
            "after_treatment": _after_treatment(patient),
            "panels": panels,
        },
    )


class ChangeRequestForm(forms.Form):
    message = forms.CharField(
        label="What would you like to change?",
        max_length=MESSAGE_CHARS,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="For example: a different day or time that suits you, or that you need to "
        "cancel. Your visit stays booked until the clinic confirms a change with you.",
    )


@never_cache
@capability_required("portal.appointments")
def appointment_change(request: HttpRequest, appointment_id: int) -> HttpResponse:
    """Ask the clinic to move or cancel one of the patient's own upcoming visits."""
    appointment = own_appointment(request.user, appointment_id)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=appointment.patient_id,
        object_type="appointment",
        object_id=appointment.pk,
        detail={"page": "portal_appointment_change"},
    )
    form = ChangeRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            change_request_submit(
                actor=request.user, appointment=appointment, message=form.cleaned_data["message"]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                "Your request is sent. The clinic will contact you; your visit stays booked "
                "until they confirm a change.",
            )
            return redirect("portal:home")
    return render(
        request,
        "portal/appointment_change.html",
        {
            "appointment": appointment,
            "form": form,
            "pending": open_change_request_of(appointment),
            "changeable": appointment.is_booked and appointment.starts_at > timezone.now(),
            "crisis": crisis_line(),
        },
        status=400 if form.errors else 200,
    )
