"""Writes to the controlled-substance register. Every one appends ledger entries through
`_append`, which, in one transaction: locks the location's chain head (entries stay in
order), changes the container's balance with a conditional UPDATE (two people drawing from
one vial at the same moment can never take it below zero), and writes the entry with its
hash over its content and the previous entry's hash.

clinical-reference.md section 7 (21 CFR 1304): receipts with supplier and DEA number, each
administration with patient, date, amount and who gave it, waste of a partial vial with a
witness, destruction with two witnesses (DEA Form 41), theft or loss (DEA Form 106).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.db.models.functions import Round
from django.utils import timezone

from ketaclinic.accounts.services import signature_password_check
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.controlled import loss_deadlines
from ketaclinic.organization.models import Location
from ketaclinic.register.models import (
    Container,
    CountLine,
    EntryKind,
    InventoryCount,
    LedgerChainHead,
    LedgerEntry,
    LedgerVerification,
    LossReport,
    Product,
    Receipt,
    Safe,
    Supplier,
)

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User
    from ketaclinic.organization.models import Location


class TreatmentSession(Protocol):
    """What the register reads of the session a draw is for (a charting.TreatmentSession:
    charting asks the register, the register never imports charting)."""

    pk: Any
    patient_id: int
    location_id: int
    location: Location
    is_esketamine: bool


GENESIS_HASH = "0" * 64
ZERO = Decimal("0")
# The fields an entry's hash covers, in this order.
HASHED_FIELDS = (
    "location_id",
    "sequence",
    "kind",
    "container_id",
    "amount_ml",
    "amount_mg",
    "container_change_ml",
    "balance_after_ml",
    "draw_id",
    "reverses_id",
    "session_id",
    "patient_id",
    "actor_id",
    "actor_name",
    "witness_id",
    "second_witness_id",
    "occurred_at",
    "reason",
    "detail",
    "previous_hash",
)


def entry_hash(entry: LedgerEntry) -> str:
    content = {}
    for name in HASHED_FIELDS:
        value = getattr(entry, name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif isinstance(value, Decimal):
            value = f"{value:.3f}"
        content[name] = value
    text = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- permission and input helpers -------------------------------------------------------


def _require(actor: User, capability: str, location: Location) -> None:
    if not actor.can(capability):
        raise PermissionDenied(f"Your role may not do this ({capability}).")
    if not actor.sees_all_locations and not actor.locations.filter(pk=location.pk).exists():
        raise PermissionDenied("This stock is not at one of your locations.")


def _amount(value: Any, what: str = "The amount") -> Decimal:
    try:
        amount = Decimal(str(value)).quantize(Decimal("0.001"))
    except Exception:
        raise ValidationError(f"{what} must be a number of millilitres.") from None
    if amount <= 0:
        raise ValidationError(f"{what} must be more than 0 mL.")
    return amount


def _witness(
    *, actor: User, witness: User | None, password: str, object_id: int, location: Location
) -> User:
    """A second person confirms by entering their own password on the same screen."""
    if witness is None:
        raise ValidationError("A witness must confirm with their own password.")
    if witness.pk == actor.pk:
        raise ValidationError("The witness must be another person.")
    if not witness.can("register.witness"):
        raise ValidationError(f"{witness.display_name} cannot witness controlled substances.")
    if not witness.sees_all_locations and not witness.locations.filter(pk=location.pk).exists():
        raise ValidationError(f"{witness.display_name} does not work at {location.short_name}.")
    signature_password_check(
        actor=witness,
        password=password,
        patient_id=None,
        object_type="ledger_witness",
        object_id=object_id,
    )
    return witness


# --- the one way to write an entry ------------------------------------------------------


def _append(
    *,
    kind: EntryKind,
    container: Container,
    amount_ml: Decimal,
    change_ml: Decimal,
    actor: User,
    occurred_at: datetime | None = None,
    location: Location | None = None,
    **extra: Any,
) -> LedgerEntry:
    """Append one entry (callers hold transaction.atomic)."""
    location = location or container.location
    head = LedgerChainHead.objects.select_for_update().filter(location=location).first()
    if head is None:
        LedgerChainHead.objects.get_or_create(
            location=location, defaults={"last_hash": GENESIS_HASH}
        )
        head = LedgerChainHead.objects.select_for_update().get(location=location)
    if change_ml < 0:
        # The condition and the change in one statement: a concurrent draw can never take
        # the container below zero. Rounded in SQL, as SQLite computes decimals as floats.
        changed = Container.objects.filter(pk=container.pk, remaining_ml__gte=-change_ml).update(
            remaining_ml=Round(F("remaining_ml") + change_ml, 3)
        )
        if not changed:
            left = Container.objects.get(pk=container.pk).remaining_ml
            raise ValidationError(
                f"Container {container.label} has only {left} mL left: "
                f"{-change_ml} mL cannot be taken from it."
            )
    elif change_ml > 0:
        changed = Container.objects.filter(
            pk=container.pk, remaining_ml__lte=F("initial_ml") - change_ml
        ).update(remaining_ml=Round(F("remaining_ml") + change_ml, 3))
        if not changed:
            raise ValidationError(
                f"Container {container.label} cannot hold more than {container.initial_ml} mL."
            )
    balance = Container.objects.values_list("remaining_ml", flat=True).get(pk=container.pk)
    balance = Decimal(balance).quantize(Decimal("0.001"))
    _sync_status(container, kind, change_ml, balance)
    entry = ledger_entry_new(
        location=location,
        sequence=head.last_sequence + 1,
        previous_hash=head.last_hash,
        kind=kind,
        container=container,
        amount_ml=amount_ml,
        change_ml=change_ml,
        balance_ml=balance,
        actor=actor,
        occurred_at=occurred_at or timezone.now(),
        **extra,
    )
    entry.save()
    LedgerChainHead.objects.filter(pk=head.pk).update(
        last_sequence=entry.sequence, last_hash=entry.entry_hash
    )
    container.remaining_ml = balance
    return entry


def ledger_entry_new(
    *,
    location: Location,
    sequence: int,
    previous_hash: str,
    kind: str,
    container: Container,
    amount_ml: Decimal,
    change_ml: Decimal,
    balance_ml: Decimal,
    actor: User,
    occurred_at: datetime,
    **extra: Any,
) -> LedgerEntry:
    """An unsaved ledger entry, chained after `previous_hash` and hashed: what `_append`
    saves, and what the demo writes in bulk (operations/demo_register.py)."""
    entry = LedgerEntry(
        location=location,
        sequence=sequence,
        kind=kind,
        container=container,
        amount_ml=amount_ml,
        amount_mg=(amount_ml * container.product.strength_mg_per_ml).quantize(Decimal("0.001")),
        container_change_ml=change_ml,
        balance_after_ml=balance_ml,
        actor=actor,
        actor_name=actor.display_name,
        occurred_at=occurred_at,
        previous_hash=previous_hash,
        **extra,
    )
    entry.detail = json.loads(json.dumps(entry.detail or {}, default=str))
    entry.entry_hash = entry_hash(entry)
    return entry


def container_status_after(
    container: Container, kind: str, change_ml: Decimal, balance: Decimal, day: date
) -> dict[str, Any]:
    """The container's fields that change with an entry ({} when none): its status follows
    its volume, opened by the first volume taken, empty, destroyed or lost at zero, open
    again if a correction puts volume back; dated `day`."""
    if kind in (EntryKind.TRANSFER_OUT, EntryKind.TRANSFER_IN):
        return {}  # the container moves whole, sealed or open as it was
    fields: dict[str, Any] = {}
    if balance == 0:
        status = {
            EntryKind.DESTROY: Container.Status.DESTROYED,
            EntryKind.LOSS: Container.Status.LOST,
        }.get(kind, Container.Status.EMPTY)
        fields = {"status": status, "closed_on": day}
    elif container.status not in (Container.Status.SEALED, Container.Status.OPEN):
        fields = {"status": Container.Status.OPEN, "closed_on": None}
    elif change_ml < 0 and container.status == Container.Status.SEALED:
        fields = {"status": Container.Status.OPEN, "opened_on": day}
    if any(getattr(container, name) != value for name, value in fields.items()):
        return fields
    return {}


def _sync_status(
    container: Container, kind: EntryKind, change_ml: Decimal, balance: Decimal
) -> None:
    fields = container_status_after(container, kind, change_ml, balance, timezone.localdate())
    if fields:
        Container.objects.filter(pk=container.pk).update(**fields)
        for name, value in fields.items():
            setattr(container, name, value)


def _audit(actor: User, entry: LedgerEntry) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient_id=entry.patient_id,
        object_type="ledger_entry",
        object_id=entry.pk,
        detail={"kind": entry.kind, "container": entry.container.label},
    )


# --- catalogue and receipts -------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedLine:
    product: Product
    lot_number: str
    expires_on: date
    containers: int


def _next_label(location: Location) -> int:
    prefix = f"{location.short_name.upper()[:6]}-"
    last = (
        Container.objects.filter(label__startswith=prefix)
        .order_by("-label")
        .values_list("label", flat=True)
        .first()
    )
    return int(last.removeprefix(prefix)) + 1 if last else 1


def receipt_record(
    *,
    actor: User,
    location: Location,
    supplier: Supplier,
    invoice_number: str,
    invoice_date: date,
    lines: Sequence[ReceivedLine],
    checked_by: User | None,
    checker_password: str,
    safe: Safe | None = None,
) -> Receipt:
    """Stock arrives: each container gets a label and a RECEIVE entry; a second person
    checks the delivery against the invoice and confirms with their password."""
    _require(actor, "register.receive", location)
    if not invoice_number.strip():
        raise ValidationError("Enter the invoice number.")
    today = timezone.localdate(timezone=location.tz)
    if invoice_date > today:
        raise ValidationError("The invoice date is in the future.")
    if not lines or any(line.containers < 1 for line in lines):
        raise ValidationError("Enter at least one container for each line.")
    for line in lines:
        if line.expires_on <= today:
            raise ValidationError(f"Lot {line.lot_number} has expired: it cannot be received.")
        if not line.lot_number.strip():
            raise ValidationError("Enter the lot number of every line.")
    if safe is not None and safe.location_id != location.pk:
        raise ValidationError("That safe is at another location.")
    checker = _witness(
        actor=actor, witness=checked_by, password=checker_password, object_id=0, location=location
    )
    with transaction.atomic():
        LedgerChainHead.objects.get_or_create(
            location=location, defaults={"last_hash": GENESIS_HASH}
        )
        LedgerChainHead.objects.select_for_update().get(location=location)
        receipt = Receipt.objects.create(
            location=location,
            supplier=supplier,
            invoice_number=invoice_number.strip(),
            invoice_date=invoice_date,
            received_by=actor,
            checked_by=checker,
        )
        number = _next_label(location)
        prefix = f"{location.short_name.upper()[:6]}-"
        for line in lines:
            for _ in range(line.containers):
                volume = line.product.container_volume_ml
                container = Container.objects.create(
                    label=f"{prefix}{number:06d}",
                    product=line.product,
                    location=location,
                    safe=safe,
                    receipt=receipt,
                    lot_number=line.lot_number.strip(),
                    expires_on=line.expires_on,
                    initial_ml=volume,
                    remaining_ml=ZERO,
                )
                number += 1
                entry = _append(
                    kind=EntryKind.RECEIVE,
                    container=container,
                    amount_ml=volume,
                    change_ml=volume,
                    actor=actor,
                    witness=checker,
                    detail={
                        "invoice": receipt.invoice_number,
                        "invoice_date": invoice_date.isoformat(),
                        "supplier": supplier.name,
                        "supplier_address": supplier.address,
                        "supplier_dea": supplier.dea_number,
                    },
                )
                _audit(actor, entry)
    return receipt


# --- draw, administer, waste, return ---------------------------------------------------


def draw_for_session(
    *,
    actor: User,
    session: TreatmentSession,
    container: Container,
    amount_ml: Any,
    occurred_at: datetime | None = None,
) -> LedgerEntry:
    """Draw from a container for a patient's session (callers may hold a transaction)."""
    _require(actor, "register.draw", session.location)
    amount = _amount(amount_ml, "The volume drawn")
    with transaction.atomic():
        # Locked and read fresh: a transfer or another change at the same moment waits.
        container = (
            Container.objects.select_for_update().select_related("product").get(pk=container.pk)
        )
        if container.location_id != session.location_id:
            raise ValidationError("That container is at another location.")
        if container.status not in (Container.Status.SEALED, Container.Status.OPEN):
            raise ValidationError(
                f"Container {container.label} is {container.get_status_display().lower()}."
            )
        if container.expires_on < timezone.localdate(timezone=session.location.tz):
            raise ValidationError(f"Lot {container.lot_number} expired on {container.expires_on}.")
        drug = "esketamine" if session.is_esketamine else "ketamine"
        if container.product.drug != drug:
            raise ValidationError(f"This session needs {drug}, not {container.product.name}.")
        entry = _append(
            kind=EntryKind.DRAW,
            container=container,
            amount_ml=amount,
            change_ml=-amount,
            actor=actor,
            occurred_at=occurred_at,
            session=session,
            patient_id=session.patient_id,
        )
        _audit(actor, entry)
    return entry


