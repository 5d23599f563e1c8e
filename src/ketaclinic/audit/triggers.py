"""Database triggers that make the audit log insert-only: the database itself refuses any
UPDATE, DELETE or (PostgreSQL) TRUNCATE of audit entries, whatever program sends it, as the
register's ledger already is (register/triggers.py).

What they catch and what they do not (docs/audit.md): an application bug, a script or a
person with ordinary write access to the tables cannot change or remove an entry. Someone
with administrator rights on the database can drop the triggers; `ketaclinic audit verify`
then reports the triggers missing, the hash chain shows what was changed, and the anchors
kept outside the database show a chain that was rewritten as a whole.
"""

from __future__ import annotations

from ketaclinic.dbtriggers import append_only

TABLE = "audit_auditentry"
MESSAGE = "audit entries are append-only: record a new entry instead"

APPEND_ONLY = append_only(TABLE, "audit_entry", MESSAGE, truncate=True)
create_statements = APPEND_ONLY.create_statements
drop_statements = APPEND_ONLY.drop_statements
install = APPEND_ONLY.install
remove = APPEND_ONLY.remove
missing = APPEND_ONLY.missing
