"""Writes for outcomes: a new version of the outcome definitions, and the audit entry of
every export."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.outcomes import definition_from_data
from ketaclinic.outcomes.models import OutcomeDefinitionVersion
from ketaclinic.outcomes.selectors import definition_in_use

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User

_NEWER_VERSION = (
    "Someone saved version {version} of the definitions while you were editing. Nothing of "
    "yours was saved: look at the new version, then make your change again."
)


def definition_save(
    *,
    actor: User,
    data: dict[str, Any],
    change_note: str,
    based_on_version: int | None = None,
) -> OutcomeDefinitionVersion:
    """Save the clinic's outcome definitions as a new version (never an edit). A section
    whose values changed gets the change note as its source, so every page that names
    the version also says where its numbers come from.

    `based_on_version` is the version the form showed: when someone saved another version
    since (or at the same moment), this save is refused rather than silently replacing
    their change."""
    if not actor.can("outcomes.configure"):
        raise PermissionDenied("Only the medical director changes the outcome definitions.")
    note = change_note.strip()
    if not note:
        raise ValidationError("Say what changed and why.")
    current = definition_in_use()
    if based_on_version is not None and based_on_version != current.version:
        raise ValidationError(_NEWER_VERSION.format(version=current.version))
    previous = current.definition.as_data()
    try:
        definition_from_data(data)
    except ValueError as error:
        raise ValidationError(str(error)) from error
    who = actor.get_full_name() or actor.username
    for section, values in data.items():
        if not isinstance(values, dict):
            continue
        before = {k: v for k, v in previous.get(section, {}).items() if k != "source"}
        after = {k: v for k, v in values.items() if k != "source"}
        if before != after:
            values["source"] = f"Clinic setting by {who}: {note}"
    version = current.version + 1
    with transaction.atomic():
        try:
            # The version number is unique: of two saves at the same moment one is refused.
            with transaction.atomic():
                saved = OutcomeDefinitionVersion.objects.create(
                    version=version,
                    data={**data, "version": version},
                    change_note=note,
                    created_by=actor,
                )
        except IntegrityError as error:
            raise ValidationError(_NEWER_VERSION.format(version=version)) from error
        audit_record(
            actor=actor,
            action=AuditAction.CREATE,
            object_type="outcome_definition",
            object_id=saved.pk,
            detail={"version": version},
        )
    return saved


def export_record(
    *,
    actor: User,
    kind: str,
    filters: dict[str, Any],
    courses: int,
    patient_ids: Iterable[int] = (),
) -> None:
    """The audit entry of an export (summary CSV or PDF: counts only; the de-identified
    patient-level CSV: the patients it holds)."""
    detail: dict[str, Any] = {"kind": kind, "filters": filters, "courses": courses}
    ids = sorted(set(patient_ids))
    if ids:
        detail["patient_ids"] = ids
    audit_record(
        actor=actor, action=AuditAction.EXPORT, object_type="outcomes_export", detail=detail
    )
