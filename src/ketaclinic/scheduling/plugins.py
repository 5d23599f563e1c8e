"""What scheduling shows on pages it does not own: the coordinator's requests waiting."""

from __future__ import annotations

from typing import Any

from ketaclinic.plugins import HomePanel, PanelContent, register_audit_labels, register_home_panel
from ketaclinic.scheduling.requests.selectors import open_request_count


def requests_waiting(user: Any, location_id: int | None) -> PanelContent:
    return PanelContent({"open_requests": open_request_count(user, location_id=location_id)})


def register() -> None:
    register_home_panel(
        HomePanel(
            "appointment_requests",
            "scheduling/_home_requests.html",
            4,
            requests_waiting,
            roles=frozenset({"coordinator"}),
            capability="scheduling.requests",
            wide=True,
        )
    )
    register_audit_labels(
        {
            "appointment": "Appointment",
            "appointment_request": "Appointment request",
            "appointment_request_list": "Appointment requests",
            "appointment_reminder": "Appointment reminder",
            "change_request": "Change request",
            "change_requests": "Change requests",
            "calendar": "Calendar",
            "calendar_feed": "Calendar feed",
            "contact_attempt": "Contact attempt",
        }
    )
