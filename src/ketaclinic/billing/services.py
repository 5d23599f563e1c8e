"""Every billing write: the fee schedule, estimates and their plans, the account's
entries. Each checks the capability (and the patient's location), runs in one
transaction and writes one audit entry. Rules: fees.json and the location's fee rows;
arithmetic: ketaclinic.clinical.money (docs/billing.md)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.permissions import require_capability, require_own_location
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.billing.models import (
    Account,
    AccountEntry,
    EntryKind,
    Estimate,
    EstimateLine,
    FeeScheduleEntry,
    PaymentMethod,
    PlanInstalment,
)
from ketaclinic.billing.selectors import account_totals, current_fees
from ketaclinic.clinical import money
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import require_patient_access
from ketaclinic.treatment.models import TreatmentCourse

FEES_FILE = Path(__file__).with_name("fees.json")
MAX_INSTALMENTS = 24
MAX_EXTRA_SESSIONS = 52
NOTE_CHARS = 300
REFERENCE_CHARS = 60


@lru_cache(maxsize=1)
def packaged_fees() -> dict[str, Any]:
    """The packaged example fee schedule and course rules (fees.json, with its sources)."""
    return json.loads(FEES_FILE.read_text())


def _amount(value: str | Decimal) -> Decimal:
    try:
        return money.parse_amount(value)
    except ValueError as error:
        raise ValidationError(str(error)) from error


# --- The fee schedule --------------------------------------------------------------------


def fee_schedule_copy_defaults(*, actor: User, location: Location) -> list[FeeScheduleEntry]:
    """Give a location the packaged example fees (fees.json), marked as examples the clinic
    must set, effective from today there. Refused when it has a fee schedule already."""
    require_capability(actor, "billing.configure")
    require_own_location(actor, location)
    with transaction.atomic():
        Location.objects.select_for_update().get(pk=location.pk)
        if FeeScheduleEntry.objects.filter(location=location).exists():
            raise ValidationError(f"{location.short_name} has a fee schedule already.")
        today = timezone.localdate(timezone=location.tz)
        rows = FeeScheduleEntry.objects.bulk_create(
            FeeScheduleEntry(
                location=location,
                service_key=service["key"],
                name=service["name"],
                code_system=service["code_system"],
                code=service["code"],
                unit_fee=Decimal(service["unit_fee"]),
                effective_from=today,
                is_example=True,
                change_note="Example amount from the packaged fee schedule.",
                created_by=actor,
            )
            for service in packaged_fees()["services"]
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="fee_schedule",
            object_id=location.pk,
            detail={"services": [row.service_key for row in rows], "examples": True},
        )
    return rows


def fee_change(
    *,
    actor: User,
    location: Location,
    service_key: str,
    unit_fee: str | Decimal,
    effective_from: date,
    note: str = "",
) -> FeeScheduleEntry:
    """Set a service's fee at a location from a date: a new row; the old one is kept and
    still prices what was estimated before."""
    require_capability(actor, "billing.configure")
    require_own_location(actor, location)
    fee = _amount(unit_fee)
    today = timezone.localdate(timezone=location.tz)
    if effective_from < today:
        raise ValidationError("A fee change takes effect today or later, never in the past.")
    with transaction.atomic():
        latest = (
            FeeScheduleEntry.objects.filter(location=location, service_key=service_key)
            .order_by("-effective_from", "-created_at", "-id")
            .first()
        )
        if latest is None:
            raise ValidationError("No such service on this location's fee schedule.")
        row = FeeScheduleEntry.objects.create(
            location=location,
            service_key=service_key,
            name=latest.name,
            code_system=latest.code_system,
            code=latest.code,
            unit_fee=fee,
            effective_from=effective_from,
            is_example=False,
            change_note=(note or "").strip()[:200],
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="fee_schedule_entry",
            object_id=row.pk,
            detail={
                "location_id": location.pk,
                "service": service_key,
                "unit_fee": str(fee),
                "previous_fee": str(latest.unit_fee),
                "effective_from": effective_from.isoformat(),
            },
        )
    return row


# --- Estimates and plans -----------------------------------------------------------------


def estimate_prepare(
    *,
    actor: User,
    patient: Patient,
    course: TreatmentCourse | None = None,
    include_consultation: bool = False,
    integration_sessions: int = 0,
    instalment_count: int = 1,
    first_due_date: date | None = None,
    note: str = "",
) -> Estimate:
    """A draft written estimate: for a planned course, one line per service counted from
    the course's planned sessions by route (fees.json "course_services"); optional
    consultation and integration-session lines (the only lines when there is no course
    yet); priced at the location's fees today; and the payment plan (monthly instalments
    from the first due date, clinical.money). A draft or sent estimate of the patient
    still waiting is superseded by this one."""
    require_patient_access(actor, patient, "billing.manage")
    if course is not None and course.patient_id != patient.pk:
        raise ValidationError("That course is not this patient's.")
    if course is not None and course.phase == TreatmentCourse.Phase.ENDED:
        raise ValidationError("That course has ended; estimates are for planned courses.")
    if not 0 <= integration_sessions <= MAX_EXTRA_SESSIONS:
        raise ValidationError(f"Integration sessions: 0 to {MAX_EXTRA_SESSIONS}.")
    if not 1 <= instalment_count <= MAX_INSTALMENTS:
        raise ValidationError(f"A plan has 1 to {MAX_INSTALMENTS} instalments.")
    location = course.location if course is not None else patient.primary_location
    today = timezone.localdate(timezone=location.tz)
    first_due_date = first_due_date or today
    if first_due_date < today:
        raise ValidationError("The first instalment is due today or later.")
    fees = current_fees(location, today)
    by_service: dict[str, list[date]] = {}
    if course is not None:
        visits = [
            money.PlannedVisit(
                timezone.localdate(p.starts_at, timezone=location.tz), p.planned_dose_mg
            )
            for p in course.planned_sessions.all()
        ]
        if not visits:
            raise ValidationError("This course has no planned sessions to estimate.")
        try:
            by_service = money.course_service_dates(
                route=course.protocol.route,
                visits=visits,
                infusion_minutes=course.infusion_minutes,
                rules=packaged_fees()["course_services"],
            )
        except ValueError as error:
            raise ValidationError(str(error)) from error
    wanted: list[tuple[str, int, list[str]]] = []
    if include_consultation:
        wanted.append(("consultation", 1, []))
    for key, days in by_service.items():
        wanted.append((key, len(days), [d.isoformat() for d in days]))
    if integration_sessions:
        wanted.append(("integration_session", integration_sessions, []))
    if not wanted:
        raise ValidationError("Choose a course, the consultation or integration sessions.")
    missing = [key for key, _, _ in wanted if key not in fees]
    if missing:
        raise ValidationError(
            f"{location.short_name}'s fee schedule has no fee for: {', '.join(missing)}. "
            "Set it on the fee schedule page first."
        )
    with transaction.atomic():
        waiting = list(
            Estimate.objects.select_for_update()
            .filter(patient=patient, status__in=[Estimate.Status.DRAFT, Estimate.Status.SENT])
            .order_by("-created_at", "-id")
        )
        estimate = Estimate.objects.create(
            patient=patient,
            location=location,
            course=course,
            supersedes=waiting[0] if waiting else None,
            total=Decimal("0.00"),
            note=(note or "").strip()[:NOTE_CHARS],
            prepared_by=actor,
        )
        lines = [
            EstimateLine(
                estimate=estimate,
                position=position,
                fee=fees[key],
                service_key=key,
                description=fees[key].name,
                code_system=fees[key].code_system,
                code=fees[key].code,
                quantity=quantity,
                unit_fee=fees[key].unit_fee,
                line_total=money.line_total(quantity, fees[key].unit_fee),
                service_dates=days,
            )
            for position, (key, quantity, days) in enumerate(wanted, start=1)
        ]
        EstimateLine.objects.bulk_create(lines)
        amount = money.total(line.line_total for line in lines)
        Estimate.objects.filter(pk=estimate.pk).update(total=amount)
        estimate.total = amount
        PlanInstalment.objects.bulk_create(
            PlanInstalment(estimate=estimate, number=n, due_date=due, amount=share)
            for n, (due, share) in enumerate(
                zip(
                    money.monthly_due_dates(first_due_date, instalment_count),
                    money.split_instalments(amount, instalment_count),
                    strict=True,
                ),
                start=1,
            )
        )
        if waiting:
            Estimate.objects.filter(pk__in=[e.pk for e in waiting]).update(
                status=Estimate.Status.SUPERSEDED
            )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="estimate",
            object_id=estimate.pk,
            detail={
                "course_id": course.pk if course else None,
                "total": str(amount),
                "instalments": instalment_count,
                "supersedes": [e.pk for e in waiting],
            },
        )
    return estimate


def _locked_estimate(estimate: Estimate) -> Estimate:
    return Estimate.objects.select_for_update().get(pk=estimate.pk)


def estimate_send(*, actor: User, estimate: Estimate) -> Estimate:
    """Send a draft estimate to the patient (it shows in their portal). From now on it is
    never changed: a revision is a new estimate."""
    require_patient_access(actor, estimate.patient, "billing.manage")
    with transaction.atomic():
        current = _locked_estimate(estimate)
        if current.status != Estimate.Status.DRAFT:
            raise ValidationError(f"This estimate is {current.get_status_display().lower()}.")
        current.status = Estimate.Status.SENT
        current.sent_at = timezone.now()
        current.sent_by = actor
        current.save(update_fields=["status", "sent_at", "sent_by"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=current.patient_id,
            object_type="estimate",
            object_id=current.pk,
            detail={"sent": True, "total": str(current.total)},
        )
    return current


def account_open(patient: Patient, location: Location) -> Account:
    """The patient's account, opened at `location` on first use (inside a service)."""
    account, _ = Account.objects.get_or_create(patient=patient, defaults={"location": location})
    return account


