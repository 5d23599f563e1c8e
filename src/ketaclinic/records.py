"""Records that are never edited once saved: corrections are new, superseding records."""

from __future__ import annotations

from typing import Any

from django.db import models


class SignedRecord(models.Model):
    """Refuses edits and deletes through the ORM (signed decisions, consent, protocol
    versions). There is deliberately no update path anywhere in the code for these."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError(f"A saved {self._meta.verbose_name} is never edited.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(f"A saved {self._meta.verbose_name} is never deleted.")


class AppendOnlyQuerySet(models.QuerySet):
    """Rows that are only ever added: bulk updates and deletes are refused too (a model's
    save() and delete() refusing is not enough while QuerySet.update() goes around them)."""

    def update(self, **kwargs: Any) -> int:
        raise PermissionError(f"{self.model._meta.verbose_name_plural} are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError(f"{self.model._meta.verbose_name_plural} are append-only.")
