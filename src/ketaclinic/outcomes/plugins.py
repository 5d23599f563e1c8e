"""What outcomes shows on pages it does not own: the Outcomes tab of the patient chart
(baseline, best, latest, change, status and relapse flags per course), and its audit
labels."""

from __future__ import annotations

from ketaclinic.plugins import ChartTab, register_audit_labels, register_chart_tab


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
