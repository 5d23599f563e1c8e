from __future__ import annotations

from django.db.models import QuerySet

from ketaclinic.audit.models import AuditChainHead, AuditEntry

GENESIS_HASH = "0" * 64


def patient_access_history(patient_id: int) -> QuerySet[AuditEntry]:
    """Every audited read and write naming this patient, newest first."""
    return AuditEntry.objects.filter(patient_id=patient_id).order_by("-sequence")


def recent_audit_entries(*, limit: int) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.order_by("-sequence")[:limit]


def audit_chain_head() -> tuple[int, str]:
    """The chain head: the last sequence number and the last entry's hash (64 zeros, the
    genesis value, while the log is empty)."""
    head = AuditChainHead.objects.filter(pk=1).values_list("last_sequence", "last_hash").first()
    return (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)
