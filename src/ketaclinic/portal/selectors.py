"""Reads for the patient portal: the patient's upcoming visits, their last treatment and one
of their own appointments. Each takes a fixed number of queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.http import Http404

from ketaclinic.accounts.models import User
from ketaclinic.charting.models import SessionStatus, TreatmentSession
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment, AppointmentStatus, ChangeRequest
from ketaclinic.scheduling.selectors import appointments_visible_to
from ketaclinic.scheduling.telehealth import video_link

UPCOMING_SHOWN = 5


def upcoming_appointments(user: User, now: datetime) -> list[dict[str, Any]]:
    """The patient's next booked visits (one still under way included, for its video link),
    each with its video link state and whether a change request is waiting."""
    waiting = ChangeRequest.objects.filter(appointment=OuterRef("pk"), handled_at__isnull=True)
    appointments = (
        appointments_visible_to(user)
        .filter(status=AppointmentStatus.BOOKED, ends_at__gt=now)
        .annotate(change_pending=Exists(waiting))
        .order_by("starts_at", "id")[:UPCOMING_SHOWN]
    )
    return [
        {"appointment": a, "video": video_link(a, now) if a.telehealth else None}
        for a in appointments
    ]


def last_treatment(patient: Patient) -> TreatmentSession | None:
    """The patient's most recent treatment that ended after a dose: discharged (note signed
    or not), or stopped early once dosing had started; the advice applies to both."""
    ended = [SessionStatus.DISCHARGED, SessionStatus.SIGNED, SessionStatus.STOPPED_EARLY]
    return (
        TreatmentSession.objects.filter(patient=patient, status__in=ended)
        .filter(Q(discharged_at__isnull=False) | Q(dosing_started_at__isnull=False))
        .select_related("location")
        .order_by(Coalesce("discharged_at", "dosing_started_at").desc(), "-id")
        .first()
    )


def own_appointment(user: User, appointment_id: int) -> Appointment:
    """The patient's own appointment; 404 for anyone else's, so ids reveal nothing."""
    appointment = appointments_visible_to(user).filter(pk=appointment_id).first()
    if appointment is None:
        raise Http404("No such appointment")
    return appointment
