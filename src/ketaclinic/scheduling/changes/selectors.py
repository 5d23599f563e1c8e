"""Reads of patients' change requests (from the portal): the team's open list, one request,
and an appointment's request still waiting. Each takes a fixed number of queries."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from ketaclinic.accounts.models import User
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.scheduling.models import Appointment, ChangeRequest


def open_change_request_of(appointment: Appointment) -> ChangeRequest | None:
    """The appointment's change request still waiting for the team, if any."""
    return appointment.change_requests.filter(handled_at__isnull=True).first()


def open_change_requests_for(
    user: User, *, location_id: int | None = None
) -> QuerySet[ChangeRequest]:
    """Open change requests of the patients `user` may see, oldest first (a constant number
    of queries per page). `location_id`: only that location's patients."""
    requests = ChangeRequest.objects.filter(
        patient_scope(user, via="appointment__patient"), handled_at__isnull=True
    ).select_related(
        "appointment__patient",
        "appointment__location",
        "appointment__appointment_type",
        "appointment__provider",
    )
    if location_id is not None:
        requests = requests.filter(appointment__patient__primary_location_id=location_id)
    return requests.order_by("submitted_at", "id")


def change_request_get_for_user(user: User, change_id: int) -> ChangeRequest:
    """One change request of a patient `user` may see (open or handled), else 404."""
    change = (
        ChangeRequest.objects.filter(patient_scope(user, via="appointment__patient"), pk=change_id)
        .select_related("appointment__patient", "appointment__location")
        .first()
    )
    if change is None:
        raise Http404("No such change request")
    return change
