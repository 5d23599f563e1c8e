"""For the access walk (patients/tests/test_access.py): one of each billing record of a
patient, keyed by the URL kwarg that names it."""

from __future__ import annotations

from typing import Any

from ketaclinic.billing.models import FeeScheduleEntry
from ketaclinic.billing.services import (
    estimate_prepare,
    estimate_send,
    fee_schedule_copy_defaults,
)
from ketaclinic.conftest import make_course
from ketaclinic.treatment.models import TreatmentCourse


def victim_records(patient: Any, director: Any, clinic: Any) -> dict[str, int]:
    """A sent estimate for `patient`, on their active course or a new IV course (their
    location gets the example fees if it has none). The account pages are reached by
    patient_id alone."""
    location = patient.primary_location
    if not FeeScheduleEntry.objects.filter(location=location).exists():
        fee_schedule_copy_defaults(actor=director, location=location)
    course = (
        TreatmentCourse.objects.filter(patient=patient)
        .exclude(phase=TreatmentCourse.Phase.ENDED)
        .first()
    ) or make_course(patient, director)
    estimate = estimate_prepare(actor=director, patient=patient, course=course)
    estimate_send(actor=director, estimate=estimate)
    del clinic  # the walk passes it; billing needs nothing else from it
    return {"estimate_id": estimate.pk}
