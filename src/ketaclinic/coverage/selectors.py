"""Reads of payers and prior authorizations, and the chart facts a checklist is filled
from. Each read's query count is fixed: it does not grow with a patient's history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from ketaclinic.clinical.coverage import (
    ChartFacts,
    ChecklistItem,
    checklist_from_data,
    sessions_after,
)
from ketaclinic.coverage.models import Payer, PriorAuthorization, PriorAuthStatus
from ketaclinic.eligibility.services import intake_trials
from ketaclinic.measures.models import AssessmentResponse

if TYPE_CHECKING:
    from ketaclinic.patients.models import Patient
    from ketaclinic.treatment.models import TreatmentCourse

CHECKLISTS = Path(__file__).with_name("checklists.json")


@lru_cache(maxsize=1)
def checklist_templates() -> dict[str, dict[str, Any]]:
    """The checklist templates of coverage/checklists.json, each checked when loaded."""
    templates = json.loads(CHECKLISTS.read_text())["templates"]
    for template in templates.values():
        checklist_from_data(template)
    return templates


def checklist_items(key: str) -> list[ChecklistItem]:
    return checklist_from_data(checklist_templates()[key])


def payers_active() -> QuerySet[Payer]:
    return Payer.objects.filter(is_active=True)


def chart_facts(patient: Patient, course: TreatmentCourse | None) -> ChartFacts:
    """What the chart says that a payer asks about: diagnoses, trials of this episode,
    the latest PHQ-9 and MADRS (local dates of the patient's location), REMS enrollment."""
    tz = patient.primary_location.tz
    latest: dict[str, tuple[date, int]] = {}
    for key in ("phq9", "madrs"):
        response = (
            AssessmentResponse.objects.filter(
                patient=patient, instrument_key=key, total__isnull=False
            )
            .order_by("-completed_at", "-id")
            .only("completed_at", "total")
            .first()
        )
        if response is not None and response.total is not None:
            latest[key] = (response.completed_at.astimezone(tz).date(), int(response.total))
    return ChartFacts(
        age_years=patient.age_years,
        diagnosis_codes=tuple(
            patient.diagnoses.exclude(status="resolved").values_list("icd10_code", flat=True)
        ),
        trials=intake_trials(patient),
        latest_scores=latest,
        rems_enrolled_on=course.rems_enrolled_on if course else None,
        rems_certified_location=(
            course.location.spravato_rems_certified
            if course
            else patient.primary_location.spravato_rems_certified
        ),
    )


def prior_auths_of(patient: Patient) -> QuerySet[PriorAuthorization]:
    return patient.prior_authorizations.select_related("payer", "created_by", "course__protocol")


def prior_auth_of(patient: Patient, prior_auth_id: int) -> PriorAuthorization | None:
    return (
        prior_auths_of(patient).prefetch_related("events__actor").filter(pk=prior_auth_id).first()
    )


@dataclass(frozen=True)
class BookingCoverage:
    """What a booking page shows of a course's coverage: the approval in force (or the
    request still open), and the planned sessions after its last covered day."""

    approval: PriorAuthorization | None
    pending: PriorAuthorization | None
    sessions_after_expiry: list[int]


def booking_coverage(
    course: TreatmentCourse, session_days: list[tuple[int, date]]
) -> BookingCoverage | None:
    """None when the patient has no prior authorization for the course's route at all
    (a self-paying patient: nothing to warn about)."""
    requests = list(
        PriorAuthorization.objects.filter(patient_id=course.patient_id, route=course.protocol.route)
        .exclude(status=PriorAuthStatus.WITHDRAWN)
        .select_related("payer")
        .order_by("-approved_until", "-created_at")[:20]
    )
    if not requests:
        return None
    approvals = [r for r in requests if r.status == PriorAuthStatus.APPROVED]
    approval = max(approvals, key=lambda r: r.approved_until or date.min, default=None)
    pending = next(
        (r for r in requests if r.status in (PriorAuthStatus.DRAFTED, PriorAuthStatus.SENT,
                                             PriorAuthStatus.APPEALED)),
        None,
    )  # fmt: skip
    after = (
        sessions_after(session_days, approval.approved_until)
        if approval and approval.approved_until
        else [number for number, _day in session_days]
    )
    return BookingCoverage(approval, pending, after)
