"""JSON API for the registry: session login, same visibility rules and audit as pages."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest
from ninja import Router, Schema

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.patients.selectors import patient_get_for_user, patient_search

router = Router(tags=["patients"])


class PatientSummary(Schema):
    id: int
    mrn: str
    legal_first_name: str
    legal_last_name: str
    preferred_name: str
    date_of_birth: date
    sex_at_birth: str
    state: str
    primary_location_id: int


class PatientPage(Schema):
    count: int
    page: int
    pages: int
    results: list[PatientSummary]


def _require(request: HttpRequest, capability: str) -> None:
    if not request.user.can(capability):
        raise PermissionDenied(f"Your role may not do this ({capability}).")


@router.get("/patients", response=PatientPage)
def list_patients(request: HttpRequest, q: str = "", page: int = 1) -> dict[str, object]:
    """Search patients visible to the caller (same rules as the patient list page)."""
    _require(request, "patient.search")
    paginator = Paginator(patient_search(request.user, text=q[:100]), settings.KETACLINIC_PAGE_SIZE)
    current = paginator.get_page(page)
    audit_record(
        actor=request.user,
        action=AuditAction.API_READ,
        object_type="patient_list",
        detail={"query": q[:100], "page": current.number, "patient_ids": [p.pk for p in current]},
    )
    return {
        "count": paginator.count,
        "page": current.number,
        "pages": paginator.num_pages,
        "results": list(current),
    }


@router.get("/patients/{patient_id}", response=PatientSummary)
def get_patient(request: HttpRequest, patient_id: int) -> object:
    """One patient; 404 when it does not exist or is not visible to the caller."""
    _require(request, "patient.view_chart")
    patient = patient_get_for_user(request.user, patient_id)
    audit_record(
        actor=request.user,
        action=AuditAction.API_READ,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
    )
    return patient
