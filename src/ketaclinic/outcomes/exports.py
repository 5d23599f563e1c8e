"""Exports of the outcomes report: the summary as CSV and as a one-page PDF (fpdf2), and a
de-identified patient-level CSV. Small cells are suppressed in all of them.

Suppression (de-identified reporting practice, e.g. the CMS cell-size policy): no count
from 1 to 10 is shown, nor anything it could be worked out from by subtraction. So a row
(a timepoint, a benchmark comparison, the cohort's course counts) is shown whole or not at
all: only when each of its counts, denominators and their differences (due - assessed,
n - count, courses - without baseline) is 0 or at least 11; otherwise every count, rate
and interval of the row reads "<11". In the patient-level file, rows keep no names, record
numbers or dates (days are counted from the course's first dose), ages are in bands, and
the describing columns (location, route, protocol, age band, sex) are generalised step by
step until every combination is held by at least 11 courses: first age band and sex are
blanked to "suppressed" in the combinations held by fewer, then location, then protocol,
then route. A cohort of fewer than 11 courses exports no rows.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
from collections import Counter
from typing import Any

from django.conf import settings
from django.utils import timezone
from fpdf import FPDF
from fpdf.fonts import FontFace

from ketaclinic.charting.rems_pdf import latin1_safe
from ketaclinic.clinical.body import age_in_years
from ketaclinic.clinical.outcomes import (
    BenchmarkComparison,
    CohortSummary,
    Proportion,
    SurvivalEstimate,
    TimepointSummary,
)
from ketaclinic.outcomes.selectors import OutcomesReport, age_band

SMALL_CELL = 11
SUPPRESSED = "<11"


def is_safe(*counts: int) -> bool:
    """Every count is 0 or at least SMALL_CELL."""
    return all(c == 0 or c >= SMALL_CELL for c in counts)


def proportions_safe(*proportions: Proportion | None) -> bool:
    return all(p is None or is_safe(p.count, p.n, p.n - p.count) for p in proportions)


def timepoint_safe(point: TimepointSummary) -> bool:
    """The whole row can be shown: no count in it can be worked out from the others."""
    return is_safe(point.due, point.assessed, point.missing) and proportions_safe(
        point.response_itt,
        point.response_completers,
        point.remission_itt,
        point.remission_completers,
    )


def comparison_safe(c: BenchmarkComparison) -> bool:
    return is_safe(c.due, c.assessed, c.due - c.assessed) and proportions_safe(
        c.response, c.remission
    )


def cohort_counts_safe(s: CohortSummary) -> bool:
    return is_safe(
        s.courses,
        s.without_baseline,
        s.without_follow_up,
        s.courses - s.without_baseline,
        s.courses - s.without_follow_up,
    )


def proportion_cells(p: Proportion, *, shown: bool = True) -> list[str]:
    """count, n, rate %, CI low %, CI high % (or the suppression mark when the proportion,
    or the row it stands in, is not safe to show)."""
    if not shown or not proportions_safe(p):
        return [SUPPRESSED] * 5
    if not p.n:
        return ["0", "0", "", "", ""]
    low, high = p.interval
    return [str(p.count), str(p.n), f"{p.rate * 100:.1f}", f"{low * 100:.1f}", f"{high * 100:.1f}"]


def _median_cells(values: tuple[float, float, float] | None, *, shown: bool) -> list[str]:
    if values is None or not shown:
        return ["", "", ""] if values is None else [SUPPRESSED] * 3
    return [f"{v:.1f}" for v in values]


def _survival_text(curve: SurvivalEstimate | None) -> str:
    if curve is None or not is_safe(curve.n, curve.events, curve.n - curve.events):
        return "suppressed (fewer than 11)" if curve is not None else "no responders"
    if curve.median is None:
        return f"median not reached ({curve.events} events in {curve.n})"
    high = f"{curve.median_ci[1]:.0f}" if curve.median_ci[1] is not None else "not reached"
    return (
        f"median {curve.median:.0f} days (95% CI {curve.median_ci[0]:.0f}-{high}; "
        f"{curve.events} events in {curve.n})"
    )


def definition_lines(report: OutcomesReport) -> list[str]:
    """The definitions the report used, named as on the page."""
    d = report.in_use.definition
    remission = report.remission.text if report.remission else "none"
    return [
        report.in_use.label,
        f"Instrument: {report.instrument.title}; remission {remission} "
        f"({report.remission.source if report.remission else 'no cut-off'})",
        f"Baseline: last score within {d.baseline_window_days} days before the first dose; "
        f"response: a fall of at least {d.response_fall_percent:g}%",
        f"End of induction: first score within {d.end_of_induction_window_days} days of the "
        f"last induction session; weeks {', '.join(map(str, d.timepoint_weeks))} within "
        f"{d.timepoint_window_days} days",
        f"Relapse: {d.relapse_consecutive_measures} consecutive scores above the response "
        "threshold" + (", or a new course" if d.relapse_on_rescue_course else ""),
    ]


SUMMARY_HEADER = [
    "timepoint",
    "due",
    "assessed",
    "missing",
    "response_itt_count",
    "response_itt_n",
    "response_itt_percent",
    "response_itt_ci_low",
    "response_itt_ci_high",
    "response_completers_count",
    "response_completers_n",
    "response_completers_percent",
    "response_completers_ci_low",
    "response_completers_ci_high",
    "remission_itt_count",
    "remission_itt_n",
    "remission_itt_percent",
    "remission_itt_ci_low",
    "remission_itt_ci_high",
    "remission_completers_count",
    "remission_completers_n",
    "remission_completers_percent",
    "remission_completers_ci_low",
    "remission_completers_ci_high",
    "median_change_percent",
    "change_percent_q1",
    "change_percent_q3",
]


def summary_rows(report: OutcomesReport) -> list[list[str]]:
    rows = []
    for point in report.summary.timepoints:
        shown = timepoint_safe(point)
        counts = (
            [str(point.due), str(point.assessed), str(point.missing)] if shown else [SUPPRESSED] * 3
        )
        rows.append(
            [
                point.label,
                *counts,
                *proportion_cells(point.response_itt, shown=shown),
                *proportion_cells(point.response_completers, shown=shown),
                *proportion_cells(point.remission_itt, shown=shown),
                *proportion_cells(point.remission_completers, shown=shown),
                *_median_cells(point.change_percent, shown=shown),
            ]
        )
    return rows


def summary_csv(report: OutcomesReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    s = report.summary
    for line in definition_lines(report):
        writer.writerow(["# " + line])
    writer.writerow([f"# {_cohort_counts_text(s)}; cells from 1 to 10 suppressed"])
    writer.writerow(SUMMARY_HEADER)
    writer.writerows(summary_rows(report))
    writer.writerow([])
    writer.writerow(["durability", _survival_text(s.durability)])
    writer.writerow(["time_to_first_response", _survival_text(s.time_to_response)])
    writer.writerow([])
    writer.writerow(
        [
            "benchmark",
            "verified",
            "window",
            "study_response_percent",
            "study_remission_percent",
            "clinic_due",
            "clinic_assessed",
            "clinic_response_count",
            "clinic_response_n",
            "clinic_response_percent",
            "clinic_response_ci_low",
            "clinic_response_ci_high",
            "clinic_remission_count",
            "clinic_remission_n",
            "clinic_remission_percent",
            "clinic_remission_ci_low",
            "clinic_remission_ci_high",
        ]
    )
    for c in report.comparisons:
        b = c.benchmark
        shown = comparison_safe(c)
        writer.writerow(
            [
                b.short_name,
                b.verified,
                b.window_label,
                "" if b.response_percent is None else f"{b.response_percent:g}",
                "" if b.remission_percent is None else f"{b.remission_percent:g}",
                str(c.due) if shown else SUPPRESSED,
                str(c.assessed) if shown else SUPPRESSED,
                *(proportion_cells(c.response, shown=shown) if c.response else [""] * 5),
                *(proportion_cells(c.remission, shown=shown) if c.remission else [""] * 5),
            ]
        )
    return out.getvalue()


def _cohort_counts_text(s: CohortSummary) -> str:
    if not cohort_counts_safe(s):
        return "Courses <11; without baseline <11; without follow-up <11"
    return (
        f"Courses {s.courses}; without baseline {s.without_baseline}; "
        f"without follow-up {s.without_follow_up}"
    )


def research_id(kind: str, pk: int) -> str:
    """A stable pseudonym: HMAC-SHA256 of the id under the installation's secret key, so
    the file cannot be linked back without it."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{kind}:{pk}".encode(), hashlib.sha256)
    return digest.hexdigest()[:12]


