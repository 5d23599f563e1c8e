from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.measures.selectors import open_self_reports
from ketaclinic.organization.selectors import crisis_line
from ketaclinic.patients.selectors import patient_chart, patient_get_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The patient's own record: only ever the one patient linked to this account."""
    if not request.user.can("patient.view_own_record"):
        raise PermissionDenied("The patient portal is for patients.")
    patient = patient_get_for_user(request.user, request.user.patient_id)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        detail={"page": "portal_home"},
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
        },
    )
