"""What billing shows on pages it does not own (docs/architecture.md, plug-in points): the
chart's Billing tab, the portal home's "Costs and payments" section, the coordinator's
overdue instalments on the home page, and the audit log's names for billing records."""

from __future__ import annotations

from typing import Any

from ketaclinic.billing import selectors
from ketaclinic.plugins import (
    ChartTab,
    HomePanel,
    PagePanel,
    PanelContent,
    register_audit_labels,
    register_chart_tab,
    register_home_panel,
    register_page_panel,
)


def portal_section(request: Any, *, patient: Any) -> PanelContent | None:
    """Estimates waiting for the patient, their balance and overdue instalments; nothing
    when they have neither an estimate nor an account."""
    waiting = selectors.open_estimates_for_portal(patient)
    account = selectors.account_of(patient)
    if not waiting and account is None:
        return None
    totals = selectors.account_totals(account)
    plan = selectors.accepted_plan(patient, totals["balance"]) if account else None
    return PanelContent(
        context={
            "waiting": waiting,
            "has_account": account is not None,
            "balance": totals["balance"],
            "overdue": len(plan["overdue"]) if plan else 0,
        },
        shown={"estimate_ids": {e.pk for e in waiting}},
    )


def overdue_panel(user: Any, location_id: int | None) -> PanelContent | None:
    rows = selectors.overdue_instalments(user, location_id=location_id)
    return PanelContent(
        {"overdue": len(rows)}, shown={"patient_ids": {row["patient"].pk for row in rows}}
    )


def register() -> None:
    """Called once from the app's ready()."""
    register_chart_tab(ChartTab("billing", "Billing", "billing:tab", 80, "billing.view"))
    register_page_panel(
        PagePanel(
            "billing",
            "portal_home",
            "billing/_portal_panel.html",
            30,
            portal_section,
            capability="patient.view_own_record",
        )
    )
    register_home_panel(
        HomePanel(
            "billing_overdue",
            "billing/_home_overdue.html",
            40,
            overdue_panel,
            roles=frozenset({"coordinator"}),
            capability="billing.view",
        )
    )
    register_audit_labels(
        {
            "fee_schedule": "Fee schedule",
            "fee_schedule_entry": "Fee",
            "estimate": "Estimate",
            "account_entry": "Account entry",
            "overdue_instalments": "Overdue instalments",
        }
    )
