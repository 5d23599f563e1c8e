"""Plans falling overdue, estimates without a course or for esketamine, paper acceptance,
and the fee schedule page."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from ketaclinic.billing import selectors, services
from ketaclinic.billing.models import EntryKind, Estimate, FeeScheduleEntry
from ketaclinic.conftest import make_course

pytestmark = pytest.mark.django_db


def test_an_estimate_without_a_course_and_its_charges_on_the_day_of_acceptance(
    billed: dict[str, Any],
) -> None:
    patient = billed["patient_boise"]
    with pytest.raises(ValidationError, match="Choose a course"):
        services.estimate_prepare(actor=billed["director"], patient=patient)
    estimate = services.estimate_prepare(
        actor=billed["director"], patient=patient, include_consultation=True, integration_sessions=3
    )
    assert estimate.total == Decimal("450.00") + 3 * Decimal("150.00")
    services.estimate_send(actor=billed["director"], estimate=estimate)
    accepted = services.estimate_record_signed_copy(actor=billed["director"], estimate=estimate)
    assert accepted.status == Estimate.Status.ACCEPTED
    today = timezone.localdate(timezone=billed["boise"].tz)
    charges = selectors.account_of(patient).entries.filter(kind=EntryKind.CHARGE)
    assert {(c.code, c.units, c.amount, c.service_date) for c in charges} == {
        ("90791", 1, Decimal("450.00"), today),
        ("90834", 3, Decimal("450.00"), today),
    }
    with pytest.raises(ValidationError, match="no longer waiting"):
        services.estimate_record_signed_copy(actor=billed["director"], estimate=estimate)


def test_an_esketamine_course_is_estimated_by_dose(clinic: dict[str, Any]) -> None:
    services.fee_schedule_copy_defaults(actor=clinic["director"], location=clinic["slc"])
    course = make_course(clinic["patient_slc"], clinic["director"], "esketamine-trd")
    estimate = services.estimate_prepare(
        actor=clinic["coordinator"], patient=clinic["patient_slc"], course=course
    )
    codes = {line.code: line.quantity for line in estimate.lines.all()}
    doses = [p.planned_dose_mg for p in course.planned_sessions.all()]
    expected = {
        "G2082": sum(1 for d in doses if d <= 56),
        "G2083": sum(1 for d in doses if d > 56),
    }
    assert codes == {k: v for k, v in expected.items() if v}


def test_an_unpaid_instalment_falls_overdue_after_its_due_date(
    client: Any, billed: dict[str, Any]
) -> None:
    tz = billed["slc"].tz
    first = timezone.localdate(timezone=tz) + timedelta(days=1)
    estimate = services.estimate_prepare(
        actor=billed["coordinator"],
        patient=billed["patient_slc"],
        course=billed["course_slc"],
        instalment_count=2,
        first_due_date=first,
    )
    services.estimate_send(actor=billed["coordinator"], estimate=estimate)
    services.estimate_accept(actor=billed["patient_user"], estimate=estimate)
    client.force_login(billed["coordinator"])
    assert "No instalment is overdue" in client.get(reverse("billing:overdue")).content.decode()
    # The day after the first due date, in the clinic's own time zone.
    later = datetime.combine(first + timedelta(days=1), time(9, 0), tzinfo=tz)
    with time_machine.travel(later, tick=False):
        rows = selectors.overdue_instalments(billed["coordinator"])
        assert [(r["state"].number, r["patient"]) for r in rows] == [(1, billed["patient_slc"])]
        client.force_login(billed["coordinator"])  # the earlier session has timed out
        page = client.get(reverse("billing:overdue")).content.decode()
        assert billed["patient_slc"].display_name in page
        # Paid in part: still overdue; paid in full: not.
        services.payment_record(
            actor=billed["coordinator"], patient=billed["patient_slc"], amount="10", method="cash"
        )
        assert len(selectors.overdue_instalments(billed["coordinator"])) == 1
        services.payment_record(
            actor=billed["coordinator"],
            patient=billed["patient_slc"],
            amount=estimate.instalments.first().amount - 10,
            method="cash",
        )
        assert selectors.overdue_instalments(billed["coordinator"]) == []
        # Another location's coordinator would not see the SLC patient at all.
        assert selectors.overdue_instalments(billed["nurse_boise"]) == []


def test_the_fee_schedule_page_and_its_changes(client: Any, clinic: dict[str, Any]) -> None:
    client.force_login(clinic["admin"])
    url = reverse("billing:fee_schedule") + f"?location={clinic['slc'].pk}"
    assert "has no fee schedule yet" in client.get(url).content.decode()
    client.post(url, {"location": clinic["slc"].pk, "action": "copy_defaults"})
    page = client.get(url).content.decode()
    assert "G2082" in page and "Example: set your fee" in page
    with pytest.raises(ValidationError, match="already"):
        services.fee_schedule_copy_defaults(actor=clinic["admin"], location=clinic["slc"])
    today = timezone.localdate(timezone=clinic["slc"].tz)
    bad = client.post(
        url,
        {
            "location": clinic["slc"].pk,
            "service_key": "iv_infusion",
            "unit_fee": "-1",
            "effective_from": today.isoformat(),
        },
    )
    assert bad.status_code == 400 and "more than zero" in bad.content.decode()
    past = client.post(
        url,
        {
            "location": clinic["slc"].pk,
            "service_key": "iv_infusion",
            "unit_fee": "525",
            "effective_from": (today - timedelta(days=1)).isoformat(),
        },
    )
    assert past.status_code == 400 and "never in the past" in past.content.decode()
    assert FeeScheduleEntry.objects.filter(unit_fee=Decimal("525")).count() == 0
    ok = client.post(
        url,
        {
            "location": clinic["slc"].pk,
            "service_key": "iv_infusion",
            "unit_fee": "525",
            "effective_from": today.isoformat(),
            "note": "2027 fee",
        },
    )
    assert ok.status_code == 302
    page = client.get(url).content.decode()
    assert "$525.00" in page and "Earlier fees" in page and "$500.00" in page


def test_the_portal_home_shows_nothing_of_billing_without_an_estimate(
    client: Any, billed: dict[str, Any]
) -> None:
    client.force_login(billed["patient_user"])
    assert "Costs and payments" not in client.get(reverse("portal:home")).content.decode()
    assert client.get(reverse("billing:portal_billing")).status_code == 200
    client.force_login(billed["coordinator"])
    assert client.get(reverse("billing:portal_billing")).status_code == 403


def test_a_second_plan_is_not_paid_by_what_settled_the_first(billed: dict[str, Any]) -> None:
    """Payments settle the oldest charges first: a first estimate paid in full leaves the
    next accepted plan wholly unpaid, and its instalments fall overdue."""
    patient, actor = billed["patient_boise"], billed["director"]
    tz = billed["boise"].tz
    first = services.estimate_prepare(actor=actor, patient=patient, include_consultation=True)
    services.estimate_send(actor=actor, estimate=first)
    services.estimate_record_signed_copy(actor=actor, estimate=first)
    services.payment_record(actor=actor, patient=patient, amount=first.total, method="cash")
    due = timezone.localdate(timezone=tz) + timedelta(days=1)
    second = services.estimate_prepare(
        actor=actor, patient=patient, integration_sessions=2, instalment_count=2,
        first_due_date=due,
    )  # fmt: skip
    services.estimate_send(actor=actor, estimate=second)
    services.estimate_record_signed_copy(actor=actor, estimate=second)
    balance = selectors.account_totals(selectors.account_of(patient))["balance"]
    assert balance == second.total
    plan = selectors.accepted_plan(patient, balance)
    assert plan is not None and plan["estimate"] == second
    assert [row["state"].paid for row in plan["rows"]] == [Decimal("0"), Decimal("0")]
    later = datetime.combine(due + timedelta(days=1), time(9, 0), tzinfo=tz)
    with time_machine.travel(later, tick=False):
        rows = selectors.overdue_instalments(actor)
    assert [(r["estimate"], r["state"].number) for r in rows] == [(second, 1)]


def test_the_account_follows_the_patient_to_another_location(billed: dict[str, Any]) -> None:
    patient, actor = billed["patient_boise"], billed["director"]
    estimate = services.estimate_prepare(actor=actor, patient=patient, include_consultation=True)
    services.estimate_send(actor=actor, estimate=estimate)
    services.estimate_record_signed_copy(actor=actor, estimate=estimate)
    type(patient).objects.filter(pk=patient.pk).update(primary_location=billed["slc"])
    patient.refresh_from_db()
    services.payment_record(actor=actor, patient=patient, amount="100.00", method="cash")
    totals = selectors.account_totals(selectors.account_of(patient))
    assert totals["balance"] == estimate.total - Decimal("100.00")
