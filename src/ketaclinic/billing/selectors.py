"""Reads of fees, estimates and accounts, each in a fixed number of queries whatever the
number of rows. The balance is computed in SQL from the entries."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Case, DecimalField, F, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.billing.models import (
    Account,
    AccountEntry,
    EntryKind,
    Estimate,
    FeeScheduleEntry,
)
from ketaclinic.clinical import money
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import DiagnosisStatus, Patient
from ketaclinic.patients.selectors import patient_scope

ZERO = Value(Decimal("0.00"), output_field=DecimalField(max_digits=12, decimal_places=2))


def _sum_of(kind: str) -> Coalesce:
    return Coalesce(
        Sum(
            Case(When(kind=kind, then=F("amount")), default=ZERO),
            output_field=DecimalField(max_digits=12, decimal_places=2),
        ),
        ZERO,
    )


def _totals(entries: QuerySet[AccountEntry]) -> dict[str, Decimal]:
    sums = entries.aggregate(
        charges=_sum_of(EntryKind.CHARGE),
        payments=_sum_of(EntryKind.PAYMENT),
        refunds=_sum_of(EntryKind.REFUND),
        write_offs=_sum_of(EntryKind.WRITE_OFF),
    )
    sums = {key: money.cents(value) for key, value in sums.items()}
    sums["balance"] = money.account_balance(**sums)
    sums["net_paid"] = money.cents(sums["payments"] - sums["refunds"])
    return sums


def account_totals(account: Account | None) -> dict[str, Decimal]:
    """Charges, payments, refunds, write-offs, the balance (charges - payments + refunds -
    write-offs) and the net paid, in one query."""
    if account is None:
        return _totals(AccountEntry.objects.none())
    return _totals(AccountEntry.objects.filter(account=account))


def account_of(patient: Patient) -> Account | None:
    """The patient's account, if one has been opened."""
    return Account.objects.filter(patient=patient).first()


def account_entries(account: Account | None) -> QuerySet[AccountEntry]:
    """The ledger, oldest first (one query)."""
    if account is None:
        return AccountEntry.objects.none()
    return AccountEntry.objects.filter(account=account).select_related("recorded_by")


def current_fees(location: Location, on: date) -> dict[str, FeeScheduleEntry]:
    """Each service's fee at the location on a date: its latest row in effect (one query)."""
    rows = FeeScheduleEntry.objects.filter(location=location, effective_from__lte=on).order_by(
        "service_key", "-effective_from", "-created_at", "-id"
    )
    fees: dict[str, FeeScheduleEntry] = {}
    for row in rows:
        fees.setdefault(row.service_key, row)
    return fees


def fee_schedule(location: Location) -> dict[str, Any]:
    """The fee schedule page of a location: the fees in effect today, the changes to come,
    and the history (two queries)."""
    today = timezone.localdate(timezone=location.tz)
    current = current_fees(location, today)
    history = list(
        FeeScheduleEntry.objects.filter(location=location)
        .select_related("created_by")
        .order_by("service_key", "-effective_from", "-created_at", "-id")
    )
    current_ids = {row.pk for row in current.values()}
    return {
        "location": location,
        "today": today,
        "current": sorted(current.values(), key=lambda row: row.name),
        "upcoming": [r for r in history if r.effective_from > today],
        "history": [r for r in history if r.pk not in current_ids and r.effective_from <= today],
    }


def estimates_of(patient: Patient) -> QuerySet[Estimate]:
    """The patient's estimates, newest first, with their lines and plans (three queries)."""
    return (
        Estimate.objects.filter(patient=patient)
        .select_related("prepared_by", "course__protocol", "location")
        .prefetch_related("lines", "instalments")
        .order_by("-created_at", "-id")
    )


def estimate_get_for_user(
    user: User, estimate_id: int, *, patient: Patient | None = None
) -> Estimate:
    """One estimate of a patient `user` may see (and of `patient`, when given), else 404."""
    estimates = Estimate.objects.filter(patient_scope(user, via="patient"), pk=estimate_id)
    if patient is not None:
        estimates = estimates.filter(patient=patient)
    estimate = (
        estimates.select_related("patient__primary_location", "location", "course__protocol")
        .prefetch_related("lines", "instalments")
        .first()
    )
    if estimate is None:
        raise Http404("No such estimate")
    return estimate


