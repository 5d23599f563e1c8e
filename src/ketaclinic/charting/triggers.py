"""Database triggers on the sessions and REMS submissions (SQLite and PostgreSQL), whatever
program writes them:

- REMS_FORMS_OWED keeps `charting_remsformowed` (models.RemsFormOwed), the esketamine
  sessions that ended after dosing and have no submitted form, by the rule of
  selectors.rems_sessions_owed.
- SESSIONS_IN_CHAIR keeps `charting_sessioninchair` (models.SessionInChair), the sessions
  in one of the ACTIVE_STATUSES, for the chair board.
"""

from __future__ import annotations

from ketaclinic.charting.models import ACTIVE_STATUSES, ENDED_DOSED_STATUSES
from ketaclinic.dbtriggers import KeptTable, Watched

SESSIONS = "charting_treatmentsession"
SUBMISSIONS = "charting_remssubmission"
_ENDED = ", ".join(f"'{status}'" for status in ENDED_DOSED_STATUSES)
_ACTIVE = ", ".join(f"'{status}'" for status in ACTIVE_STATUSES)

# Built from the names and constants here only (ruff S608).
REMS_FORMS_OWED = KeptTable(
    table="charting_remsformowed",
    key="session_id",
    select=(
        f"SELECT s.id, s.location_id FROM {SESSIONS} s "  # noqa: S608
        "WHERE s.id IN ({keys}) AND s.route = 'esketamine' "
        f"AND s.status IN ({_ENDED}) AND s.dosing_started_at IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {SUBMISSIONS} r WHERE r.session_id = s.id)"
    ),
    all_keys=f"SELECT id FROM {SESSIONS} WHERE route = 'esketamine'",  # noqa: S608
    watched=(
        Watched(SESSIONS, "session", "SELECT {row}.id"),
        Watched(SUBMISSIONS, "submission", "SELECT {row}.session_id"),
    ),
)

SESSIONS_IN_CHAIR = KeptTable(
    table="charting_sessioninchair",
    key="session_id",
    select=(
        f"SELECT s.id, s.location_id FROM {SESSIONS} s "  # noqa: S608
        f"WHERE s.id IN ({{keys}}) AND s.status IN ({_ACTIVE})"
    ),
    all_keys=f"SELECT id FROM {SESSIONS} WHERE status IN ({_ACTIVE})",  # noqa: S608
    watched=(Watched(SESSIONS, "session", "SELECT {row}.id"),),
)
