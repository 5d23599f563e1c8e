"""A provider's private calendar (ICS) feed: issuing its secret address, and the iCalendar
(RFC 5545) a calendar app fetches from it.

Only the SHA-256 digest of the token is stored, so a copy of the database does not give
anyone the feed. Events carry the visit type and the patient's initials only: a phone's
calendar is not a place for patient records; the description links to the appointment
page, which needs a login.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from icalendar import Calendar, Event

from ketaclinic.accounts.models import User
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record, audit_record_events
from ketaclinic.scheduling.calendar.selectors import shown_patient_ids
from ketaclinic.scheduling.models import Appointment, CalendarFeed

TOKEN_BYTES = 32


def feed_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def calendar_feed_issue(*, actor: User) -> str:
    """Create the actor's feed, or reset it (the old address stops working at once).
    Returns the new token, which is never stored and so can be shown only now."""
    if not actor.can("scheduling.calendar_feed"):
        raise PermissionDenied("Your role has no calendar feed.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        feed, created = CalendarFeed.objects.select_for_update().update_or_create(
            provider=actor,
            defaults={
                "token_digest": feed_token_digest(token),
                "created_at": timezone.now(),
                "last_used_at": None,
            },
        )
        audit_record(
            actor=actor,
            action=AuditAction.CREATE if created else AuditAction.UPDATE,
            object_type="calendar_feed",
            object_id=feed.pk,
            detail={"reset": not created},
        )
    return token


def calendar_feed_find(token: str) -> CalendarFeed | None:
    """The feed of a token, if it is current and its provider may still have one."""
    if not token or len(token) > 200:
        return None
    feed = (
        CalendarFeed.objects.select_related("provider")
        .filter(token_digest=feed_token_digest(token))
        .first()
    )
    if feed is None or not feed.provider.can("scheduling.calendar_feed"):
        return None
    return feed


def calendar_feed_fetched(*, feed: CalendarFeed, appointments: Sequence[Appointment]) -> None:
    """Note the fetch: when it was used, and an audit entry naming the patients it carried."""
    now = timezone.now()
    with transaction.atomic():
        CalendarFeed.objects.filter(pk=feed.pk).update(last_used_at=now)
        audit_record_events(
            actor=feed.provider,
            events=[
                AuditEvent(
                    action=AuditAction.VIEW,
                    object_type="calendar_feed",
                    object_id=feed.pk,
                    detail={"patient_ids": shown_patient_ids(appointments)},
                )
            ],
        )
    feed.last_used_at = now


def patient_initials(appointment: Appointment) -> str:
    patient = appointment.patient
    return "".join(
        f"{name.strip()[:1].upper()}."
        for name in (
            patient.legal_first_name,
            patient.legal_last_name,
        )
        if name.strip()
    )


def calendar_ics(
    provider: User,
    appointments: Sequence[Appointment],
    link: Callable[[Appointment], str],
    now: datetime | None = None,
) -> bytes:
    """The iCalendar of the provider's visits, times in UTC (calendar apps show them in
    the phone's own zone)."""
    stamp = (now or timezone.now()).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", "-//ketaclinic//calendar feed//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"ketaclinic: {provider.display_name}")
    for appointment in appointments:
        event = Event()
        event.add("uid", f"appointment-{appointment.pk}@ketaclinic")
        event.add("dtstamp", stamp)
        event.add("dtstart", appointment.starts_at.astimezone(UTC))
        event.add("dtend", appointment.ends_at.astimezone(UTC))
        event.add(
            "summary", f"{appointment.appointment_type.name} - {patient_initials(appointment)}"
        )
        location = appointment.location
        event.add(
            "location",
            "Video visit"
            if appointment.telehealth
            else f"{location.name}, {location.full_address}",
        )
        event.add("description", f"Open in ketaclinic (login needed): {link(appointment)}")
        calendar.add_component(event)
    return calendar.to_ical()