def draw_unaccounted_ml(draw: LedgerEntry) -> Decimal:
    """What of a draw is not yet administered, wasted or returned."""
    accounted = (
        LedgerEntry.objects.filter(draw=draw, reversed_by__isnull=True)
        .exclude(kind=EntryKind.CORRECTION)
        .aggregate(total=Sum("amount_ml"))["total"]
        or ZERO
    )
    return (draw.amount_ml - accounted).quantize(Decimal("0.001"))


def _account(
    *,
    kind: EntryKind,
    actor: User,
    draw: LedgerEntry,
    amount_ml: Any,
    change_ml_sign: int,
    **extra: Any,
) -> LedgerEntry:
    if draw.kind != EntryKind.DRAW:
        raise ValidationError("Only a draw is accounted for.")
    if draw.reversed_by.exists():
        raise ValidationError("This draw was reversed.")
    amount = _amount(amount_ml)
    with transaction.atomic():
        draw = LedgerEntry.objects.select_related("container__product", "location").get(pk=draw.pk)
        LedgerChainHead.objects.select_for_update().get(location=draw.location)
        open_ml = draw_unaccounted_ml(draw)
        if amount > open_ml:
            raise ValidationError(
                f"Only {open_ml} mL of this draw is left to account for, not {amount} mL."
            )
        entry = _append(
            kind=kind,
            container=draw.container,
            amount_ml=amount,
            change_ml=change_ml_sign * amount,
            actor=actor,
            draw=draw,
            session_id=draw.session_id,
            patient_id=draw.patient_id,
            **extra,
        )
        _audit(actor, entry)
    return entry


