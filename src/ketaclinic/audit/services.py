"""Writing and verifying the hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from django.db import transaction
from django.utils import timezone

from ketaclinic.audit.context import current_ip_address, current_path
from ketaclinic.audit.models import AuditAction, AuditChainHead, AuditEntry
from ketaclinic.audit.selectors import GENESIS_HASH


def _hash_entry(entry: AuditEntry) -> str:
    """SHA-256 over the entry's content and the previous entry's hash."""
    occurred = entry.occurred_at.astimezone(UTC).isoformat(timespec="microseconds")
    content = {
        "sequence": entry.sequence,
        "occurred_at": occurred,
        "actor_id": entry.actor_id,
        "actor_username": entry.actor_username,
        "action": entry.action,
        "patient_id": entry.patient_id,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "path": entry.path,
        "ip_address": entry.ip_address,
        "detail": entry.detail,
        "previous_hash": entry.previous_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is placed in the chain."""

    action: str
    patient_id: int | None = None
    object_type: str = ""
    object_id: str | int = ""
    detail: dict[str, Any] = field(default_factory=dict)


def audit_record_events(*, actor: Any, events: Sequence[AuditEvent]) -> list[AuditEntry]:
    """Append events to the chain in one transaction and a constant number of queries.

    `actor` is the user who acted (None for the system). The client address and path
    come from the current request, when there is one.
    """
    if not events:
        return []
    actor_id = getattr(actor, "pk", None)
    username = getattr(actor, "username", "") or ""
    now = timezone.now()
    ip_address = current_ip_address.get()
    path = current_path.get()
    with transaction.atomic():
        head = _locked_head()
        previous = head.last_hash
        sequence = head.last_sequence
        entries = []
        for event in events:
            sequence += 1
            entry = AuditEntry(
                sequence=sequence,
                occurred_at=now,
                actor_id=actor_id,
                actor_username=username,
                action=event.action,
                patient_id=event.patient_id,
                object_type=event.object_type,
                object_id=str(event.object_id),
                path=path,
                ip_address=ip_address,
                detail=json.loads(json.dumps(event.detail, default=str)),
                previous_hash=previous,
            )
            entry.entry_hash = _hash_entry(entry)
            previous = entry.entry_hash
            entries.append(entry)
        AuditEntry.objects.bulk_create(entries)
        AuditChainHead.objects.filter(pk=head.pk).update(last_sequence=sequence, last_hash=previous)
    return entries


def audit_record(
    *,
    actor: Any,
    action: str | AuditAction,
    patient_id: int | None = None,
    object_type: str = "",
    object_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry; see audit_record_events."""
    event = AuditEvent(
        action=str(action),
        patient_id=patient_id,
        object_type=object_type,
        object_id=object_id,
        detail=detail or {},
    )
    return audit_record_events(actor=actor, events=[event])[0]


def _locked_head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head, _ = AuditChainHead.objects.get_or_create(
            pk=1, defaults={"last_sequence": 0, "last_hash": GENESIS_HASH}
        )
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries_checked: int
    problem: str = ""
    first_bad_sequence: int | None = None


def audit_verify_chain(entries: Iterable[AuditEntry] | None = None) -> ChainReport:
    """Walk the chain in sequence order and name the first entry that does not fit.

    Detects an altered entry (its hash no longer matches its content), a removed one
    (a gap in the sequence, or fewer entries than the chain head records) and a
    reordering (an entry whose previous_hash is not its predecessor's hash).
    """
    if entries is None:
        entries = AuditEntry.objects.order_by("sequence").iterator(chunk_size=2000)
    expected_previous = GENESIS_HASH
    expected_sequence = 1
    checked = 0
    for entry in entries:
        if entry.sequence != expected_sequence:
            return ChainReport(
                False,
                checked,
                f"entry #{expected_sequence} is missing (next stored entry is #{entry.sequence})",
                expected_sequence,
            )
        if entry.previous_hash != expected_previous:
            return ChainReport(
                False,
                checked,
                f"entry #{entry.sequence} does not follow entry #{entry.sequence - 1} "
                "(removed, reordered or altered link)",
                entry.sequence,
            )
        if _hash_entry(entry) != entry.entry_hash:
            return ChainReport(
                False,
                checked,
                f"entry #{entry.sequence} was altered after it was written",
                entry.sequence,
            )
        expected_previous = entry.entry_hash
        expected_sequence += 1
        checked += 1
    head = AuditChainHead.objects.filter(pk=1).first()
    last_sequence = head.last_sequence if head else 0
    last_hash = head.last_hash if head else GENESIS_HASH
    if last_sequence != checked or last_hash != expected_previous:
        missing_from = checked + 1
        return ChainReport(
            False,
            checked,
            f"entry #{missing_from} is missing: the chain head records {last_sequence} entries "
            f"but {checked} are stored",
            missing_from,
        )
    return ChainReport(True, checked)
