"""Keeping the query planner informed: SQLite has no background statistics collector."""

from __future__ import annotations

from django.db import connections


def database_analyze(using: str = "default") -> None:
    """Refresh planner statistics (SQLite and PostgreSQL both accept plain ANALYZE).

    Without statistics SQLite prefers the name-ordering index even when a location and
    birth-date index would read a hundred times fewer rows (docs/performance.md).
    """
    with connections[using].cursor() as cursor:
        cursor.execute("ANALYZE")
