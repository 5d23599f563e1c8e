"""Keeping the query planner informed: SQLite has no background statistics collector."""

from __future__ import annotations

from django.db import connections
from django.db.migrations.executor import MigrationExecutor


def database_analyze(using: str = "default") -> None:
    """Refresh planner statistics (SQLite and PostgreSQL both accept plain ANALYZE).

    Without statistics SQLite prefers the name-ordering index even when a location and
    birth-date index would read a hundred times fewer rows (docs/performance.md).
    """
    with connections[using].cursor() as cursor:
        cursor.execute("ANALYZE")


def database_unmigrated(using: str = "default") -> list[str]:
    """The migrations not yet applied to the database (all of them on a new one)."""
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