def patients_csv(report: OutcomesReport, locations: dict[int, str]) -> str:
    """One row per course, de-identified (see the module docstring)."""
    out = io.StringIO()
    writer = csv.writer(out)
    keys = report.in_use.definition.timepoint_keys
    writer.writerow(
        [
            "course",
            "patient",
            "location",
            "route",
            "protocol",
            "age_band",
            "sex",
            "instrument",
            "baseline",
            "baseline_day",
            *(f"{k}_{what}" for k in keys for what in ("score", "day", "response", "remission")),
            "first_response_day",
            "relapse",
            "relapse_by",
            "durability_days",
        ]
    )
    rows: list[list[Any]] = []
    cohort = report.cohort
    by_course = {row.course_id: row for row in cohort.rows}
    for outcome in report.outcomes:
        row = by_course[outcome.course_id]
        protocol = cohort.protocols[row.protocol_id]
        first = outcome.first_dose
        day_first = timezone.localdate(first)
        band = age_band(age_in_years(date_of_birth=row.date_of_birth, on=day_first))

        def day(moment: Any, first: Any = first) -> str:
            return f"{(moment - first).total_seconds() / 86400:.1f}"

        cells: list[Any] = [
            research_id("course", row.course_id),
            research_id("patient", row.patient_id),
            locations.get(row.location_id, ""),
            protocol.route,
            f"{protocol.key} v{protocol.version}",
            band,
            row.sex,
            report.instrument.key,
            outcome.baseline.total if outcome.baseline else "",
            day(outcome.baseline.at) if outcome.baseline else "",
        ]
        for key in keys:
            result = outcome.timepoints[key]
            if result.score is None:
                cells += ["", "", "", ""] if not result.due else ["missing", "", "", ""]
            else:
                cells += [
                    result.score.total,
                    day(result.score.at),
                    int(result.is_response),
                    int(result.is_remission),
                ]
        cells += [
            ""
            if outcome.days_to_first_response is None
            else f"{outcome.days_to_first_response:.1f}",
            int(outcome.relapse_at is not None) if outcome.first_response else "",
            outcome.relapse_by,
            "" if outcome.durability_days is None else f"{outcome.durability_days:.1f}",
        ]
        rows.append(cells)
    if not is_safe(len(rows)) or not rows:
        writer.writerow(["suppressed: fewer than 11 courses in this cohort"])
        return out.getvalue()
    _generalise(rows)
    writer.writerows(rows)
    return out.getvalue()


