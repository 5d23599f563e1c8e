"""What therapy shows on pages it does not own (docs/architecture.md, plug-in points): the
chart's Therapy tab, the therapist's home panel, the portal's next therapy visit, and the
audit log's names for therapy records. Psychotherapy notes are shown nowhere else."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

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
from ketaclinic.therapy.selectors import (
    open_integration_windows,
    portal_therapy,
    unsigned_notes,
    upcoming_therapy_visits,
)


def therapist_home(user: Any, location_id: int | None) -> PanelContent:
    """The therapist's day: upcoming therapy visits, unsigned notes, and dosing sessions
    whose integration window is open with nothing booked."""
    now = timezone.now()
    visits = upcoming_therapy_visits(user, now)
    drafts = unsigned_notes(user)
    windows = open_integration_windows(user, now)
    return PanelContent(
        {"visits": visits, "drafts": drafts, "windows": windows},
        {
            "patient_ids": {a.patient_id for a in visits}
            | {n.patient_id for n in drafts}
            | {w.session.patient_id for w in windows},
            "appointment_ids": {a.pk for a in visits},
            "therapy_note_ids": {n.pk for n in drafts},
        },
    )


def portal_panel(request: HttpRequest, *, patient: Any, **_: Any) -> PanelContent | None:
    """On the patient's portal home: their therapist and their next therapy visit (left
    out for a patient with no therapist and no therapy visit)."""
    therapy = portal_therapy(patient, timezone.now())
    if not therapy["team"] and therapy["next_visit"] is None:
        return None
    return PanelContent(
        therapy,
        {
            "care_team_assignment_ids": {a.pk for a in therapy["team"]},
            "therapy_appointment_ids": (
                {therapy["next_visit"].pk} if therapy["next_visit"] else set()
            ),
        },
    )


def register() -> None:
    """Called once from the app's ready()."""
    register_chart_tab(ChartTab("therapy", "Therapy", "therapy:tab", 45, "therapy.view_notes"))
    register_home_panel(
        HomePanel(
            "therapy_today",
            "therapy/_home_therapist.html",
            5,
            therapist_home,
            roles=frozenset({"therapist"}),
            capability="therapy.write_notes",
            wide=True,
        )
    )
    register_page_panel(
        PagePanel(
            "therapy",
            "portal_home",
            "therapy/_portal_panel.html",
            15,
            portal_panel,
            capability="patient.view_own_record",
        )
    )
    register_audit_labels(
        {
            "therapy_note": "Therapy note",
            "therapy_note_addendum": "Therapy note addendum",
            "psychotherapy_note": "Psychotherapy note",
            "therapy_settings": "Therapy settings",
        }
    )
