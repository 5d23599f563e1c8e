"""Questionnaire responses over JSON: same visibility, capability and audit as the pages.

Staff read patients of their locations; a patient user reads only their own responses.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.measures.models import AssessmentResponse, ResponseContext
from ketaclinic.measures.services import response_record
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import patient_get_for_user

router = Router(tags=["measurement-based care"])


class ResponseOut(Schema):
    id: int
    patient_id: int
    instrument: str
    answers: list[int]
    total: int | None
    severity: str
    risk: str
    alerts: list[str]
    subscores: dict[str, int]
    context: str
    completed_by_patient: bool
    completed_at: datetime

    @staticmethod
    def resolve_instrument(obj: AssessmentResponse) -> str:
        return obj.instrument_key


class ResponsePage(Schema):
    count: int
    page: int
    pages: int
    results: list[ResponseOut]


class ResponseIn(Schema):
    instrument: str
    answers: list[int]
    context: ResponseContext = ResponseContext.BETWEEN_SESSIONS


def _readable_patient(request: HttpRequest, patient_id: int) -> Patient:
    user = request.user
    if not (user.can("measures.view_scores") or user.can("patient.view_own_record")):
        raise PermissionDenied("Your role may not read questionnaire responses.")
    return patient_get_for_user(user, patient_id)  # 404 for anyone else's patient


@router.get("/patients/{patient_id}/responses", response=ResponsePage)
def list_responses(
    request: HttpRequest, patient_id: int, instrument: str = "", page: int = 1
) -> dict[str, object]:
    """A patient's responses, newest first, optionally for one instrument."""
    patient = _readable_patient(request, patient_id)
    responses = AssessmentResponse.objects.filter(patient=patient).order_by("-completed_at", "-id")
    if instrument:
        responses = responses.filter(instrument_key=instrument)
    paginator = Paginator(responses, settings.KETACLINIC_PAGE_SIZE * 4)
    current = paginator.get_page(page)
    audit_record(
        actor=request.user,
        action=AuditAction.API_READ,
        patient_id=patient.pk,
        object_type="assessment_response_list",
        detail={"response_ids": [r.pk for r in current]},
    )
    return {
        "count": paginator.count,
        "page": current.number,
        "pages": paginator.num_pages,
        "results": list(current),
    }


@router.get("/responses/{response_id}", response=ResponseOut)
def get_response(request: HttpRequest, response_id: int) -> AssessmentResponse:
    response = AssessmentResponse.objects.filter(pk=response_id).first()
    if response is None:
        raise Http404("No such response")
    _readable_patient(request, response.patient_id)
    audit_record(
        actor=request.user,
        action=AuditAction.API_READ,
        patient_id=response.patient_id,
        object_type="assessment_response",
        object_id=response.pk,
    )
    return response


@router.post("/patients/{patient_id}/responses", response={201: ResponseOut})
def create_response(
    request: HttpRequest, patient_id: int, payload: ResponseIn
) -> Status[AssessmentResponse]:
    """Record a response entered by a clinician; alerts are raised as on the pages."""
    if not request.user.can("measures.record_responses"):
        raise PermissionDenied("Your role may not record responses.")
    patient = patient_get_for_user(request.user, patient_id)
    try:
        response = response_record(
            actor=request.user,
            patient=patient,
            instrument_key=payload.instrument,
            answers=payload.answers,
            context=payload.context,
        )
    except ValidationError as error:
        raise HttpError(400, "; ".join(error.messages)) from error
    return Status(201, response)
