"""What the FHIR app shows on pages it does not own: its audit labels."""

from __future__ import annotations

from ketaclinic.fhir.types import TYPES
from ketaclinic.plugins import register_audit_labels


def register() -> None:
    labels = {f"fhir:{name}": f"FHIR {name}" for name in TYPES}
    labels |= {
        "fhir:$everything": "FHIR Patient $everything",
        "fhir_export": "FHIR bulk export",
        "fhir_export_file": "FHIR bulk export file",
        "fhir_client": "FHIR system client",
        "fhir_import": "FHIR Bundle import",
    }
    register_audit_labels(labels)