def _locked_account(patient: Patient, location: Location) -> Account:
    account = account_open(patient, location)
    return Account.objects.select_for_update().get(pk=account.pk)


def estimate_accept(*, actor: User, estimate: Estimate) -> Estimate:
    """The patient accepts a sent estimate in the portal (time recorded). The charge rule
    (docs/billing.md): acceptance posts the estimate's lines to the account as charges,
    one per planned session on its date, other lines on the day of acceptance."""
    require_patient_access(actor, estimate.patient, "patient.view_own_record")
    if actor.patient_id != estimate.patient_id:
        raise PermissionDenied("Only the patient accepts their estimate.")
    return _accept(actor, estimate, how="portal")


def estimate_record_signed_copy(*, actor: User, estimate: Estimate) -> Estimate:
    """Staff record that the patient accepted a sent estimate by signing its printed copy
    at the front desk (kept on file); the same charges are posted as for the portal."""
    require_patient_access(actor, estimate.patient, "billing.manage")
    return _accept(actor, estimate, how="signed_copy")


def _accept(actor: User, estimate: Estimate, *, how: str) -> Estimate:
    with transaction.atomic():
        current = _locked_estimate(estimate)
        if current.status != Estimate.Status.SENT:
            raise ValidationError(
                "This estimate is no longer waiting for acceptance: "
                f"{current.get_status_display().lower()}."
            )
        now = timezone.now()
        today = timezone.localdate(now, timezone=current.location.tz)
        account = _locked_account(current.patient, current.location)
        charges = []
        for line in current.lines.all():
            if line.service_dates:
                charges += [
                    (line, 1, line.unit_fee, date.fromisoformat(day)) for day in line.service_dates
                ]
            else:
                charges.append((line, line.quantity, line.line_total, today))
        AccountEntry.objects.bulk_create(
            AccountEntry(
                account=account,
                kind=EntryKind.CHARGE,
                amount=amount,
                description=line.description,
                code_system=line.code_system,
                code=line.code,
                units=units,
                service_date=day,
                estimate_line=line,
                recorded_by=actor,
                recorded_at=now,
            )
            for line, units, amount, day in charges
            if amount > 0
        )
        current.status = Estimate.Status.ACCEPTED
        current.accepted_at = now
        current.accepted_by = actor
        current.save(update_fields=["status", "accepted_at", "accepted_by"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            patient_id=current.patient_id,
            object_type="estimate",
            object_id=current.pk,
            detail={
                "accepted": how,
                "total": str(current.total),
                "charges": len(charges),
            },
        )
    return current


# --- The account -------------------------------------------------------------------------


def payment_record(
    *,
    actor: User,
    patient: Patient,
    amount: str | Decimal,
    method: str,
    reference: str = "",
    received_on: date | None = None,
) -> AccountEntry:
    """A payment received by staff: amount, method, and the outside processor's receipt
    reference for cards (no card data is ever entered). Refused above the balance; the
    account row is locked, so two payments at once cannot overpay."""
    require_patient_access(actor, patient, "billing.manage")
    value = _amount(amount)
    if method not in PaymentMethod.values:
        raise ValidationError("Choose how the patient paid.")
    reference = (reference or "").strip()
    if len(reference) > REFERENCE_CHARS:
        raise ValidationError(f"Keep the receipt reference under {REFERENCE_CHARS} characters.")
    if method == PaymentMethod.CARD and not reference:
        raise ValidationError("Enter the card processor's receipt reference.")
    location = patient.primary_location
    today = timezone.localdate(timezone=location.tz)
    received_on = received_on or today
    if received_on > today:
        raise ValidationError("A payment is recorded once received, not in advance.")
    with transaction.atomic():
        account = _locked_account(patient, location)
        balance = account_totals(account)["balance"]
        if value > balance:
            raise ValidationError(
                f"${value} is more than the balance of ${balance}; nothing was recorded."
            )
        entry = AccountEntry.objects.create(
            account=account,
            kind=EntryKind.PAYMENT,
            amount=value,
            method=method,
            reference=reference,
            service_date=received_on,
            recorded_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="account_entry",
            object_id=entry.pk,
            detail={"kind": entry.kind, "amount": str(value), "method": method},
        )
    return entry


def adjustment_record(
    *,
    actor: User,
    patient: Patient,
    kind: str,
    amount: str | Decimal,
    reason: str,
    method: str = "",
    reference: str = "",
) -> AccountEntry:
    """A refund (money given back, at most what was paid net of earlier refunds) or a
    write-off (a balance the clinic will not collect, at most the balance), with the
    reason. Each is its own entry; nothing earlier is changed."""
    require_patient_access(actor, patient, "billing.adjust")
    if kind not in {EntryKind.REFUND, EntryKind.WRITE_OFF}:
        raise ValidationError("Choose a refund or a write-off.")
    value = _amount(amount)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Give the reason for the adjustment.")
    if len(reason) > NOTE_CHARS:
        raise ValidationError(f"Keep the reason under {NOTE_CHARS} characters.")
    if kind == EntryKind.REFUND and method not in PaymentMethod.values:
        raise ValidationError("Choose how the refund is paid back.")
    location = patient.primary_location
    with transaction.atomic():
        account = _locked_account(patient, location)
        totals = account_totals(account)
        if kind == EntryKind.REFUND and value > totals["net_paid"]:
            raise ValidationError(
                f"${value} is more than the ${totals['net_paid']} paid; nothing was recorded."
            )
        if kind == EntryKind.WRITE_OFF and value > totals["balance"]:
            raise ValidationError(
                f"${value} is more than the balance of ${totals['balance']}; nothing was recorded."
            )
        entry = AccountEntry.objects.create(
            account=account,
            kind=kind,
            amount=value,
            method=method if kind == EntryKind.REFUND else "",
            reference=(reference or "").strip()[:REFERENCE_CHARS],
            reason=reason,
            service_date=timezone.localdate(timezone=location.tz),
            recorded_by=actor,
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            patient_id=patient.pk,
            object_type="account_entry",
            object_id=entry.pk,
            detail={"kind": kind, "amount": str(value), "reason": reason},
        )
    return entry
