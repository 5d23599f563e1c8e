"""Database triggers that make the audit log insert-only: the database itself refuses any
UPDATE or DELETE of an audit entry, whatever program sends it (SQLite and PostgreSQL), as
the register's ledger already is (register/triggers.py).

What they catch and what they do not (docs/audit.md): an application bug, a script or a
person with ordinary write access to the tables cannot change or remove an entry. Someone
with administrator rights on the database can drop the triggers; `ketaclinic audit verify`
then reports the triggers missing, the hash chain shows what was changed, and the anchors
kept outside the database show a chain that was rewritten as a whole.
"""

from __future__ import annotations

from typing import Any

TABLE = "audit_auditentry"
MESSAGE = "audit entries are append-only: record a new entry instead"

SQLITE_TRIGGERS = ("audit_entry_no_update", "audit_entry_no_delete")
POSTGRES_TRIGGER = "audit_entry_append_only"

_SQLITE_CREATE = [
    f"CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
_SQLITE_DROP = [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS]
_POSTGRES_CREATE = [
    "CREATE OR REPLACE FUNCTION audit_entry_append_only() RETURNS trigger AS $$ "
    f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql",
    f"DROP TRIGGER IF EXISTS {POSTGRES_TRIGGER} ON {TABLE}",
    f"CREATE TRIGGER {POSTGRES_TRIGGER} BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only()",
    # TRUNCATE skips row triggers, so it gets a statement trigger of its own.
    f"DROP TRIGGER IF EXISTS {POSTGRES_TRIGGER}_truncate ON {TABLE}",
    f"CREATE TRIGGER {POSTGRES_TRIGGER}_truncate BEFORE TRUNCATE ON {TABLE} "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()",
]
_POSTGRES_DROP = [
    f"DROP TRIGGER IF EXISTS {POSTGRES_TRIGGER} ON {TABLE}",
    f"DROP TRIGGER IF EXISTS {POSTGRES_TRIGGER}_truncate ON {TABLE}",
]


def create_statements(vendor: str) -> list[str]:
    return {"sqlite": _SQLITE_CREATE, "postgresql": _POSTGRES_CREATE}.get(vendor, [])


def drop_statements(vendor: str) -> list[str]:
    return {"sqlite": _SQLITE_DROP, "postgresql": _POSTGRES_DROP}.get(vendor, [])


def install(connection: Any) -> None:
    with connection.cursor() as cursor:
        for statement in create_statements(connection.vendor):
            cursor.execute(statement)


def remove(connection: Any) -> None:
    with connection.cursor() as cursor:
        for statement in drop_statements(connection.vendor):
            cursor.execute(statement)


def missing(connection: Any) -> list[str]:
    """The append-only triggers that are not in the database (none when all are there)."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [TABLE],
            )
            expected = list(SQLITE_TRIGGERS)
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [TABLE],
            )
            expected = [POSTGRES_TRIGGER, f"{POSTGRES_TRIGGER}_truncate"]
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            return []
        present = {row[0] for row in cursor.fetchall()}
    return [name for name in expected if name not in present]
