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


ROW_EVENTS = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}


@dataclass(frozen=True)
class Watched:
    """A table whose row changes touch rows of a kept table. `keys` is a SELECT of the
    kept table's keys that a changed row touches, with `{row}` for the row (NEW or OLD);
    `events` are the changes to watch."""

    table: str
    short: str
    keys: str
    events: tuple[str, ...] = ("INSERT", "UPDATE", "DELETE")


@dataclass(frozen=True)
class KeptTable:
    """A table the database keeps equal to what `select` finds, row for row, whatever
    program writes the watched tables (the services, a bulk write, the demo, a restore).

    After each change of a watched row, the rows whose `key` the change touches are
    deleted and selected again: `select` has `{keys}` for a SELECT of those keys and
    returns the kept table's columns in order. `all_keys` selects every key, to fill the
    table from scratch. So a condition that a plain index cannot serve (one spread over
    several tables, or a sum) becomes a small table, and a page reads it instead of the
    history. Triggers are named `{table}_{short}_{event}`; on PostgreSQL each calls a
    function of the same name."""

    table: str
    key: str
    select: str
    all_keys: str
    watched: tuple[Watched, ...]

    def _body(self, keys: str) -> str:
        return (
            f"DELETE FROM {self.table} WHERE {self.key} IN ({keys}); "  # noqa: S608
            f"INSERT INTO {self.table} {self.select.format(keys=keys)};"
        )

    def _triggers(self) -> list[tuple[str, str, str, str]]:
        """(name, watched table, event, SELECT of the keys touched) of every trigger."""
        return [
            (
                f"{self.table}_{source.short}_{event.lower()}",
                source.table,
                event,
                " UNION ".join(source.keys.format(row=row) for row in ROW_EVENTS[event]),
            )
            for source in self.watched
            for event in source.events
        ]

    def create_statements(self, vendor: str) -> list[str]:
        statements = []
        for name, table, event, keys in self._triggers():
            body = self._body(keys)
            if vendor == "sqlite":
                statements.append(
                    f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table} "
                    f"FOR EACH ROW BEGIN {body} END"
                )
            elif vendor == "postgresql":
                statements += [
                    f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                    f"{body} RETURN NULL; END; $$ LANGUAGE plpgsql",
                    f"DROP TRIGGER IF EXISTS {name} ON {table}",
                    f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {name}()",
                ]
        return statements

    def drop_statements(self, vendor: str) -> list[str]:
        statements = []
        for name, table, _event, _keys in self._triggers():
            if vendor == "sqlite":
                statements.append(f"DROP TRIGGER IF EXISTS {name}")
            elif vendor == "postgresql":
                statements += [
                    f"DROP TRIGGER IF EXISTS {name} ON {table}",
                    f"DROP FUNCTION IF EXISTS {name}()",
                ]
        return statements

    def fill_statements(self) -> list[str]:
        return [
            f"DELETE FROM {self.table}",  # noqa: S608
            f"INSERT INTO {self.table} {self.select.format(keys=self.all_keys)}",
        ]

    def install(self, connection: Any) -> None:
        """Create the triggers and fill the table from the rows already there."""
        execute(connection, self.create_statements(connection.vendor))
        execute(connection, self.fill_statements())

    def remove(self, connection: Any) -> None:
        execute(connection, self.drop_statements(connection.vendor))

    def missing(self, connection: Any) -> list[str]:
        """The triggers of this table that are not in the database (none when all are)."""
        present: set[str] = set()
        for table in {source.table for source in self.watched}:
            present |= triggers_on(connection, table)
        return [name for name, *_ in self._triggers() if name not in present]
