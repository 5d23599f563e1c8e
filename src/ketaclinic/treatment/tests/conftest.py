from datetime import date
from decimal import Decimal
from typing import Any

import pytest


@pytest.fixture
def ready(clinic: dict[str, Any]) -> dict[str, Any]:
    """The clinic with protocols loaded, a weighed patient and a published consent."""
    from ketaclinic.eligibility.services import consent_document_publish
    from ketaclinic.patients.models import BodyMeasurement
    from ketaclinic.treatment.services import protocols_seed_packaged

    protocols_seed_packaged()
    patient = clinic["patient_slc"]
    BodyMeasurement.objects.create(
        patient=patient,
        measured_on=date(2026, 11, 1),
        weight_kg=Decimal("80.0"),
        height_cm=Decimal("170"),
    )
    consent_document_publish(
        actor=clinic["director"], title="Consent", body="Plain sample consent."
    )
    return clinic
