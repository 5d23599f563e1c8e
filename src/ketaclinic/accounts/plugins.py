"""What accounts shows on the administrator's home page: staff accounts and lockouts."""

from __future__ import annotations

from typing import Any

from ketaclinic.accounts.selectors import locked_out_attempts, staff_users
from ketaclinic.plugins import HomePanel, PanelContent, register_audit_labels, register_home_panel


def staff_accounts(user: Any, location_id: int | None) -> PanelContent:
    return PanelContent({"staff_count": staff_users().count()})


def locked_accounts(user: Any, location_id: int | None) -> PanelContent:
    return PanelContent({"locked_out": list(locked_out_attempts()[:10])})


def register() -> None:
    for key, order, template, content in (
        ("staff_accounts", 2, "accounts/_home_staff.html", staff_accounts),
        ("locked_accounts", 3, "accounts/_home_locked.html", locked_accounts),
    ):
        register_home_panel(
            HomePanel(key, template, order, content, capability="accounts.manage_lockouts")
        )
    register_audit_labels({"user": "Staff account"})
