"""What charting shows on pages it does not own: the chart's Sessions tab."""

from ketaclinic.plugins import ChartTab, register_audit_labels, register_chart_tab


def register() -> None:
    register_chart_tab(ChartTab("sessions", "Sessions", "charting:tab", 30, "sessions.view"))
    register_audit_labels(
        {
            "treatment_session": "Treatment session",
            "vital_sign": "Vital signs",
            "session_score": "Sedation or dissociation score",
            "session_note": "Session note",
            "session_alert": "Session alert",
            "rems_form": "REMS monitoring form",
        }
    )
