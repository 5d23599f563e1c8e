"""What the audit log shows on the home pages of those who see every location."""

from __future__ import annotations

from typing import Any

from ketaclinic.audit.selectors import recent_audit_entries
from ketaclinic.plugins import HomePanel, PanelContent, register_audit_labels, register_home_panel


def recent_entries(user: Any, location_id: int | None) -> PanelContent | None:
    if not user.sees_all_locations:
        return None
    return PanelContent({"recent_audit": list(recent_audit_entries(limit=10))})


def register() -> None:
    register_home_panel(
        HomePanel(
            "recent_audit",
            "audit/_home_recent.html",
            90,
            recent_entries,
            roles=frozenset({"medical_director", "admin"}),
            wide=True,
        )
    )
    register_audit_labels({"home": "Home page", "demo": "Demo clinic"})
