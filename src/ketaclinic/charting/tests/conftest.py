from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from ketaclinic.charting import services
from ketaclinic.conftest import make_course


def ago(minutes: float) -> datetime:
    return timezone.now() - timedelta(minutes=minutes)


def prechecked(clinic: dict[str, Any], protocol_key: str = "iv-ketamine-standard") -> Any:
    """A session checked in today with pre-checks done (no pre-dose vitals yet)."""
    director = clinic["director"]
    course = make_course(
        clinic["patient_slc"], director, protocol_key, first_day=timezone.localdate()
    )
    planned = course.planned_sessions.first()
    session = services.session_check_in(actor=clinic["nurse"], planned=planned, chair=1)
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