def administer(
    *, actor: User, draw: LedgerEntry, amount_ml: Any, occurred_at: datetime | None = None
) -> LedgerEntry:
    _require(actor, "register.draw", draw.location)
    return _account(
        kind=EntryKind.ADMINISTER,
        actor=actor,
        draw=draw,
        amount_ml=amount_ml,
        change_ml_sign=0,
        occurred_at=occurred_at,
    )


def waste(
    *,
    actor: User,
    draw: LedgerEntry,
    amount_ml: Any,
    witness: User | None,
    witness_password: str,
    reason: str = "unused part of the drawn dose",
) -> LedgerEntry:
    """Waste of the drawn, unused part, witnessed by another person who did not draw it."""
    return _witnessed_account(
        EntryKind.WASTE,
        0,
        drawer_may_witness=False,
        actor=actor,
        draw=draw,
        amount_ml=amount_ml,
        witness=witness,
        witness_password=witness_password,
        reason=reason,
    )


def _witnessed_account(
    kind: EntryKind,
    change_ml_sign: int,
    *,
    drawer_may_witness: bool = True,
    actor: User,
    draw: LedgerEntry,
    amount_ml: Any,
    witness: User | None,
    witness_password: str,
    **extra: Any,
) -> LedgerEntry:
    """Account for part of a draw before a witness who confirms with their password."""
    _require(actor, "register.draw", draw.location)
    if not drawer_may_witness and witness is not None and witness.pk == draw.actor_id:
        raise ValidationError("The witness cannot be the person who drew the dose.")
    checked = _witness(
        actor=actor,
        witness=witness,
        password=witness_password,
        object_id=draw.pk,
        location=draw.location,
    )
    return _account(
        kind=kind,
        actor=actor,
        draw=draw,
        amount_ml=amount_ml,
        change_ml_sign=change_ml_sign,
        witness=checked,
        **extra,
    )


