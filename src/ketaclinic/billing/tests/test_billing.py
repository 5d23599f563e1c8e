"""Billing services and pages: estimates, acceptance, payments, adjustments, refusals,
scoping, the append-only ledger and query counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.billing import selectors, services
from ketaclinic.billing.models import (
    AccountEntry,
    EntryKind,
    Estimate,
    EstimateLine,
    FeeScheduleEntry,
)
from ketaclinic.billing.tests.victims import victim_records

pytestmark = pytest.mark.django_db


def _prepare(c: dict[str, Any], **kwargs: Any) -> Estimate:
    return services.estimate_prepare(
        actor=c["coordinator"], patient=c["patient_slc"], course=c["course_slc"], **kwargs
    )


def _accepted(c: dict[str, Any], **kwargs: Any) -> Estimate:
    estimate = services.estimate_send(actor=c["coordinator"], estimate=_prepare(c, **kwargs))
    return services.estimate_accept(actor=c["patient_user"], estimate=estimate)


def test_an_iv_course_estimate_counts_its_planned_sessions(billed: dict[str, Any]) -> None:
    sessions = billed["course_slc"].planned_sessions.count()
    estimate = _prepare(billed, include_consultation=True, integration_sessions=2)
    lines = list(estimate.lines.all())
    assert [(line.code, line.quantity) for line in lines] == [
        ("90791", 1),
        ("96365", sessions),
        ("90834", 2),
    ]
    expected = Decimal("450.00") + sessions * Decimal("500.00") + 2 * Decimal("150.00")
    assert estimate.total == expected
    assert sum(i.amount for i in estimate.instalments.all()) == expected
    assert AuditEntry.objects.filter(object_type="estimate", object_id=str(estimate.pk)).exists()


def test_a_plan_splits_to_the_cent_in_monthly_local_dates(billed: dict[str, Any]) -> None:
    services.fee_change(
        actor=billed["director"],
        location=billed["slc"],
        service_key="iv_infusion",
        unit_fee="333.33",
        effective_from=timezone.localdate(timezone=billed["slc"].tz),
    )
    first = timezone.localdate(timezone=billed["slc"].tz) + timedelta(days=3)
    estimate = _prepare(billed, instalment_count=4, first_due_date=first)
    amounts = [i.amount for i in estimate.instalments.all()]
    assert sum(amounts) == estimate.total
    assert max(amounts) - min(amounts) <= Decimal("0.01")
    assert estimate.instalments.first().due_date == first


def test_accepting_posts_the_charges_and_a_payment_above_the_balance_is_refused(
    billed: dict[str, Any],
) -> None:
    estimate = _accepted(billed)
    patient = billed["patient_slc"]
    account = selectors.account_of(patient)
    totals = selectors.account_totals(account)
    assert totals["charges"] == estimate.total
    assert estimate.accepted_at is not None
    services.payment_record(
        actor=billed["coordinator"], patient=patient, amount="1000.00", method="cash"
    )
    before = AccountEntry.objects.count()
    with pytest.raises(ValidationError, match="more than the balance"):
        services.payment_record(
            actor=billed["coordinator"],
            patient=patient,
            amount=estimate.total,
            method="check",
            reference="1001",
        )
    assert AccountEntry.objects.count() == before
    assert selectors.account_totals(account)["balance"] == estimate.total - Decimal("1000.00")


@pytest.mark.parametrize("amount", ["-5", "0", "10.001", "ten"])
def test_bad_amounts_change_nothing(billed: dict[str, Any], amount: str) -> None:
    _accepted(billed)
    before = AccountEntry.objects.count()
    with pytest.raises(ValidationError):
        services.payment_record(
            actor=billed["coordinator"], patient=billed["patient_slc"], amount=amount, method="cash"
        )
    assert AccountEntry.objects.count() == before


def test_refunds_and_write_offs_are_entries_within_their_limits(billed: dict[str, Any]) -> None:
    estimate = _accepted(billed)
    patient, director = billed["patient_slc"], billed["director"]
    services.payment_record(actor=director, patient=patient, amount="500", method="cash")
    with pytest.raises(ValidationError, match=r"more than the \$500.00 paid"):
        services.adjustment_record(
            actor=director,
            patient=patient,
            kind="refund",
            amount="500.01",
            reason="x",
            method="cash",
        )
    services.adjustment_record(
        actor=director,
        patient=patient,
        kind="refund",
        amount="100",
        reason="Overpaid",
        method="cash",
    )
    services.adjustment_record(
        actor=director, patient=patient, kind="write_off", amount="50.50", reason="Hardship"
    )
    totals = selectors.account_totals(selectors.account_of(patient))
    assert totals["balance"] == estimate.total - Decimal("500") + Decimal("100") - Decimal("50.50")
    with pytest.raises(PermissionDenied):
        services.adjustment_record(
            actor=billed["coordinator"], patient=patient, kind="write_off", amount="1", reason="x"
        )


def test_the_ledger_and_sent_estimates_are_never_edited_or_deleted(billed: dict[str, Any]) -> None:
    _accepted(billed)
    entry = AccountEntry.objects.first()
    entry.amount = Decimal("1.00")
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AccountEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(PermissionError):
        AccountEntry.objects.all().delete()
    with pytest.raises(PermissionError):
        EstimateLine.objects.all().delete()
    with pytest.raises(PermissionError):
        Estimate.objects.first().delete()
    with pytest.raises(PermissionError):
        FeeScheduleEntry.objects.filter(location=billed["slc"]).update(unit_fee=1)


def test_a_revised_estimate_supersedes_the_waiting_one(billed: dict[str, Any]) -> None:
    first = services.estimate_send(actor=billed["coordinator"], estimate=_prepare(billed))
    second = _prepare(billed, include_consultation=True)
    first.refresh_from_db()
    assert first.status == Estimate.Status.SUPERSEDED
    assert second.supersedes_id == first.pk
    with pytest.raises(ValidationError, match="no longer waiting"):
        services.estimate_accept(actor=billed["patient_user"], estimate=first)


def test_a_fee_change_is_a_new_row_and_the_old_one_stays(billed: dict[str, Any]) -> None:
    today = timezone.localdate(timezone=billed["slc"].tz)
    old = selectors.current_fees(billed["slc"], today)["iv_infusion"]
    new = services.fee_change(
        actor=billed["admin"],
        location=billed["slc"],
        service_key="iv_infusion",
        unit_fee="550.00",
        effective_from=today,
    )
    assert selectors.current_fees(billed["slc"], today)["iv_infusion"] == new
    assert FeeScheduleEntry.objects.filter(pk=old.pk, unit_fee=Decimal("500.00")).exists()
    with pytest.raises(PermissionDenied):
        services.fee_change(
            actor=billed["coordinator"],
            location=billed["slc"],
            service_key="iv_infusion",
            unit_fee="1",
            effective_from=today,
        )


# --- Pages -----------------------------------------------------------------------------


def test_the_nurse_and_the_therapist_may_not_see_billing(
    client: Any, billed: dict[str, Any]
) -> None:
    patient = billed["patient_slc"]
    estimate = _prepare(billed)
    for role in ("nurse", "therapist", "prescriber", "patient_user"):
        client.force_login(billed[role])
        for url in (
            reverse("billing:tab", args=[patient.pk]),
            reverse("billing:estimate", args=[patient.pk, estimate.pk]),
            reverse("billing:superbill", args=[patient.pk]),
            reverse("billing:fee_schedule"),
        ):
            assert client.get(url).status_code == 403, (role, url)
        response = client.post(
            reverse("billing:payment_new", args=[patient.pk]), {"amount": "1", "method": "cash"}
        )
        assert response.status_code == 403
    client.force_login(billed["coordinator"])
    response = client.post(
        reverse("billing:adjustment_new", args=[patient.pk]),
        {"kind": "write_off", "amount": "1", "reason": "x"},
    )
    assert response.status_code == 403
    response = client.post(
        reverse("billing:fee_schedule"),
        {"service_key": "iv_infusion", "unit_fee": "1", "effective_from": "2030-01-01"},
    )
    assert response.status_code == 403


def test_other_locations_patients_are_404(client: Any, billed: dict[str, Any]) -> None:
    boise = billed["patient_boise"]
    estimate = services.estimate_prepare(
        actor=billed["director"], patient=boise, course=billed["course_boise"]
    )
    client.force_login(billed["coordinator"])
    for url in (
        reverse("billing:tab", args=[boise.pk]),
        reverse("billing:estimate", args=[boise.pk, estimate.pk]),
        reverse("billing:estimate_new", args=[boise.pk]),
        reverse("billing:superbill", args=[boise.pk]),
        # The estimate under the wrong patient is not found either.
        reverse("billing:estimate", args=[billed["patient_slc"].pk, estimate.pk]),
    ):
        assert client.get(url).status_code == 404, url
    for name in ("payment_new", "estimate_new"):
        assert client.post(reverse(f"billing:{name}", args=[boise.pk]), {}).status_code == 404
    response = client.post(reverse("billing:estimate_send", args=[boise.pk, estimate.pk]))
    assert response.status_code == 404
    estimate.refresh_from_db()
    assert estimate.status == Estimate.Status.DRAFT
    assert (
        client.get(reverse("billing:fee_schedule") + f"?location={billed['boise'].pk}").status_code
        == 404
    )


def test_a_patient_sees_and_accepts_only_their_own_estimate(
    client: Any, billed: dict[str, Any]
) -> None:
    own = services.estimate_send(actor=billed["coordinator"], estimate=_prepare(billed))
    other = services.estimate_prepare(
        actor=billed["director"], patient=billed["patient_boise"], course=billed["course_boise"]
    )
    other = services.estimate_send(actor=billed["director"], estimate=other)
    client.force_login(billed["patient_user"])
    assert client.get(reverse("billing:portal_estimate", args=[own.pk])).status_code == 200
    assert client.get(reverse("billing:portal_estimate", args=[other.pk])).status_code == 404
    response = client.post(
        reverse("billing:portal_estimate_accept", args=[other.pk]), {"agree": "yes"}
    )
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.status == Estimate.Status.SENT
    home = client.get(reverse("portal:home"))
    assert f"${own.total:,.2f}" in home.content.decode()
    entry = AuditEntry.objects.filter(detail__page="portal_home").latest("sequence")
    assert entry.detail["estimate_ids"] == [own.pk]
    # Not ticked: 400, nothing accepted.
    response = client.post(reverse("billing:portal_estimate_accept", args=[own.pk]), {})
    assert response.status_code == 400
    own.refresh_from_db()
    assert own.status == Estimate.Status.SENT
    client.post(reverse("billing:portal_estimate_accept", args=[own.pk]), {"agree": "yes"})
    own.refresh_from_db()
    assert own.status == Estimate.Status.ACCEPTED
    # Staff cannot accept on the patient's behalf, and a draft is not shown in the portal.
    with pytest.raises(PermissionDenied):
        services.estimate_accept(actor=billed["coordinator"], estimate=own)
    draft = _prepare(billed)
    assert client.get(reverse("billing:portal_estimate", args=[draft.pk])).status_code == 404
    assert client.get(reverse("billing:tab", args=[billed["patient_slc"].pk])).status_code == 403


def test_bad_payment_input_is_a_400_with_a_message_and_nothing_saved(
    client: Any, billed: dict[str, Any]
) -> None:
    _accepted(billed)
    patient = billed["patient_slc"]
    client.force_login(billed["coordinator"])
    url = reverse("billing:payment_new", args=[patient.pk])
    before = AccountEntry.objects.filter(kind=EntryKind.PAYMENT).count()
    for amount, message in [
        ("-20", "more than zero"),
        ("12.345", "two decimal places"),
        ("999999", "more than the balance"),
    ]:
        response = client.post(url, {"amount": amount, "method": "cash"})
        assert response.status_code == 400
        assert message in response.content.decode()
    response = client.post(url, {"amount": "10", "method": "card"})
    assert response.status_code == 400
    assert "receipt reference" in response.content.decode()
    assert AccountEntry.objects.filter(kind=EntryKind.PAYMENT).count() == before
    response = client.post(url, {"amount": "10", "method": "card", "reference": "ch_123"})
    assert response.status_code == 302


def test_views_are_audited(client: Any, billed: dict[str, Any]) -> None:
    client.force_login(billed["coordinator"])
    patient = billed["patient_slc"]
    client.get(reverse("billing:tab", args=[patient.pk]))
    assert AuditEntry.objects.filter(
        actor_id=billed["coordinator"].pk, patient_id=patient.pk, detail__page="billing"
    ).exists()


def test_the_victims_are_reachable_by_their_kwargs(client: Any, billed: dict[str, Any]) -> None:
    records = victim_records(billed["patient_slc"], billed["director"], billed)
    client.force_login(billed["coordinator"])
    url = reverse("billing:estimate", kwargs={"patient_id": billed["patient_slc"].pk, **records})
    assert client.get(url).status_code == 200
    client.force_login(billed["nurse_boise"])
    assert client.get(url).status_code in {403, 404}


def test_list_queries_do_not_grow_with_rows(client: Any, billed: dict[str, Any]) -> None:
    patient = billed["patient_slc"]
    client.force_login(billed["director"])
    _accepted(billed, instalment_count=3)
    services.payment_record(actor=billed["director"], patient=patient, amount="1", method="cash")

    def count(url: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    tab = reverse("billing:tab", args=[patient.pk])
    few = count(tab)
    for n in range(5):
        services.payment_record(
            actor=billed["director"], patient=patient, amount="1", method="cash"
        )
        services.estimate_prepare(
            actor=billed["director"],
            patient=patient,
            course=billed["course_slc"],
            instalment_count=n + 1,
        )
    assert count(tab) == few
    client.force_login(billed["patient_user"])
    portal = reverse("billing:portal_billing")
    few = count(portal)
    services.payment_record(actor=billed["director"], patient=patient, amount="1", method="cash")
    assert count(portal) == few
    client.force_login(billed["coordinator"])
    fees = reverse("billing:fee_schedule")
    few = count(fees)
    services.fee_change(
        actor=billed["director"],
        location=billed["slc"],
        service_key="consultation",
        unit_fee="480",
        effective_from=timezone.localdate(timezone=billed["slc"].tz),
    )
    assert count(fees) == few
    client.force_login(billed["director"])
    overdue = reverse("billing:overdue")
    few = count(overdue)
    other = services.estimate_send(
        actor=billed["director"],
        estimate=services.estimate_prepare(
            actor=billed["director"],
            patient=billed["patient_boise"],
            course=billed["course_boise"],
            instalment_count=4,
        ),
    )
    services.estimate_record_signed_copy(actor=billed["director"], estimate=other)
    assert count(overdue) == few


def test_a_sent_estimate_is_not_sent_again_and_bad_estimate_input_is_a_400(
    client: Any, billed: dict[str, Any]
) -> None:
    estimate = services.estimate_send(actor=billed["coordinator"], estimate=_prepare(billed))
    with pytest.raises(ValidationError, match="sent"):
        services.estimate_send(actor=billed["coordinator"], estimate=estimate)
    line = estimate.lines.first()
    line.unit_fee = Decimal("1.00")
    with pytest.raises(PermissionError):
        line.save()
    client.force_login(billed["coordinator"])
    url = reverse("billing:estimate_new", args=[billed["patient_slc"].pk])
    assert client.get(url).status_code == 200
    before = Estimate.objects.count()
    today = timezone.localdate(timezone=billed["slc"].tz)
    for data in (
        {"course": billed["course_slc"].pk, "integration_sessions": 0, "instalment_count": 0},
        {
            "course": billed["course_slc"].pk,
            "integration_sessions": 0,
            "instalment_count": 2,
            "first_due_date": (today - timedelta(days=1)).isoformat(),
        },
        {"course": billed["course_boise"].pk, "integration_sessions": 0, "instalment_count": 1},
    ):
        data.setdefault("first_due_date", today.isoformat())
        assert client.post(url, data).status_code == 400
    assert Estimate.objects.count() == before


def test_the_billing_tab_shows_only_to_roles_with_billing_view(
    client: Any, billed: dict[str, Any]
) -> None:
    from ketaclinic.plugins import audit_label

    tab = reverse("billing:tab", args=[billed["patient_slc"].pk])
    overview = reverse("patients:chart", args=[billed["patient_slc"].pk])
    client.force_login(billed["coordinator"])
    assert f'href="{tab}"' in client.get(overview).content.decode()
    client.force_login(billed["nurse"])
    assert f'href="{tab}"' not in client.get(overview).content.decode()
    assert audit_label("account_entry") == "Account entry"
