from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Max, Q

from ketaclinic.treatment.models import ProtocolVersion, TreatmentCourse

if TYPE_CHECKING:
    from ketaclinic.patients.models import Patient


def current_protocols() -> list[ProtocolVersion]:
    """The newest version of each protocol in the clinic's copy."""
    latest = ProtocolVersion.objects.values("key").annotate(v=Max("version"))
    condition = Q(pk__in=[])
    for row in latest:
        condition |= Q(key=row["key"], version=row["v"])
    return list(ProtocolVersion.objects.filter(condition).order_by("key"))


def protocol_versions(key: str) -> list[ProtocolVersion]:
    return list(
        ProtocolVersion.objects.filter(key=key).select_related("created_by").order_by("-version")
    )


def patient_courses(patient: Patient) -> list[TreatmentCourse]:
    return list(
        TreatmentCourse.objects.filter(patient=patient)
        .select_related("protocol", "prescriber")
        .order_by("-created_at")
    )