def draw_account(
    *,
    actor: User,
    draw: LedgerEntry,
    administered_ml: Any,
    wasted_ml: Any,
    witness: User | None,
    witness_password: str,
) -> None:
    """What became of a draw, in one step: given to the patient, and the rest wasted before
    a witness. Nothing is recorded unless both parts are."""
    if not (administered_ml or wasted_ml):
        raise ValidationError("Enter the volume given and the volume wasted.")
    with transaction.atomic():
        if administered_ml:
            administer(actor=actor, draw=draw, amount_ml=administered_ml)
        if wasted_ml:
            waste(
                actor=actor,
                draw=draw,
                amount_ml=wasted_ml,
                witness=witness,
                witness_password=witness_password,
            )


def return_to_stock(
    *, actor: User, draw: LedgerEntry, amount_ml: Any, witness: User | None, witness_password: str
) -> LedgerEntry:
    """Put back drawn volume that never left the container's sterile path (witnessed)."""
    return _witnessed_account(
        EntryKind.RETURN,
        1,
        actor=actor,
        draw=draw,
        amount_ml=amount_ml,
        witness=witness,
        witness_password=witness_password,
    )


def session_unaccounted(session: TreatmentSession) -> list[str]:
    """Draws of the session with volume not administered, wasted or returned: the session
    note cannot be signed while any remains (registered in RegisterConfig.ready)."""
    problems = []
    for draw in LedgerEntry.objects.filter(
        session=session, kind=EntryKind.DRAW, reversed_by__isnull=True
    ).select_related("container"):
        left = draw_unaccounted_ml(draw)
        if left:
            problems.append(
                f"{left} mL drawn from {draw.container.label} is not accounted for "
                "(record what was given and waste the rest with a witness)."
            )
    return problems