def paid_toward(plan_total: Decimal, balance: Decimal) -> Decimal:
    """What has been paid toward the latest plan: payments settle the oldest charges first,
    so what is still owed of it is the balance, up to its total."""
    return plan_total - min(max(balance, Decimal("0")), plan_total)


def accepted_plan(patient: Patient, balance: Decimal) -> dict[str, Any] | None:
    """The latest accepted estimate's payment plan, each instalment paid, due or overdue
    (what is paid toward it settles the earliest instalment first), and the overdue ones."""
    estimate = (
        Estimate.objects.filter(patient=patient, status=Estimate.Status.ACCEPTED)
        .prefetch_related("instalments")
        .order_by("-accepted_at", "-id")
        .first()
    )
    if estimate is None:
        return None
    today = timezone.localdate(timezone=patient.primary_location.tz)
    instalments = [(i.due_date, i.amount) for i in estimate.instalments.all()]
    plan_total = sum((amount for _due, amount in instalments), Decimal("0"))
    states = money.instalment_states(instalments, paid_toward(plan_total, balance))
    rows = [{"state": s, "status": s.status(today), "overdue": s.is_overdue(today)} for s in states]
    return {
        "estimate": estimate,
        "rows": rows,
        "overdue": [r for r in rows if r["overdue"]],
        "today": today,
    }


def overdue_instalments(user: User, *, location_id: int | None = None) -> list[dict[str, Any]]:
    """Accepted plans' overdue instalments at the patients `user` may see, for the billing
    work list: a fixed number of queries (the plans, their instalments, the paid sums)."""
    estimates = (
        Estimate.objects.filter(patient_scope(user, via="patient"), status=Estimate.Status.ACCEPTED)
        .select_related("patient__primary_location")
        .prefetch_related("instalments")
        .order_by("patient__last_name_key", "id")
    )
    if location_id is not None:
        estimates = estimates.filter(location_id=location_id)
    estimates = list(estimates)
    balances = {
        row["account__patient_id"]: money.account_balance(
            **{k: money.cents(row[k]) for k in ("charges", "payments", "refunds", "write_offs")}
        )
        for row in AccountEntry.objects.filter(
            account__patient_id__in={e.patient_id for e in estimates}
        )
        .values("account__patient_id")
        .annotate(
            charges=_sum_of(EntryKind.CHARGE),
            payments=_sum_of(EntryKind.PAYMENT),
            refunds=_sum_of(EntryKind.REFUND),
            write_offs=_sum_of(EntryKind.WRITE_OFF),
        )
    }
    out = []
    latest: set[int] = set()
    for estimate in sorted(estimates, key=lambda e: e.accepted_at or e.created_at, reverse=True):
        if estimate.patient_id in latest:
            continue
        latest.add(estimate.patient_id)
        instalments = [(i.due_date, i.amount) for i in estimate.instalments.all()]
        plan_total = sum((amount for _due, amount in instalments), Decimal("0"))
        paid = paid_toward(plan_total, balances.get(estimate.patient_id, Decimal("0")))
        today = timezone.localdate(timezone=estimate.patient.primary_location.tz)
        for state in money.instalment_states(instalments, paid):
            if state.is_overdue(today):
                out.append({"patient": estimate.patient, "estimate": estimate, "state": state})
    return sorted(out, key=lambda r: (r["state"].due_date, r["patient"].pk))


def open_estimates_for_portal(patient: Patient) -> list[Estimate]:
    """The patient's estimates sent and waiting for their acceptance."""
    return list(
        Estimate.objects.filter(patient=patient, status=Estimate.Status.SENT).order_by(
            "-sent_at", "-id"
        )
    )


def superbill_rows(patient: Patient) -> dict[str, Any]:
    """What a superbill lists: the patient's charges by date with codes, the payments, the
    totals and the diagnoses (ICD-10-CM) (four queries)."""
    account = account_of(patient)
    # The provider named on the superbill is the course's prescriber (views._provider).
    entries = list(
        account_entries(account).select_related("estimate_line__estimate__course__prescriber")
    )
    return {
        "account": account,
        "charges": sorted(
            (e for e in entries if e.kind == EntryKind.CHARGE),
            key=lambda e: (e.service_date, e.pk),
        ),
        "payments": [e for e in entries if e.kind == EntryKind.PAYMENT],
        "totals": account_totals(account),
        "diagnoses": list(
            patient.diagnoses.exclude(status=DiagnosisStatus.RESOLVED).order_by(
                "-is_primary", "icd10_code"
            )
        ),
    }
