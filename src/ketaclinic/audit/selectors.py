from __future__ import annotations

from django.db.models import QuerySet

from ketaclinic.audit.models import AuditEntry


def patient_access_history(patient_id: int) -> QuerySet[AuditEntry]:
    """Every audited read and write naming this patient, newest first."""
    return AuditEntry.objects.filter(patient_id=patient_id).order_by("-sequence")


def recent_audit_entries(*, limit: int) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.order_by("-sequence")[:limit]
