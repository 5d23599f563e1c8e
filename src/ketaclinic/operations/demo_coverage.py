"""The demo's payers and prior authorizations: an esketamine course approved until a
day that leaves its last planned sessions uncovered, and an IV request still with the
payer, dated relative to `now`."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.coverage.services import payer_create, prior_auth_draft, prior_auth_move
from ketaclinic.treatment.models import TreatmentCourse

PAYERS = (
    ("Bonneville Health Plan", "esketamine-trd", "(801) 555-0111"),
    ("Cascade Mutual", "iv-ketamine", "(503) 555-0112"),
)


def seed_coverage(*, now: datetime) -> None:
    director = User.objects.filter(username="director").first()
    coordinator = User.objects.filter(username="coordinator").first()
    if director is None or coordinator is None:
        return
    payers = {
        key: payer_create(actor=director, name=name, checklist_key=key, phone=phone)
        for name, key, phone in PAYERS
    }
    courses = list(
        TreatmentCourse.objects.filter(location__short_name="SLC")
        .exclude(phase="ended")
        .select_related("patient__primary_location", "protocol", "location")
        .order_by("pk")
    )
    esketamine = next((c for c in courses if c.protocol.route == "esketamine"), None)
    iv = next((c for c in courses if c.protocol.route != "esketamine"), None)
    if esketamine is not None:
        request = prior_auth_draft(
            actor=coordinator,
            patient=esketamine.patient,
            payer=payers["esketamine-trd"],
            member_id="BHP-204881",
            course=esketamine,
        )
        prior_auth_move(actor=coordinator, prior_auth=request, status="sent")
        # Approved for three more weeks: the course's later sessions fall after it.
        today = timezone.localdate(now, timezone=esketamine.location.tz)
        prior_auth_move(
            actor=coordinator,
            prior_auth=request,
            status="approved",
            approved_until=today + timedelta(days=21),
            approved_sessions=8,
            payer_reference="PA-553120",
        )
    if iv is not None:
        request = prior_auth_draft(
            actor=coordinator,
            patient=iv.patient,
            payer=payers["iv-ketamine"],
            member_id="CM-7730012",
            course=iv,
        )
        prior_auth_move(actor=coordinator, prior_auth=request, status="sent")
