"""What the patients app shows on pages it does not own: its chart tabs and home panels."""

from __future__ import annotations

from typing import Any

from django.db.models import Count

from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import patients_visible_to
from ketaclinic.plugins import (
    ChartTab,
    HomePanel,
    PanelContent,
    register_audit_labels,
    register_chart_tab,
    register_home_panel,
)

CLINIC_STAFF = frozenset({"coordinator", "nurse", "prescriber", "medical_director"})
ALL_LOCATIONS = frozenset({"medical_director", "admin"})


def recent_patients(user: Any, location_id: int | None) -> PanelContent:
    patients = patients_visible_to(user)
    if location_id is not None:
        patients = patients.filter(primary_location_id=location_id)
    recent = list(patients.select_related("primary_location").order_by("-created_at", "-id")[:8])
    return PanelContent({"recent_patients": recent}, {"patient_ids": {p.pk for p in recent}})


def locations_with_counts(user: Any, location_id: int | None) -> PanelContent | None:
    if not user.sees_all_locations:
        return None
    # Count on the patient table's location index, then attach to the locations.
    counts = dict(
        Patient.objects.values_list("primary_location_id").annotate(n=Count("id")).order_by()
    )
    locations = list(Location.objects.order_by("name"))
    for location in locations:
        location.patient_count = counts.get(location.pk, 0)
    return PanelContent({"locations": locations})


def find_patient(user: Any, location_id: int | None) -> PanelContent:
    return PanelContent({})


def register() -> None:
    for tab in (
        ChartTab("overview", "Overview", "patients:chart", 0),
        ChartTab("history", "History & medications", "patients:history", 10),
        ChartTab("measurements", "Height & weight", "patients:measurements", 90),
        ChartTab("access", "Access history", "patients:access", 100, "audit.view_access_history"),
    ):
        register_chart_tab(tab)
    register_home_panel(
        HomePanel(
            "find_patient",
            "patients/_home_find.html",
            5,
            find_patient,
            roles=frozenset({"coordinator"}),
            wide=True,
        )
    )
    register_home_panel(
        HomePanel(
            "locations",
            "patients/_home_locations.html",
            60,
            locations_with_counts,
            roles=ALL_LOCATIONS,
            wide=True,
        )
    )
    register_home_panel(
        HomePanel(
            "recent_patients",
            "patients/_home_recent.html",
            80,
            recent_patients,
            roles=CLINIC_STAFF,
        )
    )
    register_audit_labels(
        {
            "patient": "Patient",
            "patient_list": "Patient list",
            "diagnosis": "Diagnosis",
            "medication": "Medication",
            "allergy": "Allergy",
            "body_measurement": "Height and weight",
            "substance_use": "Substance use",
        }
    )
