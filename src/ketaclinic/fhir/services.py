"""Writes of the FHIR app: system clients, bulk export jobs (kick-off, run, cancel, expiry).

A bulk export (FHIR Bulk Data Access 3.0.0) is kicked off by a request, run by
`ketaclinic worker` (a job table, claimed one at a time), and its NDJSON files are kept for
`EXPORT_KEEP` and then deleted. What an export holds is what its requester may read, through
the same sources as the read API (`types.py`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record, audit_record_events
from ketaclinic.fhir.auth import digest, scopes_valid
from ketaclinic.fhir.mapping import Resource
from ketaclinic.fhir.models import ExportFile, ExportJob, ExportLevel, ExportStatus, SystemClient
from ketaclinic.fhir.selectors import patient_of
from ketaclinic.fhir.types import TYPES, questionnaires

EXPORT_KEEP = timedelta(hours=24)
LINES_PER_FILE = 10_000
ROWS_PER_CHUNK = 2_000
AUDIT_CHUNK = 5_000


def client_create(
    *, name: str, account: User, scopes: list[str], created_by: User | None = None
) -> tuple[SystemClient, str]:
    """Register a system client; returns it and its secret, which is shown only once."""
    if not name.strip():
        raise ValidationError("Name the client (the system that will call the API).")
    if not account.is_clinic_staff or not account.is_active:
        raise ValidationError("A client acts as an active staff account; choose one.")
    if not scopes:
        raise ValidationError("Give the client at least one scope, e.g. system/Patient.read.")
    bad = scopes_valid(scopes)
    if bad:
        raise ValidationError(
            f"Not a system scope: {' '.join(bad)} (write system/Patient.read or system/*.read)."
        )
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        client = SystemClient.objects.create(
            name=name.strip(),
            client_id=secrets.token_hex(12),
            secret_digest=digest(secret),
            account=account,
            scopes=sorted(set(scopes)),
            created_by=created_by,
        )
        audit_record(
            actor=created_by,
            action=AuditAction.CREATE,
            object_type="fhir_client",
            object_id=client.pk,
            detail={"name": client.name, "account": account.username, "scopes": client.scopes},
        )
    return client, secret


# Bulk export ---------------------------------------------------------------------------------

PATIENT_TYPES = tuple(name for name, kind in TYPES.items() if kind.in_patient_compartment)
SYSTEM_TYPES = (*PATIENT_TYPES, "Practitioner", "Location", "Organization", "Questionnaire")


def export_kick_off(
    *,
    actor: User,
    client: SystemClient | None,
    level: str,
    request_url: str,
    group_id: str = "",
    types: list[str] | None = None,
    since: datetime | None = None,
    may: Callable[[str], bool] = lambda _type: True,
) -> ExportJob:
    """Queue an export. `may(type)` says whether the caller's token covers a type."""
    if not actor.can("fhir.export"):
        raise PermissionDenied("Your role may not export records in bulk (fhir.export).")
    allowed = SYSTEM_TYPES if level == ExportLevel.SYSTEM else PATIENT_TYPES
    if types:
        unknown = [t for t in types if t not in allowed]
        if unknown:
            raise ValidationError(
                f"Cannot export {', '.join(unknown)} at this level. Types: {', '.join(allowed)}."
            )
    chosen = [t for t in (types or allowed) if may(t)]
    if types and len(chosen) < len(types):
        refused = sorted(set(types) - set(chosen))
        raise PermissionDenied(f"The token does not cover {', '.join(refused)}.")
    if not chosen:
        raise PermissionDenied("The token covers none of the types an export holds.")
    with transaction.atomic():
        job = ExportJob.objects.create(
            requested_by=actor,
            client=client,
            request_url=request_url[:2000],
            level=level,
            group_id=group_id,
            resource_types=chosen,
            since=since,
        )
        audit_record(
            actor=actor,
            action=AuditAction.EXPORT,
            object_type="fhir_export",
            object_id=str(job.pk),
            detail={"level": level, "group": group_id, "types": chosen, "since": since},
        )
    return job


def export_cancel(*, actor: User, job: ExportJob) -> None:
    """Cancel a job and delete its files (Bulk Data: DELETE on the status URL)."""
    with transaction.atomic():
        locked = ExportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status in {ExportStatus.CANCELLED, ExportStatus.FAILED, ExportStatus.EXPIRED}:
            raise ValidationError("This export has ended already.")
        locked.files.all().delete()
        locked.status = ExportStatus.CANCELLED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at"])
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="fhir_export",
            object_id=str(job.pk),
            detail={"cancelled": True},
        )


