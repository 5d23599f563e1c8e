"""Database triggers that make the ledger append-only: the database itself refuses any
UPDATE or DELETE of a ledger entry, whatever program sends it (SQLite and PostgreSQL).

Someone with administrator rights on the database can still drop a trigger; the hash chain
(`ketaclinic ledger verify`) then shows what was changed.
"""

from __future__ import annotations

from ketaclinic.dbtriggers import append_only

TABLE = "register_ledgerentry"
MESSAGE = "ledger entries are append-only: record a correcting entry instead"

APPEND_ONLY = append_only(TABLE, "register_ledger", MESSAGE)
create_statements = APPEND_ONLY.create_statements
drop_statements = APPEND_ONLY.drop_statements
install = APPEND_ONLY.install
remove = APPEND_ONLY.remove
