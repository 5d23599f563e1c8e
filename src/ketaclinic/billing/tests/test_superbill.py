"""The superbill PDF: clinic, provider, patient, diagnoses, each service with its date,
code, units and fee, payments, totals and balance, to the cent."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from ketaclinic.billing import services
from ketaclinic.billing.superbill import Superbill, SuperbillLine, SuperbillPayment, superbill_pdf
from ketaclinic.billing.tests.pdftext import pdf_text
from ketaclinic.patients.models import Diagnosis


def test_the_superbill_says_everything_to_the_cent() -> None:
    bill = Superbill(
        clinic_name="SLC Clinic",
        clinic_address="1 Main St, SLC, UT 84111",
        clinic_phone="(801) 555-0100",
        provider="Pat Prescriber, MD",
        patient_name="Ada Lovelace",
        patient_birth_date=date(1980, 4, 2),
        patient_address="2 Elm St, SLC, UT 84111",
        patient_mrn="KC-000001-7",
        diagnoses=[("F33.2", "Major depressive disorder, recurrent severe")],
        lines=[
            SuperbillLine(date(2027, 1, 4), "96365", "IV ketamine infusion", 1, Decimal("512.35")),
            SuperbillLine(date(2027, 1, 6), "96365", "IV ketamine infusion", 1, Decimal("512.35")),
        ],
        payments=[SuperbillPayment(date(2027, 1, 4), "Cash", "", Decimal("24.70"))],
        total_charges=Decimal("1024.70"),
        total_paid=Decimal("24.70"),
        adjustments=Decimal("0"),
        balance=Decimal("1000.00"),
        issued_on=date(2027, 1, 7),
    )
    text = pdf_text(superbill_pdf(bill))
    for expected in (
        "SLC Clinic",
        "1 Main St, SLC, UT 84111",
        "(801) 555-0100",
        "Pat Prescriber, MD",
        "Ada Lovelace",
        "1980-04-02",
        "2 Elm St",
        "F33.2",
        "2027-01-04",
        "2027-01-06",
        "96365",
        "$512.35",
        "Total charges: $1,024.70",
        "Total paid: $24.70",
        "Balance due: $1,000.00",
    ):
        assert expected in text, expected


@pytest.mark.django_db
def test_the_superbill_page_lists_the_accounts_charges(client: Any, billed: dict[str, Any]) -> None:
    patient = billed["patient_slc"]
    Diagnosis.objects.create(
        patient=patient,
        icd10_code="F33.2",
        description="Major depressive disorder, recurrent, severe",
        is_primary=True,
        recorded_by=billed["prescriber"],
    )
    estimate = services.estimate_prepare(
        actor=billed["coordinator"],
        patient=patient,
        course=billed["course_slc"],
        include_consultation=True,
    )
    services.estimate_send(actor=billed["coordinator"], estimate=estimate)
    services.estimate_accept(actor=billed["patient_user"], estimate=estimate)
    services.payment_record(
        actor=billed["coordinator"], patient=patient, amount="450.00", method="hsa_fsa"
    )
    client.force_login(billed["coordinator"])
    response = client.get(reverse("billing:superbill", args=[patient.pk]))
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    sessions = billed["course_slc"].planned_sessions.all()
    first = timezone.localdate(sessions[0].starts_at, timezone=billed["slc"].tz)
    assert f"{first:%Y-%m-%d}" in text
    assert "90791" in text and "96365" in text and "F33.2" in text
    total = Decimal("450.00") + len(sessions) * Decimal("500.00")
    assert f"Total charges: ${total:,.2f}" in text
    assert "Total paid: $450.00" in text
    assert f"Balance due: ${total - Decimal('450.00'):,.2f}" in text
