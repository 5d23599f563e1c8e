"""Database triggers on the ledger (SQLite and PostgreSQL), whatever program writes it:

- APPEND_ONLY: the database itself refuses any UPDATE or DELETE of a ledger entry.
  Someone with administrator rights on the database can still drop a trigger; the hash
  chain (`ketaclinic ledger verify`) then shows what was changed.
- OPEN_DRAWS: keeps `register_opendraw`, the draws still open (models.OpenDraw), by the
  rule of selectors.unaccounted_draws: a draw not reversed, whose amount less the
  administered, wasted and returned entries not reversed is more than the noise.
"""

from __future__ import annotations

from ketaclinic.dbtriggers import KeptTable, Watched, append_only
from ketaclinic.register.models import UNACCOUNTED_NOISE_ML

TABLE = "register_ledgerentry"
MESSAGE = "ledger entries are append-only: record a correcting entry instead"

APPEND_ONLY = append_only(TABLE, "register_ledger", MESSAGE)
create_statements = APPEND_ONLY.create_statements
drop_statements = APPEND_ONLY.drop_statements
install = APPEND_ONLY.install
remove = APPEND_ONLY.remove

LEDGER = TABLE
# Built from the names and constants here only (ruff S608).
OPEN_DRAWS = KeptTable(
    table="register_opendraw",
    key="draw_id",
    select=(
        f"SELECT d.id, d.location_id FROM {LEDGER} d "  # noqa: S608
        "WHERE d.id IN ({keys}) AND d.kind = 'draw' "
        f"AND NOT EXISTS (SELECT 1 FROM {LEDGER} c WHERE c.reverses_id = d.id) "
        f"AND d.amount_ml - COALESCE((SELECT SUM(e.amount_ml) FROM {LEDGER} e "
        "WHERE e.draw_id = d.id AND e.kind <> 'correction' "
        f"AND NOT EXISTS (SELECT 1 FROM {LEDGER} r WHERE r.reverses_id = e.id)), 0) "
        f"> {UNACCOUNTED_NOISE_ML}"
    ),
    all_keys=f"SELECT id FROM {LEDGER} WHERE kind = 'draw'",  # noqa: S608
    watched=(
        # An entry touches itself (a draw), its draw (administer, waste, return) and, for
        # a correction, the entry it reverses and that entry's draw. The ledger is
        # append-only, so only inserts change anything.
        Watched(
            LEDGER,
            "ledger",
            "SELECT {row}.id UNION SELECT {row}.draw_id "
            "UNION SELECT e.id FROM register_ledgerentry e WHERE e.id = {row}.reverses_id "
            "UNION SELECT e.draw_id FROM register_ledgerentry e WHERE e.id = {row}.reverses_id",
            events=("INSERT",),
        ),
    ),
)
