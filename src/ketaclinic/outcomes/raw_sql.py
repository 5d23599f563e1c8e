"""The outcomes summary's counts as one raw SQL statement: the yardstick the outcomes page
is timed against (bench/outcomes_timing.py, docs/performance.md) and a second,
independent computation of the page's numbers (tests check that both agree).

For every dosed course (a medical director's cohort: every location), on the definitions
in force and the first instrument's remission cut-off: per timepoint, the courses with a
baseline that are due, those assessed, the responders and the remitters. Works on SQLite
and PostgreSQL; times are compared as seconds since the epoch.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from ketaclinic.charting.models import SessionStatus
from ketaclinic.clinical.outcomes import END_OF_INDUCTION, Remission
from ketaclinic.clinical.scoring import get_instrument
from ketaclinic.outcomes.selectors import definition_in_use, protocol_infos

DAY = 86400


def _epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM {column})"
    # julianday counts from 4714 BC; 2440587.5 is 1970-01-01 00:00 UTC.
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


def summary_counts_sql(
    *, now: datetime, instrument_key: str = "phq9"
) -> dict[str, tuple[int, int, int, int]]:
    """{timepoint key: (due, assessed, responders, remitters)} in one statement. Every
    number in the SQL comes from the definitions and protocols, never from a request."""
    definition = definition_in_use().definition
    remission = Remission.of(get_instrument(instrument_key))
    induction = " ".join(
        f"WHEN {pk} THEN {info.induction_sessions}" for pk, info in protocol_infos().items()
    )
    t_now = now.timestamp()
    rt = _epoch("r.completed_at")
    least = "LEAST" if connection.vendor == "postgresql" else "MIN"
    half = definition.timepoint_window_days * DAY
    eoi_window = definition.end_of_induction_window_days * DAY
    skipped = ", ".join(f"'{v}'" for v in (SessionStatus.CANCELLED, SessionStatus.SCHEDULED))
    picks, joins = [], []
    windows = [
        (
            END_OF_INDUCTION,
            f"k.t >= c.induction_end AND k.t <= c.induction_end + {eoi_window}",
            "k.t, k.rid",
        )
    ]
    for week in definition.timepoint_weeks:
        target = f"(c.first_dose + {week * 7 * DAY})"
        windows.append(
            (f"w{week}", f"ABS(k.t - {target}) <= {half}", f"ABS(k.t - {target}), k.t, k.rid")
        )
    for key, where, order in windows:
        # Numbers from the definitions only; the instrument key is a parameter.
        picks.append(
            f"""p_{key} AS (
        SELECT course_id, total FROM (
            SELECT k.course_id, k.total,
                   ROW_NUMBER() OVER (PARTITION BY k.course_id ORDER BY {order}) AS rn
            FROM follow k JOIN based c ON c.course_id = k.course_id
            WHERE {where}
        ) ranked WHERE rn = 1
    )"""  # noqa: S608
        )
        joins.append(f"LEFT JOIN p_{key} ON p_{key}.course_id = c.course_id")
    keep = 100 - definition.response_fall_percent
    columns = []
    for key in definition.timepoint_keys:
        score = f"p_{key}.total"
        if key == END_OF_INDUCTION:
            due = (
                f"CASE WHEN c.induction_end IS NOT NULL THEN "
                f"(c.induction_end + {eoi_window} <= {t_now} OR {score} IS NOT NULL) "
                f"ELSE (c.phase = 'ended' OR c.next_course IS NOT NULL "
                f"OR c.last_dose + {definition.follow_up_overdue_days * DAY} <= {t_now}) END"
            )
        else:
            closes = int(key[1:]) * 7 * DAY + half
            due = f"(c.first_dose + {closes} <= {t_now} OR {score} IS NOT NULL)"
        remits = "1 = 0" if remission is None else f"{score} {remission.operator} {remission.value}"
        columns += [
            f"SUM(CASE WHEN {due} THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {score} IS NOT NULL THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN c.baseline > 0 AND {score} * 100 <= c.baseline * {keep} "
            "THEN 1 ELSE 0 END)",
            f"SUM(CASE WHEN {remits} THEN 1 ELSE 0 END)",
        ]
    sql = f"""
    WITH given AS (
        SELECT s.course_id, s.patient_id, {_epoch("s.dosing_started_at")} AS t,
               ROW_NUMBER() OVER (PARTITION BY s.course_id ORDER BY s.dosing_started_at) AS n
        FROM charting_treatmentsession s
        WHERE s.dosing_started_at IS NOT NULL AND s.status NOT IN ({skipped})
    ),
    firsts AS (SELECT course_id, patient_id, t FROM given WHERE n = 1),
    courses AS (
        SELECT f.course_id, f.patient_id, f.t AS first_dose, tc.phase,
               nxt.t AS next_course, last.t AS last_dose, ind.t AS induction_end
        FROM firsts f
        JOIN treatment_treatmentcourse tc ON tc.id = f.course_id
        LEFT JOIN (
            SELECT a.course_id, MIN(b.t) AS t FROM firsts a
            JOIN firsts b ON b.patient_id = a.patient_id AND b.t > a.t GROUP BY a.course_id
        ) nxt ON nxt.course_id = f.course_id
        LEFT JOIN (SELECT course_id, MAX(t) AS t FROM given GROUP BY course_id) last
            ON last.course_id = f.course_id
        LEFT JOIN given ind ON ind.course_id = f.course_id
            AND ind.n = CASE tc.protocol_id {induction} ELSE 0 END
    ),
    based AS (
        SELECT c.*, bl.total AS baseline FROM courses c JOIN (
            SELECT course_id, total FROM (
                SELECT c.course_id, r.total, ROW_NUMBER() OVER (
                    PARTITION BY c.course_id ORDER BY r.completed_at DESC, r.id DESC) AS rn
                FROM courses c JOIN measures_assessmentresponse r
                  ON r.patient_id = c.patient_id AND r.instrument_key = %(key)s
                 AND r.total IS NOT NULL
                WHERE {rt} >= c.first_dose - {definition.baseline_window_days * DAY}
                  AND {rt} <= c.first_dose
            ) ranked WHERE rn = 1
        ) bl ON bl.course_id = c.course_id
    ),
    follow AS (
        SELECT c.course_id, r.id AS rid, r.total, {rt} AS t
        FROM based c JOIN measures_assessmentresponse r
          ON r.patient_id = c.patient_id AND r.instrument_key = %(key)s AND r.total IS NOT NULL
        WHERE {rt} > c.first_dose
          AND {rt} <= {least}(c.first_dose + {definition.follow_up_max_days * DAY}, {t_now})
          AND (c.next_course IS NULL OR {rt} < c.next_course)
    ),
    {", ".join(picks)}
    SELECT {", ".join(columns)} FROM based c {" ".join(joins)}
    """  # noqa: S608 (numbers from the definitions and protocols only; the key is a parameter)
    with connection.cursor() as cursor:
        cursor.execute(sql, {"key": instrument_key})
        row = cursor.fetchone()
    values = [int(v or 0) for v in row]
    return {
        key: (values[4 * i], values[4 * i + 1], values[4 * i + 2], values[4 * i + 3])
        for i, key in enumerate(definition.timepoint_keys)
    }