def export_claim() -> ExportJob | None:
    """Take the oldest waiting job for this worker; another worker never takes it too."""
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update(skip_locked=True)
            .filter(status=ExportStatus.QUEUED)
            .order_by("created_at")
            .first()
        )
        if job is None:
            return None
        job.status = ExportStatus.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["status", "started_at"])
    return job


def _progress(job: ExportJob, percent: int, text: str) -> bool:
    """Record progress; False when the job was cancelled meanwhile."""
    updated = ExportJob.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
        progress_percent=min(percent, 99), progress_text=text[:200]
    )
    return bool(updated)


def export_run(job: ExportJob, on_progress: Callable[[int, str], None] | None = None) -> None:
    """Write the job's NDJSON files, type by type, in bounded memory; then mark it done (or
    failed, with the reason). Every patient exported is audited as read by the requester."""
    user = job.requested_by
    try:
        patients: set[int] = set()
        total_types = len(job.resource_types)
        for index, type_name in enumerate(job.resource_types):
            text = f"{type_name} ({index + 1} of {total_types})"
            if not _progress(job, index * 100 // total_types, text):
                return
            if on_progress:
                on_progress(index * 100 // total_types, text)
            _export_type(job, user, type_name, patients)
        _audit_patients(job, patients)
        now = timezone.now()
        ExportJob.objects.filter(pk=job.pk, status=ExportStatus.RUNNING).update(
            status=ExportStatus.DONE,
            progress_percent=100,
            progress_text="Done",
            finished_at=now,
            expires_at=now + EXPORT_KEEP,
        )
        if on_progress:
            on_progress(100, "Done")
    except Exception as error:  # a failed job says why; the worker goes on with the next
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.FAILED, error=str(error)[:300], finished_at=timezone.now()
        )
        raise


def _rows(job: ExportJob, user: User, type_name: str) -> Iterator[Resource]:
    """The type's resources in the job, row by row, in bounded memory."""
    for source in TYPES[type_name].sources:
        rows = source.scoped(user)
        if job.level == ExportLevel.GROUP and source.patient_path is not None:
            through = f"{source.patient_path}__" if source.patient_path else ""
            rows = rows.filter(**{f"{through}primary_location_id": int(job.group_id)})
        if job.since is not None and source.updated_field:
            rows = rows.filter(**{f"{source.updated_field}__gt": job.since})
        for row in rows.iterator(chunk_size=ROWS_PER_CHUNK):
            yield from source.build(row)


def _export_type(job: ExportJob, user: User, type_name: str, patients: set[int]) -> None:
    lines: list[str] = []
    number = 0

    def flush() -> None:
        nonlocal number, lines
        if lines:
            number += 1
            ExportFile.objects.create(
                job=job,
                resource_type=type_name,
                number=number,
                count=len(lines),
                content="\n".join(lines) + "\n",
            )
            lines = []

    resources = questionnaires() if type_name == "Questionnaire" else _rows(job, user, type_name)
    for resource in resources:
        lines.append(json.dumps(resource, separators=(",", ":")))
        patient_id = patient_of(resource)
        if patient_id is not None:
            patients.add(patient_id)
        if len(lines) >= LINES_PER_FILE:
            flush()
    flush()


def _audit_patients(job: ExportJob, patients: set[int]) -> None:
    ordered = sorted(patients)
    for start in range(0, len(ordered), AUDIT_CHUNK):
        audit_record_events(
            actor=job.requested_by,
            events=[
                AuditEvent(
                    action=AuditAction.EXPORT,
                    patient_id=patient_id,
                    object_type="fhir_export",
                    object_id=str(job.pk),
                )
                for patient_id in ordered[start : start + AUDIT_CHUNK]
            ],
        )


def exports_purge(now: datetime | None = None) -> int:
    """Delete the files of exports past their expiry; returns how many jobs expired."""
    now = now or timezone.now()
    expired = ExportJob.objects.filter(status=ExportStatus.DONE, expires_at__lte=now)
    count = 0
    for job in expired:
        with transaction.atomic():
            job.files.all().delete()
            job.status = ExportStatus.EXPIRED
            job.save(update_fields=["status"])
            count += 1
    return count
