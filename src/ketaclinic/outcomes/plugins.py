"""What outcomes shows on pages it does not own: the Outcomes tab of the patient chart
(baseline, best, latest, change, status and relapse flags per course), its audit labels,
and its warm-up: a server worker computes every course's outcomes as it starts, so the
first view of the outcomes page reuses them (selectors.outcomes_warm)."""

from __future__ import annotations

from ketaclinic.outcomes.selectors import outcomes_warm
from ketaclinic.plugins import (
    ChartTab,
    register_audit_labels,
    register_chart_tab,
    register_warm_up,
)


def register() -> None:
    register_chart_tab(
        ChartTab("outcomes", "Outcomes", "outcomes:patient", 45, capability="measures.view_scores")
    )
    register_audit_labels(
        {
            "outcomes_cohort": "Outcomes of a cohort",
            "outcomes_export": "Outcomes export",
            "outcome_definition": "Outcome definitions",
            "measurement_gaps": "Measurement gaps",
        }
    )
    register_warm_up("outcomes", outcomes_warm)