# --- transfer, destruction, loss, counts, corrections ----------------------------------


def transfer(
    *,
    actor: User,
    container: Container,
    to_location: Location,
    witness: User | None,
    witness_password: str,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move a whole container between locations: out of one register and into the other."""
    _require(actor, "register.manage", container.location)
    if (
        to_location.organization_id != container.location.organization_id
        or not to_location.is_active
    ):
        raise ValidationError("Stock moves only to an active location of this organization.")
    checked = _witness(
        actor=actor,
        witness=witness,
        password=witness_password,
        object_id=container.pk,
        location=container.location,
    )
    with transaction.atomic():
        # Lock, then read where it is and what is in it: a concurrent move cannot interleave.
        container = (
            Container.objects.select_for_update().select_related("location").get(pk=container.pk)
        )
        source = container.location
        if to_location.pk == source.pk:
            raise ValidationError("Choose another location.")
        if container.remaining_ml <= 0 or container.status not in (
            Container.Status.SEALED,
            Container.Status.OPEN,
        ):
            raise ValidationError("Only sealed or open stock with volume is transferred.")
        open_draws = [
            draw
            for draw in LedgerEntry.objects.filter(
                container=container, kind=EntryKind.DRAW, reversed_by__isnull=True
            )
            if draw_unaccounted_ml(draw)
        ]
        if open_draws:
            raise ValidationError(
                "A draw from this container is not yet accounted for: record what was given "
                "and wasted before moving it."
            )
        volume = container.remaining_ml
        out = _append(
            kind=EntryKind.TRANSFER_OUT,
            container=container,
            amount_ml=volume,
            change_ml=-volume,
            actor=actor,
            witness=checked,
            location=source,
            detail={"to": to_location.name},
        )
        Container.objects.filter(pk=container.pk).update(location=to_location, safe=None)
        container.location = to_location
        into = _append(
            kind=EntryKind.TRANSFER_IN,
            container=container,
            amount_ml=volume,
            change_ml=volume,
            actor=actor,
            witness=checked,
            location=to_location,
            detail={"from": source.name},
        )
        _audit(actor, out)
        _audit(actor, into)
    return out, into


def destroy(
    *,
    actor: User,
    container: Container,
    amount_ml: Any,
    method: str,
    witnesses: Sequence[tuple[User | None, str]],
    reverse_distributor: str = "",
) -> LedgerEntry:
    """Destruction of stock with DEA Form 41 data and two witnesses."""
    _require(actor, "register.manage", container.location)
    amount = _amount(amount_ml)
    if not method.strip():
        raise ValidationError("Say how it was destroyed (e.g. rendered non-retrievable).")
    if len(witnesses) != 2:
        raise ValidationError("Destruction needs two witnesses.")
    first = _witness(
        actor=actor,
        witness=witnesses[0][0],
        password=witnesses[0][1],
        object_id=container.pk,
        location=container.location,
    )
    second = _witness(
        actor=actor,
        witness=witnesses[1][0],
        password=witnesses[1][1],
        object_id=container.pk,
        location=container.location,
    )
    if first.pk == second.pk:
        raise ValidationError("The two witnesses must be different people.")
    product = container.product
    with transaction.atomic():
        entry = _append(
            kind=EntryKind.DESTROY,
            container=container,
            amount_ml=amount,
            change_ml=-amount,
            actor=actor,
            witness=first,
            second_witness=second,
            reason=method.strip(),
            detail={
                "form": "DEA Form 41",
                "ndc": product.ndc,
                "name": product.name,
                "strength_mg_per_ml": str(product.strength_mg_per_ml),
                "dosage_form": product.get_form_display(),
                "quantity_ml": str(amount),
                "method": method.strip(),
                "reverse_distributor": reverse_distributor.strip(),
            },
        )
        _audit(actor, entry)
    return entry


def loss_report(
    *,
    actor: User,
    location: Location,
    kind: str,
    discovered_at: datetime,
    description: str,
    losses: Sequence[tuple[Container, Any]],
    police_report_number: str = "",
) -> LossReport:
    """Theft or significant loss: the missing volume leaves the register and the DEA
    deadlines (notice in 1 business day, Form 106 in 45 days) go on the dashboard."""
    _require(actor, "register.manage", location)
    if kind not in LossReport.Kind.values:
        raise ValidationError("Choose theft, loss or loss in transit.")
    if not description.strip():
        raise ValidationError("Describe what happened and how it was found.")
    if not losses:
        raise ValidationError("Name the containers and volumes missing.")
    if discovered_at > timezone.now():
        raise ValidationError("The discovery time is in the future.")
    notice_due, form_due = loss_deadlines(timezone.localtime(discovered_at, location.tz).date())
    with transaction.atomic():
        report = LossReport.objects.create(
            location=location,
            kind=kind,
            discovered_at=discovered_at,
            description=description.strip(),
            reported_by=actor,
            notice_due_on=notice_due,
            form_106_due_on=form_due,
            police_report_number=police_report_number.strip(),
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="loss_report",
            object_id=report.pk,
            detail={"kind": kind, "notice_due_on": notice_due, "form_106_due_on": form_due},
        )
        for container, amount in losses:
            if container.location_id != location.pk:
                raise ValidationError(f"{container.label} is at another location.")
            entry = _append(
                kind=EntryKind.LOSS,
                container=container,
                amount_ml=_amount(amount),
                change_ml=-_amount(amount),
                actor=actor,
                reason=description.strip(),
                detail={"form": "DEA Form 106", "loss_report": report.pk, "kind": kind},
            )
            _audit(actor, entry)
    return report


def loss_report_progress(
    *,
    actor: User,
    report: LossReport,
    notice_sent_on: date | None = None,
    form_106_filed_on: date | None = None,
    form_106_number: str = "",
) -> LossReport:
    """Record the written notice and the Form 106 filing; a recorded date is not changed."""
    _require(actor, "register.manage", report.location)
    today = timezone.localdate(timezone=report.location.tz)
    updates: dict[str, Any] = {}
    if notice_sent_on is not None:
        if report.notice_sent_on is not None:
            raise ValidationError("The notice date is already recorded.")
        updates["notice_sent_on"] = notice_sent_on
    if form_106_filed_on is not None:
        if report.form_106_filed_on is not None:
            raise ValidationError("The Form 106 filing is already recorded.")
        if not form_106_number.strip():
            raise ValidationError("Enter the Form 106 confirmation number.")
        updates.update(form_106_filed_on=form_106_filed_on, form_106_number=form_106_number.strip())
    if not updates:
        raise ValidationError("Enter the date the notice was sent or Form 106 was filed.")
    if any(isinstance(v, date) and v > today for v in updates.values()):
        raise ValidationError("A date in the future cannot be recorded.")
    LossReport.objects.filter(pk=report.pk).update(**updates)
    report.refresh_from_db()
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        object_type="loss_report",
        object_id=report.pk,
        detail=updates,
    )
    return report


def count_record(
    *,
    actor: User,
    location: Location,
    kind: str,
    witness: User | None,
    witness_password: str,
    counted: Sequence[tuple[Container, Any, bool]],
    note: str = "",
) -> InventoryCount:
    """A count of stock against the register; every difference is a discrepancy to resolve."""
    _require(actor, "register.manage", location)
    if kind not in InventoryCount.Kind.values:
        raise ValidationError("Choose a periodic count or the biennial inventory.")
    checked = _witness(
        actor=actor, witness=witness, password=witness_password, object_id=0, location=location
    )
    values = []
    for _container, counted_ml, _estimated in counted:
        try:
            value = Decimal(str(counted_ml)).quantize(Decimal("0.001"))
        except ArithmeticError:
            raise ValidationError(f"{counted_ml!r} is not a volume in mL.") from None
        if value < 0:
            raise ValidationError("A counted volume cannot be negative.")
        values.append(value)
    with transaction.atomic():
        # Lock the location's register first, so no draw changes a balance mid-count.
        LedgerChainHead.objects.get_or_create(
            location=location, defaults={"last_hash": GENESIS_HASH}
        )
        LedgerChainHead.objects.select_for_update().get(location=location)
        if kind == InventoryCount.Kind.BIENNIAL:
            in_stock = set(
                Container.objects.filter(location=location, remaining_ml__gt=0).values_list(
                    "pk", flat=True
                )
            )
            missing = in_stock - {c.pk for c, _v, _e in counted}
            if missing:
                raise ValidationError(
                    f"The biennial inventory covers all stock: {len(missing)} container(s) "
                    "with volume on the register were not counted."
                )
        count = InventoryCount.objects.create(
            location=location, kind=kind, counted_by=actor, witness=checked, note=note
        )
        for (container, _counted_ml, estimated), value in zip(counted, values, strict=True):
            if container.location_id != location.pk:
                raise ValidationError(f"{container.label} is at another location.")
            fresh = Container.objects.get(pk=container.pk)
            CountLine.objects.create(
                count=count,
                container=fresh,
                expected_ml=fresh.remaining_ml,
                counted_ml=value,
                estimated=estimated,
            )
            _append(
                kind=EntryKind.COUNT,
                container=fresh,
                amount_ml=value,
                change_ml=ZERO,
                actor=actor,
                witness=checked,
                detail={"count": count.pk, "expected_ml": str(fresh.remaining_ml)},
            )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="inventory_count",
            object_id=count.pk,
        )
    return count


def discrepancy_resolve(*, actor: User, line: CountLine, resolution: str) -> CountLine:
    """Explain a counted difference. A real shortage also goes through loss_report."""
    _require(actor, "register.manage", line.count.location)
    if not resolution.strip():
        raise ValidationError("Explain the difference and what was done.")
    if line.discrepancy_ml == 0:
        raise ValidationError("This count matched the register: there is nothing to resolve.")
    updated = CountLine.objects.filter(pk=line.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=actor, resolution=resolution.strip()
    )
    if not updated:
        raise ValidationError("This discrepancy is already resolved.")
    line.refresh_from_db()
    audit_record(
        actor=actor, action=AuditAction.UPDATE, object_type="count_line", object_id=line.pk
    )
    return line


def correction(*, actor: User, entry: LedgerEntry, reason: str) -> LedgerEntry:
    """Undo a mistaken entry with a reversing one; the original stays on the register."""
    _require(actor, "register.manage", entry.location)
    if not reason.strip():
        raise ValidationError("Give the reason for the correction.")
    if entry.kind in (EntryKind.CORRECTION, EntryKind.COUNT):
        raise ValidationError("Counts and corrections are not reversed.")
    if entry.kind in (EntryKind.TRANSFER_OUT, EntryKind.TRANSFER_IN):
        raise ValidationError("A transfer is undone by transferring the container back.")
    with transaction.atomic():
        LedgerChainHead.objects.select_for_update().get(location=entry.location)
        if LedgerEntry.objects.filter(reverses=entry).exists():
            raise ValidationError("This entry is already corrected.")
        if (
            entry.kind == EntryKind.DRAW
            and entry.accounted_by.filter(reversed_by__isnull=True)
            .exclude(kind=EntryKind.CORRECTION)
            .exists()
        ):
            raise ValidationError("Correct what was recorded against this draw first.")
        reversed_entry = _append(
            kind=EntryKind.CORRECTION,
            container=entry.container,
            amount_ml=entry.amount_ml,
            change_ml=-entry.container_change_ml,
            actor=actor,
            location=entry.location,
            reverses=entry,
            draw_id=entry.draw_id,
            session_id=entry.session_id,
            patient_id=entry.patient_id,
            reason=reason.strip(),
        )
        _audit(actor, reversed_entry)
    return reversed_entry


# --- verification -----------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerReport:
    ok: bool
    entries_checked: int
    problem: str = ""
    location: str = ""
    first_bad_sequence: int | None = None
    # Location pk -> the last sequence checked there (the whole chain when ok).
    sequences: dict[int, int] = field(default_factory=dict)


def ledger_verify() -> LedgerReport:
    """Walk each location's chain in sequence order and name the first entry that does not
    fit: altered (hash), removed (gap, or fewer entries than the head records) or reordered
    (previous hash not the predecessor's)."""
    checked = 0
    sequences: dict[int, int] = {}
    for location in Location.objects.order_by("pk"):
        expected_previous, expected_sequence, here = GENESIS_HASH, 1, 0
        entries = LedgerEntry.objects.filter(location=location).order_by("sequence")
        for entry in entries.iterator(chunk_size=2000):
            problem = ""
            if entry.sequence != expected_sequence:
                problem = (
                    f"entry #{expected_sequence} is missing "
                    f"(next stored entry is #{entry.sequence})"
                )
                bad = expected_sequence
            elif entry.previous_hash != expected_previous:
                problem = (
                    f"entry #{entry.sequence} does not follow entry #{entry.sequence - 1} "
                    "(removed, reordered or altered link)"
                )
                bad = entry.sequence
            elif entry_hash(entry) != entry.entry_hash:
                problem = f"entry #{entry.sequence} was altered after it was written"
                bad = entry.sequence
            if problem:
                sequences[location.pk] = here
                return LedgerReport(False, checked, problem, location.short_name, bad, sequences)
            expected_previous = entry.entry_hash
            expected_sequence += 1
            here += 1
            checked += 1
        sequences[location.pk] = here
        head = LedgerChainHead.objects.filter(location=location).first()
        if head is None and here == 0:
            continue
        if head is None or head.last_sequence != here or head.last_hash != expected_previous:
            recorded = head.last_sequence if head else 0
            return LedgerReport(
                False,
                checked,
                f"entry #{here + 1} is missing: the chain head records {recorded} entries "
                f"but {here} are stored",
                location.short_name,
                here + 1,
                sequences,
            )
    return LedgerReport(True, checked, sequences=sequences)


def ledger_verify_record() -> tuple[LedgerReport, LedgerVerification]:
    """Run `ledger_verify` and keep its outcome, for the inspector's overview to show."""
    started = timezone.now()
    report = ledger_verify()
    run = LedgerVerification.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        ok=report.ok,
        entries_checked=report.entries_checked,
        problem=report.problem,
        location_name=report.location,
        first_bad_sequence=report.first_bad_sequence,
        sequences={str(pk): sequence for pk, sequence in report.sequences.items()},
    )
    return report, run


def chain_tip_check(location: Location, head: LedgerChainHead | None) -> str:
    """The cheap check the inspector's overview makes on every view (1 or 2 queries,
    whatever the register's size): the entry the chain head names is stored, is the last
    one and is unaltered. "" when that holds, else what is wrong. The full walk of every
    entry is `ledger verify`."""
    if head is None or head.last_sequence == 0:
        if LedgerEntry.objects.filter(location=location).exists():
            return "entries are stored but the chain head records none"
        return ""
    # The entry before the head's, the head's and any stored after it, through the
    # (location, sequence) unique index.
    tail = list(
        LedgerEntry.objects.filter(
            location=location, sequence__gte=head.last_sequence - 1
        ).order_by("sequence")[:3]
    )
    last = tail[-1] if tail else None
    if last is None or last.sequence != head.last_sequence:
        stored = f"#{last.sequence}" if last else "none"
        return (
            f"the chain head records {head.last_sequence} entries but the last stored is {stored}"
        )
    if len(tail) > 1 and (
        tail[-2].sequence != last.sequence - 1 or last.previous_hash != tail[-2].entry_hash
    ):
        return f"entry #{last.sequence} does not follow entry #{last.sequence - 1}"
    if last.entry_hash != head.last_hash or entry_hash(last) != last.entry_hash:
        return f"entry #{last.sequence} was altered after it was written"
    return ""
