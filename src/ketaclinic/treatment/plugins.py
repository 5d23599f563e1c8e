"""What treatment shows on pages it does not own: the chart's Treatment tab."""

from ketaclinic.plugins import ChartTab, register_audit_labels, register_chart_tab


def register() -> None:
    register_chart_tab(ChartTab("treatment", "Treatment", "treatment:tab", 20))
    register_audit_labels(
        {"treatment_course": "Treatment course", "protocol_version": "Protocol version"}
    )