# The patient-level file's describing columns (location, route, protocol, age band, sex),
# and the order they are blanked in until every combination is held by 11 courses or more.
DESCRIBING_COLUMNS = (2, 3, 4, 5, 6)
GENERALISING_STEPS = ((5, 6), (2,), (4,), (3,))


def _generalise(rows: list[list[Any]]) -> None:
    for blanked in GENERALISING_STEPS:
        groups = Counter(tuple(r[i] for i in DESCRIBING_COLUMNS) for r in rows)
        small = [r for r in rows if groups[tuple(r[i] for i in DESCRIBING_COLUMNS)] < SMALL_CELL]
        if not small:
            return
        for r in small:
            for i in blanked:
                r[i] = "suppressed"


def _percent(p: Proportion, *, shown: bool = True) -> str:
    cells = proportion_cells(p, shown=shown)
    if cells[0] == SUPPRESSED:
        return SUPPRESSED
    if not p.n:
        return "-"
    return f"{cells[2]}% ({cells[3]}-{cells[4]}) {p.count}/{p.n}"


def summary_pdf(report: OutcomesReport, *, cohort_text: str, generated_by: str) -> bytes:
    """The summary on one printable A4 page (core Helvetica; latin1_safe text)."""
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(12, 10, 12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 7, latin1_safe("Treatment outcomes report"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    for line in [cohort_text, *definition_lines(report)]:
        pdf.multi_cell(0, 3.8, latin1_safe(line), new_x="LMARGIN", new_y="NEXT")
    s = report.summary
    pdf.ln(1)
    pdf.set_font("Helvetica", "B", 8)
    pdf.multi_cell(
        0,
        4,
        latin1_safe(
            f"{_cohort_counts_text(s)}. ITT counts missing scores as non-response. Counts "
            "from 1 to 10, and counts they could be worked out from, are shown as <11."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 7.5)
    heading = FontFace(emphasis="BOLD", fill_color=(230, 236, 240))
    with pdf.table(
        col_widths=(26, 14, 16, 14, 40, 40, 40, 40, 30),
        headings_style=heading,
        line_height=4.2,
        text_align="LEFT",
    ) as table:
        table.row(
            [
                "Timepoint",
                "Due",
                "Assessed",
                "Missing",
                "Response ITT % (95% CI)",
                "Response completers",
                "Remission ITT",
                "Remission completers",
                "Median change % (IQR)",
            ]
        )
        for point, cells in zip(s.timepoints, summary_rows(report), strict=True):
            change = cells[-3:]
            shown = timepoint_safe(point)
            table.row(
                [
                    point.label,
                    *cells[1:4],
                    _percent(point.response_itt, shown=shown),
                    _percent(point.response_completers, shown=shown),
                    _percent(point.remission_itt, shown=shown),
                    _percent(point.remission_completers, shown=shown),
                    f"{change[0]} ({change[1]} to {change[2]})" if change[0] else "-",
                ]
            )
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(
        0,
        4,
        latin1_safe(
            f"Durability from the first response (Kaplan-Meier): {_survival_text(s.durability)}. "
            f"Time to first response: {_survival_text(s.time_to_response)}."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(1)
    pdf.set_font("Helvetica", "B", 8)
    pdf.cell(0, 4, "Benchmarks, recomputed like for like", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 7)
    with pdf.table(
        col_widths=(50, 56, 40, 48, 48, 28),
        headings_style=heading,
        line_height=3.8,
        text_align="LEFT",
    ) as table:
        table.row(
            ["Study", "Window", "Study figures", "Clinic response", "Clinic remission", "Checked"]
        )
        for c in report.comparisons:
            b = c.benchmark
            shown = comparison_safe(c)
            figures = ", ".join(
                f"{what} {value:g}%"
                for what, value in (
                    ("response", b.response_percent),
                    ("remission", b.remission_percent),
                )
                if value is not None
            )
            table.row(
                [
                    latin1_safe(b.short_name),
                    latin1_safe(b.window_label),
                    figures or "none given",
                    _percent(c.response, shown=shown) if c.response else "-",
                    _percent(c.remission, shown=shown) if c.remission else "-",
                    "abstract" if b.verified == "abstract" else "reference only",
                ]
            )
    pdf.set_y(-12)
    pdf.set_font("Helvetica", "I", 7)
    pdf.cell(
        0,
        4,
        latin1_safe(
            f"Generated {timezone.localtime(report.now):%Y-%m-%d %H:%M} by {generated_by}. "
            "Statistics: statsmodels (Wilson intervals, Kaplan-Meier). See docs/outcomes.md."
        ),
    )
    return bytes(pdf.output())


def export_filename(kind: str, report: OutcomesReport, extension: str) -> str:
    return f"outcomes-{kind}-{timezone.localdate(report.now):%Y%m%d}.{extension}"
