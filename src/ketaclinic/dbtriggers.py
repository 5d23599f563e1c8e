"""Database triggers, as SQL for each engine ketaclinic runs on (SQLite and PostgreSQL),
kept where the rule they enforce belongs (audit/triggers.py, register/triggers.py,
outcomes/triggers.py) and installed by that app's migration. This module holds what they
share; it imports nothing of ketaclinic's (the platform layer)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


def execute(connection: Any, statements: Iterable[str]) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def triggers_on(connection: Any, table: str) -> set[str]:
    """The names of the triggers on `table` that the database holds (its own internal
    ones left out)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
            )
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [table],
            )
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            return set()
        return {row[0] for row in cursor.fetchall()}


@dataclass(frozen=True)
class TriggerSet:
    """The statements that create and drop some triggers, and the triggers' names, per
    engine (connection.vendor)."""

    table: str
    create: dict[str, list[str]]
    drop: dict[str, list[str]]
    names: dict[str, list[str]] = field(default_factory=dict)

    def create_statements(self, vendor: str) -> list[str]:
        return list(self.create.get(vendor, []))

    def drop_statements(self, vendor: str) -> list[str]:
        return list(self.drop.get(vendor, []))

    def install(self, connection: Any) -> None:
        execute(connection, self.create_statements(connection.vendor))

    def remove(self, connection: Any) -> None:
        execute(connection, self.drop_statements(connection.vendor))

    def missing(self, connection: Any) -> list[str]:
        """The triggers of this set that are not in the database (none when all are)."""
        present = triggers_on(connection, self.table)
        return [name for name in self.names.get(connection.vendor, []) if name not in present]


def append_only(table: str, prefix: str, message: str, *, truncate: bool = False) -> TriggerSet:
    """Triggers with which the database refuses any UPDATE or DELETE of a row of `table`,
    whatever program sends it, with `message`; on PostgreSQL also TRUNCATE when `truncate`
    (a TRUNCATE skips row triggers). Named `{prefix}_no_update` and `{prefix}_no_delete` on
    SQLite, `{prefix}_append_only` (function and trigger, and `_truncate`) on PostgreSQL."""
    function = trigger = f"{prefix}_append_only"
    sqlite = [f"{prefix}_no_update", f"{prefix}_no_delete"]
    postgres = [trigger, *([f"{trigger}_truncate"] if truncate else [])]
    postgres_create = [
        f"CREATE OR REPLACE FUNCTION {function}() RETURNS trigger AS $$ "
        f"BEGIN RAISE EXCEPTION '{message}'; END; $$ LANGUAGE plpgsql",
        f"DROP TRIGGER IF EXISTS {trigger} ON {table}",
        f"CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}()",
    ]
    if truncate:
        postgres_create += [
            f"DROP TRIGGER IF EXISTS {trigger}_truncate ON {table}",
            f"CREATE TRIGGER {trigger}_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    return TriggerSet(
        table=table,
        create={
            "sqlite": [
                f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
                for name, event in zip(sqlite, ("UPDATE", "DELETE"), strict=True)
            ],
            "postgresql": postgres_create,
        },
        drop={
            "sqlite": [f"DROP TRIGGER IF EXISTS {name}" for name in sqlite],
            "postgresql": [f"DROP TRIGGER IF EXISTS {name} ON {table}" for name in postgres],
        },
        names={"sqlite": sqlite, "postgresql": postgres},
    )
