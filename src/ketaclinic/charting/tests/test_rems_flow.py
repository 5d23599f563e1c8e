"""An esketamine session produces the Spravato REMS Patient Monitoring Form
(clinical-reference.md section 6); the REMS page follows it from pending to submitted, and
an unsent form turns overdue after 7 days (frozen clock)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from ketaclinic.charting import services
from ketaclinic.charting.models import RemsFormOwed, TreatmentSession
from ketaclinic.charting.selectors import rems_form
from ketaclinic.charting.tests.conftest import ago, prechecked, vitals
from ketaclinic.clinical.rems import CONCOMITANT_CLASSES
from ketaclinic.patients.models import Medication

# Every field of reference section 6, by the form's keys.
SECTION_6_KEYS = [
    "patient_name",
    "patient_date_of_birth",
    "patient_sex",
    "first_treatment",
    "patient_enrolled",
    *(f"concomitant_{key}" for key, _ in CONCOMITANT_CLASSES),
    "monitoring_provider",
    "setting_name",
    "setting_address",
    "treatment_date",
    "dose",
    "lot_numbers",
    "total_monitoring_minutes",
    "ready_to_leave_minute",
    "vitals_acceptable_before_dosing",
    "vitals_acceptable_at_completion",
    "bp_before_dosing",
    "bp_at_40_min",
    "bp_before_completion",
    "sedation",
    "dissociation",
    "respiratory_depression",
    "serious_adverse_events",
]


def _completed_esketamine_session(clinic: dict[str, Any]) -> TreatmentSession:
    nurse = clinic["nurse"]
    Medication.objects.create(
        patient=clinic["patient_slc"],
        name="Lorazepam",
        medication_class="benzodiazepine",
        dose_mg_per_day=1,
    )
    session = prechecked(clinic, "esketamine-trd")
    vitals(nurse, session, 150, (132, 84), heart_rate=70)
    first = session.__class__.objects.get(pk=session.pk)
    services.dosing_record(
        actor=nurse, session=first, kind="device", at=ago(145), lot_number="SPR-1"
    )
    services.dosing_record(
        actor=nurse, session=TreatmentSession.objects.get(pk=session.pk), kind="device", at=ago(140)
    )
    session = TreatmentSession.objects.get(pk=session.pk)
    for minutes, bp in ((105, (150, 92)), (65, (138, 86)), (25, (134, 84)), (5, (132, 82))):
        vitals(nurse, TreatmentSession.objects.get(pk=session.pk), minutes, bp, heart_rate=72)
    services.score_record(
        actor=nurse, session=session, instrument="moaas", score=4, taken_at=ago(120)
    )
    services.score_record(
        actor=nurse, session=session, instrument="moaas", score=5, taken_at=ago(5)
    )
    services.score_record(
        actor=nurse, session=session, instrument="cadss6", score=6, taken_at=ago(115)
    )
    session = TreatmentSession.objects.get(pk=session.pk)
    for alert in session.alerts.filter(acknowledged_at__isnull=True):
        services.alert_acknowledge(actor=nurse, alert=alert, action_taken="late entry reviewed")
    services.discharge_confirmations_record(
        actor=nurse,
        session=TreatmentSession.objects.get(pk=session.pk),
        symptoms_resolved=True,
        escort_present=True,
        instructions_given=True,
    )
    services.session_discharge(actor=nurse, session=TreatmentSession.objects.get(pk=session.pk))
    return TreatmentSession.objects.get(pk=session.pk)


@pytest.mark.django_db
def test_the_form_carries_every_field_of_section_6(clinic: dict[str, Any]) -> None:
    session = _completed_esketamine_session(clinic)
    form = rems_form(session)
    assert [f.key for f in form.fields] == SECTION_6_KEYS
    assert form.complete, [f.label for f in form.fields if f.missing]
    assert form.value("patient_name") == "Ada Lovelace"
    assert form.value("patient_enrolled").startswith("Yes") and "P-12345" in form.value(
        "patient_enrolled"
    )
    assert form.value("first_treatment") == "Yes"
    assert form.value("concomitant_benzodiazepine") == "Yes"
    assert form.value("concomitant_opioid") == "No"
    assert form.value("dose") == "56 mg"
    assert form.value("lot_numbers") == "SPR-1"
    assert form.value("total_monitoring_minutes").startswith("145")
    assert form.value("bp_before_dosing").startswith("132/84")
    assert form.value("bp_at_40_min").startswith("150/92")
    assert form.value("bp_before_completion").startswith("132/82")
    assert form.value("sedation") == "Yes" and form.value("dissociation") == "Yes"
    assert form.value("respiratory_depression") == "No"
    assert "REMS-S-1001" in form.value("setting_address")


@pytest.mark.django_db
def test_rems_page_pending_then_submitted_and_overdue_after_7_days(
    clinic: dict[str, Any],
) -> None:
    session = _completed_esketamine_session(clinic)
    # The database keeps the form as owed (charting/triggers.py) until it is submitted.
    assert RemsFormOwed.objects.filter(session_id=session.pk).exists()
    client = Client()
    client.force_login(clinic["nurse"])
    page = client.get("/rems/?status=pending").content.decode()
    assert f'data-session="{session.pk}"' in page
    pdf = client.get(f"/patients/{session.patient_id}/sessions/{session.pk}/rems/?format=pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    printable = client.get(f"/patients/{session.patient_id}/sessions/{session.pk}/rems/")
    assert b"Spravato REMS Patient Monitoring Form" in printable.content
    assert b"MISSING" not in printable.content

    with time_machine.travel(timezone.now() + timedelta(days=8), tick=False):
        client.force_login(clinic["nurse"])  # the idle timeout logged us out
        overdue = client.get("/rems/?status=overdue").content.decode()
        assert f'data-session="{session.pk}"' in overdue
        assert (
            f'data-session="{session.pk}"'
            not in client.get("/rems/?status=pending").content.decode()
        )

    today = timezone.localdate()
    with pytest.raises(ValidationError, match="confirmation number"):
        services.rems_submission_record(
            actor=clinic["nurse"],
            session=session,
            submitted_on=today,
            method="online",
            confirmation_number="",
        )
    response = client.post(
        f"/patients/{session.patient_id}/sessions/{session.pk}/rems/submit/",
        {"submitted_on": today.isoformat(), "method": "online", "confirmation_number": "RC-884"},
    )
    assert response.status_code == 302
    assert not RemsFormOwed.objects.filter(session_id=session.pk).exists()
    for listing in ("pending", "overdue"):
        page = client.get(f"/rems/?status={listing}").content.decode()
        assert f'data-session="{session.pk}"' not in page
    submitted = client.get("/rems/?status=submitted").content.decode()
    assert f'data-session="{session.pk}"' in submitted and "RC-884" in submitted
    with time_machine.travel(timezone.now() + timedelta(days=30), tick=False):
        client.force_login(clinic["nurse"])  # the idle timeout logged us out
        still = client.get("/rems/?status=submitted").content.decode()
        assert f'data-session="{session.pk}"' in still
    with pytest.raises(ValidationError, match="already recorded"):
        services.rems_submission_record(
            actor=clinic["nurse"],
            session=session,
            submitted_on=today,
            method="fax",
            confirmation_number="X",
        )
