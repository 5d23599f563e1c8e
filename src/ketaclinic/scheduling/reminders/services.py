"""Appointment reminders by email and text message (`ketaclinic reminders send`, run by cron).

Safe to run twice, also at the same moment: each (appointment, channel) reminder is claimed
by inserting its ReminderDelivery row, whose unique constraint lets only one run have it.
The message is sent after the claim is committed, then the row is marked sent or failed. A
failed reminder is claimed again by a conditional UPDATE (status and attempt count
unchanged since it was read), so two runs cannot both retry it; after
KETACLINIC_REMINDER_MAX_ATTEMPTS attempts it is left alone.

A reminder whose process died between claim and send (a server killed mid-run) would stay
"sending" for ever: after KETACLINIC_REMINDER_STUCK_MINUTES it is marked failed, by a
conditional UPDATE that only one run can make, and retried like any failed reminder. It may
then reach the patient twice, which is better than never (docs/reminders.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone

from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.measures.selectors import open_self_reports
from ketaclinic.organization.selectors import crisis_line
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    ReminderChannel,
    ReminderDelivery,
)
from ketaclinic.scheduling.reminders.sms import BaseSmsBackend, SmsMessage, get_sms_backend

ERROR_CHARS = 300  # ReminderDelivery.error
STUCK_ERROR = "The run sending it stopped before it finished (killed or restarted); sending again."


@dataclass
class ReminderRun:
    """What one run did. `skipped`: due reminders it left alone because another run is
    sending them (or won the claim) or because they failed the maximum number of times."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0
    recovered: int = 0  # left "sending" by a run that died, and tried again by this one

    @property
    def summary(self) -> str:
        text = f"Reminders: {self.sent} sent, {self.failed} failed, {self.skipped} skipped"
        if self.recovered:
            text += f", {self.recovered} recovered from a run that stopped"
        return text + "."


@dataclass(frozen=True)
class PendingReminder:
    """A reminder this run may send: never tried (`delivery` None) or failed and retryable."""

    appointment: Appointment
    channel: str
    delivery: ReminderDelivery | None

    def describe(self) -> str:
        """One line for `reminders send --dry-run` (no patient name: cron mails its output)."""
        appointment = self.appointment
        attempt = f" (attempt {self.delivery.attempts + 1})" if self.delivery else ""
        return (
            f"appointment {appointment.pk} at {appointment.location.short_name}, "
            f"{local_when(appointment)}: {ReminderChannel(self.channel).label.lower()}{attempt}"
        )


def local_when(appointment: Appointment) -> str:
    """The visit's start in its location's time zone, e.g. 'Tuesday, March 3 at 10:00 AM MST'."""
    local = timezone.localtime(appointment.starts_at, appointment.location.tz)
    return f"{dateformat.format(local, 'l, F j')} at {dateformat.format(local, 'g:i A T')}"


def _due_appointments(now: datetime) -> QuerySet[Appointment]:
    """Booked visits starting after `now` and within their type's reminder_hours_before."""
    hours = set(AppointmentType.objects.values_list("reminder_hours_before", flat=True))
    window = Q(pk__in=[])
    for h in hours:
        window |= Q(
            appointment_type__reminder_hours_before=h, starts_at__lte=now + timedelta(hours=h)
        )
    return (
        Appointment.objects.filter(window, status=AppointmentStatus.BOOKED, starts_at__gt=now)
        .select_related("appointment_type", "location", "patient")
        .prefetch_related("reminders")
        .order_by("starts_at", "id")
    )


def _channels(appointment: Appointment) -> list[str]:
    """Email when the patient has an address; a text when they have a phone number."""
    patient = appointment.patient
    return [
        channel
        for channel, address in (
            (ReminderChannel.EMAIL, patient.email),
            (ReminderChannel.SMS, patient.phone),
        )
        if address
    ]


def _sort_due(now: datetime, stuck: set[int] | None = None) -> tuple[list[PendingReminder], int]:
    """The reminders to try now, and how many due ones are someone else's or given up.
    `stuck`: deliveries to count as failed (a dry run does not write the recovery)."""
    max_attempts = settings.KETACLINIC_REMINDER_MAX_ATTEMPTS
    pending: list[PendingReminder] = []
    left_alone = 0
    for appointment in _due_appointments(now):
        tried = {delivery.channel: delivery for delivery in appointment.reminders.all()}
        for channel in _channels(appointment):
            delivery = tried.get(channel)
            failed = delivery is not None and (
                delivery.status == ReminderDelivery.Status.FAILED or delivery.pk in (stuck or ())
            )
            if delivery is None or (failed and delivery.attempts < max_attempts):
                pending.append(PendingReminder(appointment, channel, delivery))
            elif delivery.status != ReminderDelivery.Status.SENT:
                left_alone += 1
    return pending, left_alone


def _stuck() -> QuerySet[ReminderDelivery]:
    """Reminders claimed so long ago that the run which claimed them must have died. By the
    clock the claims were made with, not the `now` a run is asked about."""
    since = timezone.now() - timedelta(minutes=settings.KETACLINIC_REMINDER_STUCK_MINUTES)
    return ReminderDelivery.objects.filter(
        status=ReminderDelivery.Status.SENDING, claimed_at__lt=since
    )


def reminders_recover_stuck() -> int:
    """Mark failed the reminders left "sending" by a run that died, so that this run (and
    later ones, up to KETACLINIC_REMINDER_MAX_ATTEMPTS) tries them again. The UPDATE is
    conditional on the row still being stuck: two runs at once recover each one once."""
    return _stuck().update(status=ReminderDelivery.Status.FAILED, error=STUCK_ERROR)


