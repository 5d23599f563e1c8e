"""Shared helpers for the referrals tests: a local directory and a suicide-risk alert."""

from __future__ import annotations

from typing import Any

import pytest

from ketaclinic.measures.models import SafetyAlert
from ketaclinic.measures.services import response_record
from ketaclinic.referrals import services
from ketaclinic.referrals.models import ReferralResource


def add_resource(
    actor: Any, location: Any, name: str, kind: str = "therapist", **data: Any
) -> ReferralResource:
    fields = {"kind": kind, "name": name, "phone": "(801) 555-0142", **data}
    return services.resource_create(actor=actor, location=location, data=fields)


def raise_alert(nurse: Any, patient: Any) -> SafetyAlert:
    """A PHQ-9 with item 9 (thoughts of self-harm) above 0 raises a SafetyAlert."""
    response_record(
        actor=nurse,
        patient=patient,
        instrument_key="phq9",
        answers=[1, 1, 1, 1, 1, 1, 1, 1, 1],
        context="between_sessions",
    )
    return SafetyAlert.objects.get(patient=patient, acknowledged_at__isnull=True)


@pytest.fixture
def directory(clinic: dict[str, Any]) -> dict[str, ReferralResource]:
    director = clinic["director"]
    return {
        "therapist": add_resource(
            director,
            clinic["slc"],
            "Wasatch Counseling",
            languages="English, Spanish",
            telehealth=True,
        ),
        "crisis": add_resource(director, clinic["slc"], "SLC Mobile Crisis", kind="crisis_line"),
        "boise": add_resource(director, clinic["boise"], "Treasure Valley Therapy"),
        "national": services.national_crisis_resource(),
    }
