"""Database triggers that give each patient a new random token whenever one of their scores,
sessions or treatment courses is inserted, changed or deleted, whatever program writes it
(the services, a bulk write, the demo, a restore, SQL typed by hand): SQLite and
PostgreSQL. The outcomes page reuses a patient's computed course outcomes while the token
is the one they were computed from (selectors.cohort_load), so it reads again only the
patients whose data changed.

A token is random, never a counter: a rolled-back write puts the old token back with the
old data, and two states of one patient's data never share a token. TRUNCATE does not fire
row triggers, so on PostgreSQL it clears every token (nothing is then reused until the
next write gives the patient a new one).
"""

from __future__ import annotations

from typing import Any

from ketaclinic.dbtriggers import execute

STAMPS = "outcomes_patientoutcomestamp"
# Table, short name: whose rows are an outcome's input, each with a patient_id column.
WATCHED = (
    ("measures_assessmentresponse", "response"),
    ("charting_treatmentsession", "session"),
    ("treatment_treatmentcourse", "course"),
)


# Every statement here is built from the table names above only (ruff S608).
def _sqlite_upsert(row: str) -> str:
    return (
        f"INSERT INTO {STAMPS} (patient_id, token) VALUES ({row}.patient_id, random()) "  # noqa: S608
        "ON CONFLICT (patient_id) DO UPDATE SET token = excluded.token;"
    )


def _sqlite_create() -> list[str]:
    statements = []
    for table, short in WATCHED:
        for event, rows in (
            ("INSERT", ("NEW",)),
            ("UPDATE", ("OLD", "NEW")),
            ("DELETE", ("OLD",)),
        ):
            body = " ".join(_sqlite_upsert(row) for row in rows)
            statements.append(
                f"CREATE TRIGGER IF NOT EXISTS outcomes_stamp_{short}_{event.lower()} "
                f"AFTER {event} ON {table} FOR EACH ROW BEGIN {body} END"
            )
    return statements


def _sqlite_drop() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS outcomes_stamp_{short}_{event}"
        for _table, short in WATCHED
        for event in ("insert", "update", "delete")
    ]


_POSTGRES_UPSERT = (
    f"INSERT INTO {STAMPS} (patient_id, token) "  # noqa: S608
    "VALUES (%s.patient_id, floor(random() * 9000000000000000000)::bigint) "
    "ON CONFLICT (patient_id) DO UPDATE SET token = excluded.token;"
)


def _postgres_create() -> list[str]:
    statements = [
        "CREATE OR REPLACE FUNCTION outcomes_stamp_patient() RETURNS trigger AS $$ BEGIN "
        f"IF TG_OP IN ('UPDATE', 'DELETE') THEN {_POSTGRES_UPSERT % 'OLD'} END IF; "
        f"IF TG_OP IN ('INSERT', 'UPDATE') THEN {_POSTGRES_UPSERT % 'NEW'} END IF; "
        "RETURN NULL; END; $$ LANGUAGE plpgsql",
        "CREATE OR REPLACE FUNCTION outcomes_stamp_clear() RETURNS trigger AS $$ BEGIN "  # noqa: S608
        f"DELETE FROM {STAMPS}; RETURN NULL; END; $$ LANGUAGE plpgsql",
    ]
    for table, short in WATCHED:
        statements += [
            f"DROP TRIGGER IF EXISTS outcomes_stamp_{short} ON {table}",
            f"CREATE TRIGGER outcomes_stamp_{short} AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION outcomes_stamp_patient()",
            f"DROP TRIGGER IF EXISTS outcomes_stamp_{short}_truncate ON {table}",
            f"CREATE TRIGGER outcomes_stamp_{short}_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION outcomes_stamp_clear()",
        ]
    return statements


def _postgres_drop() -> list[str]:
    statements = []
    for table, short in WATCHED:
        statements += [
            f"DROP TRIGGER IF EXISTS outcomes_stamp_{short} ON {table}",
            f"DROP TRIGGER IF EXISTS outcomes_stamp_{short}_truncate ON {table}",
        ]
    return [
        *statements,
        "DROP FUNCTION IF EXISTS outcomes_stamp_patient()",
        "DROP FUNCTION IF EXISTS outcomes_stamp_clear()",
    ]


def create_statements(vendor: str) -> list[str]:
    return {"sqlite": _sqlite_create, "postgresql": _postgres_create}.get(vendor, list)()


def drop_statements(vendor: str) -> list[str]:
    return {"sqlite": _sqlite_drop, "postgresql": _postgres_drop}.get(vendor, list)()


def _stamp_everyone_statement(vendor: str) -> str:
    token = "random()" if vendor == "sqlite" else "floor(random() * 9000000000000000000)::bigint"
    sources = " UNION ".join(
        f"SELECT patient_id FROM {table}"  # noqa: S608
        for table, _short in WATCHED
    )
    return (
        f"INSERT INTO {STAMPS} (patient_id, token) "  # noqa: S608
        f"SELECT patient_id, {token} FROM ({sources}) patients"
    )


def install(connection: Any) -> None:
    """Create the triggers and give every patient who already has data a token."""
    execute(connection, create_statements(connection.vendor))
    if connection.vendor in ("sqlite", "postgresql"):
        stamp_everyone = _stamp_everyone_statement(connection.vendor)
        execute(connection, [f"DELETE FROM {STAMPS}", stamp_everyone])  # noqa: S608


def remove(connection: Any) -> None:
    execute(connection, drop_statements(connection.vendor))
