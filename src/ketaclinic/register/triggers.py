"""Database triggers that make the ledger append-only: the database itself refuses any
UPDATE or DELETE of a ledger entry, whatever program sends it (SQLite and PostgreSQL).

Someone with administrator rights on the database can still drop a trigger; the hash chain
(`ketaclinic ledger verify`) then shows what was changed.
"""

from __future__ import annotations

from typing import Any

TABLE = "register_ledgerentry"
MESSAGE = "ledger entries are append-only: record a correcting entry instead"

_SQLITE_CREATE = [
    f"CREATE TRIGGER IF NOT EXISTS register_ledger_no_update BEFORE UPDATE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
    f"CREATE TRIGGER IF NOT EXISTS register_ledger_no_delete BEFORE DELETE ON {TABLE} "
    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS register_ledger_no_update",
    "DROP TRIGGER IF EXISTS register_ledger_no_delete",
]
_POSTGRES_CREATE = [
    "CREATE OR REPLACE FUNCTION register_ledger_append_only() RETURNS trigger AS $$ "
    f"BEGIN RAISE EXCEPTION '{MESSAGE}'; END; $$ LANGUAGE plpgsql",
    f"DROP TRIGGER IF EXISTS register_ledger_append_only ON {TABLE}",
    f"CREATE TRIGGER register_ledger_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
    "FOR EACH ROW EXECUTE FUNCTION register_ledger_append_only()",
]
_POSTGRES_DROP = [f"DROP TRIGGER IF EXISTS register_ledger_append_only ON {TABLE}"]


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
