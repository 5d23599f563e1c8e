from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from ketaclinic.charting import services
from ketaclinic.conftest import make_course
from ketaclinic.patients.services import patient_nkda_verify


def ago(minutes: float) -> datetime:
    return timezone.now() - timedelta(minutes=minutes)


# Sessions in these tests are checked in this long ago, so that readings can be charted
# at any time since (a charted time is refused before check-in).
CHECKED_IN_MINUTES_AGO = 180


def presession_screening(patient: Any, at: datetime | None = None) -> None:
    """The pre-dose questionnaires the protocols ask for (PHQ-9 and the C-SSRS screener, a
    hard stop), answered with no suicide risk."""
    from ketaclinic.measures.models import AssessmentResponse

    for key, answers, total in (("phq9", [1] * 9, 9), ("cssrs-screen", [0] * 6, None)):
        AssessmentResponse.objects.create(
            patient=patient,
            instrument_key=key,
            answers=answers,
            total=total,
            context="pre_session",
            completed_by_patient=True,
            completed_at=at or timezone.now(),
        )


def prechecked(
    clinic: dict[str, Any],
    protocol_key: str = "iv-ketamine-standard",
    minutes_ago: float = CHECKED_IN_MINUTES_AGO,
    *,
    screened: bool = True,
    patient: Any = None,
    chair: int = 1,
) -> Any:
    """A session checked in `minutes_ago` (on the day it was planned for), with allergies
    recorded, its pre-dose questionnaires answered (unless not `screened`) and pre-checks
    done (no pre-dose vitals). The SLC patient's, or `patient`'s."""
    director = clinic["director"]
    patient = patient or clinic["patient_slc"]
    with time_machine.travel(ago(minutes_ago), tick=False):
        course = make_course(
            patient,
            director,
            protocol_key,
            first_day=timezone.localdate(timezone=patient.primary_location.tz),
        )
        patient_nkda_verify(actor=clinic["nurse"], patient=patient)
        if screened:
            presession_screening(patient)
        planned = course.planned_sessions.first()
        session = services.session_check_in(actor=clinic["nurse"], planned=planned, chair=chair)
        return services.prechecks_record(
            actor=clinic["nurse"],
            session=session,
            version=session.version,
            weight_kg=Decimal("72.0"),
            food_and_drink="light breakfast 07:00",
            escort_name="Charles Babbage",
            escort_phone="(801) 555-0142",
            pregnancy_test="not_required",
            medication_changes="none",
        )


def vitals(nurse: Any, session: Any, minutes_ago: float, bp: tuple[int, int], **other: Any) -> Any:
    values = {"heart_rate": 76, "spo2": 98, "respiratory_rate": 14, **other}
    return services.vitals_record(
        actor=nurse,
        session=session,
        systolic=bp[0],
        diastolic=bp[1],
        taken_at=ago(minutes_ago),
        **values,
    )


@pytest.fixture
def iv_session(clinic: dict[str, Any]) -> Any:
    return prechecked(clinic)