def reminders_pending(*, now: datetime | None = None) -> list[PendingReminder]:
    """What `reminders_send` would try at `now`, without claiming anything (--dry-run).
    A stuck reminder is listed as the retry it will be."""
    now = now or timezone.now()
    pending, _ = _sort_due(now, stuck=set(_stuck().values_list("pk", flat=True)))
    return pending


def _claim(item: PendingReminder) -> ReminderDelivery | None:
    """Take the reminder for this run, or None when another run has it."""
    if item.delivery is None:
        try:
            # A savepoint: the losing run's failed insert must not spoil its transaction.
            with transaction.atomic():
                return ReminderDelivery.objects.create(
                    appointment=item.appointment, channel=item.channel
                )
        except IntegrityError:
            return None
    attempts = item.delivery.attempts
    claimed_at = timezone.now()
    taken = ReminderDelivery.objects.filter(
        pk=item.delivery.pk, status=ReminderDelivery.Status.FAILED, attempts=attempts
    ).update(
        status=ReminderDelivery.Status.SENDING,
        attempts=attempts + 1,
        claimed_at=claimed_at,
        error="",
    )
    if not taken:
        return None
    delivery = item.delivery
    delivery.status, delivery.attempts, delivery.claimed_at = (
        ReminderDelivery.Status.SENDING,
        attempts + 1,
        claimed_at,
    )
    return delivery


def reminder_context(appointment: Appointment) -> dict[str, Any]:
    """What the reminder templates say: type (the email only), local time, place or video,
    instructions, the portal link (questionnaires waiting), the clinic's phone and the
    crisis line."""
    return {
        "appointment": appointment,
        "kind": appointment.appointment_type,
        "patient": appointment.patient,
        "location": appointment.location,
        "when": local_when(appointment),
        "opens_minutes": settings.KETACLINIC_VIDEO_LINK_OPENS_MINUTES,
        "portal_url": settings.KETACLINIC_BASE_URL + reverse("portal:home"),
        # Only what the portal can answer: open questionnaire requests.
        "questionnaires": bool(open_self_reports(appointment.patient)),
        "crisis": crisis_line(),
    }


def reminder_email(appointment: Appointment, connection: Any = None) -> EmailMessage:
    context = reminder_context(appointment)
    where = "video visit" if appointment.telehealth else f"visit at {appointment.location.name}"
    local = timezone.localtime(appointment.starts_at, appointment.location.tz)
    return EmailMessage(
        subject=f"Reminder: your {where} on {dateformat.format(local, 'l, F j')}",
        body=render_to_string("scheduling/reminder_email.txt", context).strip() + "\n",
        to=[appointment.patient.email],
        connection=connection,
    )


def reminder_sms(appointment: Appointment) -> SmsMessage:
    """Short, and nothing clinical, not even the visit type's name: a text shows on a phone's
    lock screen ("your appointment"; the email names the type)."""
    body = render_to_string("scheduling/reminder_sms.txt", reminder_context(appointment))
    return SmsMessage(to=appointment.patient.phone, body=" ".join(body.split()))


def _mark_sent(delivery: ReminderDelivery, appointment: Appointment) -> None:
    with transaction.atomic():
        ReminderDelivery.objects.filter(pk=delivery.pk).update(
            status=ReminderDelivery.Status.SENT, sent_at=timezone.now(), error=""
        )
        audit_record(
            actor=None,
            action=AuditAction.CREATE,
            patient_id=appointment.patient_id,
            object_type="appointment_reminder",
            object_id=delivery.pk,
            detail={
                "appointment_id": appointment.pk,
                "channel": delivery.channel,
                "attempt": delivery.attempts,
            },
        )


def _mark_failed(delivery: ReminderDelivery, error: Exception) -> None:
    text = f"{type(error).__name__}: {error}"
    ReminderDelivery.objects.filter(pk=delivery.pk).update(
        status=ReminderDelivery.Status.FAILED, error=text[:ERROR_CHARS]
    )


class _Senders:
    """The email connection (made on first use) and the SMS backend."""

    def __init__(self, sms: BaseSmsBackend | None) -> None:
        self._mail: Any = None
        self._sms = sms

    def send(self, appointment: Appointment, channel: str) -> None:
        if channel == ReminderChannel.EMAIL:
            self._mail = self._mail or get_connection()
            reminder_email(appointment, self._mail).send()
            return
        self._sms = self._sms or get_sms_backend()
        if self._sms.send_messages([reminder_sms(appointment)]) != 1:
            raise RuntimeError("The SMS backend did not send the message.")


def reminders_send(*, now: datetime | None = None) -> ReminderRun:
    """Send every due reminder once per appointment and channel (email when the patient has
    an address, a text when they have a phone). Due: a booked visit starting after `now`
    and within its appointment type's reminder_hours_before. A rescheduled visit is a new
    appointment, so it gets its own reminder. Each sent reminder gets an audit entry."""
    now = now or timezone.now()
    recovered = reminders_recover_stuck()
    pending, left_alone = _sort_due(now)
    run = ReminderRun(skipped=left_alone, recovered=recovered)
    # A wrong KETACLINIC_SMS_BACKEND stops the run here, before anything is claimed.
    needs_sms = any(item.channel == ReminderChannel.SMS for item in pending)
    senders = _Senders(get_sms_backend() if needs_sms else None)
    for item in pending:
        delivery = _claim(item)
        if delivery is None:
            run.skipped += 1
            continue
        try:
            senders.send(item.appointment, item.channel)
        except Exception as error:  # any refusal by the mail server or SMS provider
            _mark_failed(delivery, error)
            run.failed += 1
        else:
            _mark_sent(delivery, item.appointment)
            run.sent += 1
    return run
