"""Reminders: which visits are due, once per channel even when the job runs twice or twice
at once, failed sends retried up to the limit, and what the email and text say."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.tests.test_concurrency import _run_together
from ketaclinic.cli import main as cli_main
from ketaclinic.measures.services import self_report_request_create
from ketaclinic.scheduling.models import Appointment, ReminderDelivery
from ketaclinic.scheduling.reminders import sms
from ketaclinic.scheduling.reminders.services import (
    _claim,
    reminder_email,
    reminder_sms,
    reminders_pending,
    reminders_send,
)
from ketaclinic.scheduling.reminders.sms import BaseSmsBackend, SmsMessage, get_sms_backend
from ketaclinic.scheduling.services import (
    appointment_book,
    appointment_cancel,
    appointment_reschedule,
)
from ketaclinic.scheduling.tests.conftest import at, next_weekday

LOCMEM = "ketaclinic.scheduling.reminders.sms.LocmemSmsBackend"
FAILING = "ketaclinic.scheduling.tests.test_reminders.FailingSmsBackend"


class FailingSmsBackend(BaseSmsBackend):
    """A provider that is down."""

    def send_messages(self, messages: Sequence[SmsMessage]) -> int:
        raise ConnectionError("SMS provider unreachable (HTTP 503)")


@pytest.fixture(autouse=True)
def _texts(settings: Any) -> None:
    settings.KETACLINIC_SMS_BACKEND = LOCMEM
    settings.KETACLINIC_REMINDER_MAX_ATTEMPTS = 3
    settings.KETACLINIC_BASE_URL = "https://clinic.example.org"
    sms.outbox.clear()


@pytest.fixture
def ada(schedule: dict[str, Any]) -> Any:
    patient = schedule["patient_slc"]
    patient.email = "ada@example.org"
    patient.save()
    return patient


def _infusion(s: dict[str, Any], patient: Any, starts_at: datetime, **extra: Any) -> Appointment:
    return appointment_book(
        actor=s["coordinator"],
        patient=patient,
        appointment_type=s["types"]["iv-infusion"],
        location=s["slc"],
        starts_at=starts_at,
        **extra,
    )


@pytest.mark.django_db
def test_only_booked_visits_inside_the_reminder_window_are_due(
    schedule: dict[str, Any], ada: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    now = at(slc, day, "09:00")
    due = _infusion(schedule, ada, at(slc, day, "10:00"))
    earlier_today = _infusion(schedule, ada, at(slc, day, "07:00"))  # started before `now`
    tomorrow = _infusion(schedule, ada, at(slc, day + timedelta(days=1), "10:00"))  # 25 h
    cancelled = _infusion(schedule, ada, at(slc, day, "14:00"))
    appointment_cancel(actor=schedule["coordinator"], appointment=cancelled, reason="Unwell")

    run = reminders_send(now=now)

    assert (run.sent, run.failed, run.skipped) == (2, 0, 0)
    assert set(ReminderDelivery.objects.values_list("appointment_id", "channel")) == {
        (due.pk, "email"),
        (due.pk, "sms"),
    }
    assert [m.to for m in mail.outbox] == [["ada@example.org"]]
    assert [t.to for t in sms.outbox] == [ada.phone]
    assert not ReminderDelivery.objects.filter(appointment__in=[earlier_today, cancelled])
    # A day later the next visit is inside its window.
    assert reminders_send(now=at(slc, day, "11:00")).sent == 2
    assert ReminderDelivery.objects.filter(appointment=tomorrow).count() == 2


@pytest.mark.django_db
def test_a_patient_without_email_gets_a_text_only(schedule: dict[str, Any]) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    appointment = _infusion(schedule, schedule["patient_slc"], at(slc, day, "10:00"))
    run = reminders_send(now=at(slc, day, "08:00"))
    assert run.sent == 1 and mail.outbox == [] and len(sms.outbox) == 1
    assert ReminderDelivery.objects.get().appointment == appointment


@pytest.mark.django_db
def test_running_twice_sends_each_reminder_once_and_audits_it(
    schedule: dict[str, Any], ada: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    appointment = _infusion(schedule, ada, at(slc, day, "10:00"))
    now = at(slc, day, "08:00")
    first, second = reminders_send(now=now), reminders_send(now=now + timedelta(minutes=10))
    assert (first.sent, second.sent, second.failed, second.skipped) == (2, 0, 0, 0)
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1
    assert set(ReminderDelivery.objects.values_list("status", "attempts")) == {("sent", 1)}
    entries = AuditEntry.objects.filter(object_type="appointment_reminder")
    assert entries.count() == 2
    for entry in entries:
        assert entry.actor_id is None and entry.patient_id == ada.pk
        assert entry.detail["appointment_id"] == appointment.pk
    assert {e.detail["channel"] for e in entries} == {"email", "sms"}


@pytest.mark.django_db
def test_a_rescheduled_visit_gets_its_own_reminder(schedule: dict[str, Any], ada: Any) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    original = _infusion(schedule, ada, at(slc, day, "10:00"))
    reminders_send(now=at(slc, day, "08:00"))
    moved = appointment_reschedule(
        actor=schedule["coordinator"],
        appointment=original,
        starts_at=at(slc, day, "15:00"),
        reason="Patient asked for the afternoon",
    )
    run = reminders_send(now=at(slc, day, "09:00"))
    assert run.sent == 2
    assert ReminderDelivery.objects.filter(appointment=moved).count() == 2
    assert "3:00 PM" in mail.outbox[-1].body and "3:00 PM" in sms.outbox[-1].body


@pytest.mark.django_db(transaction=True)
def test_runs_at_the_same_moment_send_each_reminder_once(
    schedule: dict[str, Any], ada: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    _infusion(schedule, ada, at(slc, day, "10:00"))
    runs, errors = _run_together([partial(reminders_send, now=at(slc, day, "08:00"))] * 4)
    assert errors == []
    assert sum(run.sent for run in runs) == 2
    assert sum(run.failed for run in runs) == 0
    assert len(mail.outbox) == 1 and len(sms.outbox) == 1
    assert ReminderDelivery.objects.filter(status="sent").count() == 2
    assert AuditEntry.objects.filter(object_type="appointment_reminder").count() == 2


@pytest.mark.django_db
def test_a_failed_text_is_retried_on_later_runs_until_the_limit(
    schedule: dict[str, Any], ada: Any, settings: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    _infusion(schedule, ada, at(slc, day, "10:00"))
    now = at(slc, day, "08:00")
    settings.KETACLINIC_SMS_BACKEND = FAILING
    first = reminders_send(now=now)
    assert (first.sent, first.failed) == (1, 1)  # the email went; the text did not
    text = ReminderDelivery.objects.get(channel="sms")
    assert text.status == "failed" and text.attempts == 1
    assert text.error == "ConnectionError: SMS provider unreachable (HTTP 503)"
    for attempt in (2, 3):
        run = reminders_send(now=now)
        assert (run.sent, run.failed) == (0, 1)
        text.refresh_from_db()
        assert text.attempts == attempt and text.status == "failed"
    settings.KETACLINIC_SMS_BACKEND = LOCMEM
    given_up = reminders_send(now=now)
    assert (given_up.sent, given_up.failed, given_up.skipped) == (0, 0, 1)
    text.refresh_from_db()
    assert text.attempts == 3 and sms.outbox == [] and len(mail.outbox) == 1
    assert not AuditEntry.objects.filter(
        object_type="appointment_reminder", detail__channel="sms"
    ).exists()


@pytest.mark.django_db
def test_a_retry_that_succeeds_is_marked_sent(
    schedule: dict[str, Any], ada: Any, settings: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    _infusion(schedule, ada, at(slc, day, "10:00"))
    now = at(slc, day, "08:00")
    settings.KETACLINIC_SMS_BACKEND = FAILING
    reminders_send(now=now)
    settings.KETACLINIC_SMS_BACKEND = LOCMEM
    run = reminders_send(now=now)
    assert (run.sent, run.failed) == (1, 0)
    text = ReminderDelivery.objects.get(channel="sms")
    assert (text.status, text.attempts, text.error) == ("sent", 2, "")
    assert text.sent_at is not None and len(sms.outbox) == 1


@pytest.mark.django_db
def test_two_runs_cannot_both_retry_the_same_failed_reminder(
    schedule: dict[str, Any], ada: Any, settings: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    _infusion(schedule, ada, at(slc, day, "10:00"))
    now = at(slc, day, "08:00")
    settings.KETACLINIC_SMS_BACKEND = FAILING
    reminders_send(now=now)
    # Both runs read the failed text before either retries it.
    seen_by_first, seen_by_second = reminders_pending(now=now), reminders_pending(now=now)
    assert [p.channel for p in seen_by_first] == ["sms"]
    assert _claim(seen_by_first[0]) is not None
    assert _claim(seen_by_second[0]) is None
    assert ReminderDelivery.objects.get(channel="sms").attempts == 2


@pytest.mark.django_db
def test_a_wrong_sms_backend_stops_the_run_before_anything_is_claimed(
    schedule: dict[str, Any], ada: Any, settings: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    _infusion(schedule, ada, at(slc, day, "10:00"))
    settings.KETACLINIC_SMS_BACKEND = "ketaclinic.scheduling.reminders.sms.NoSuchBackend"
    with pytest.raises(ImproperlyConfigured, match="KETACLINIC_SMS_BACKEND"):
        reminders_send(now=at(slc, day, "08:00"))
    assert ReminderDelivery.objects.count() == 0 and mail.outbox == []
    settings.KETACLINIC_SMS_BACKEND = "ketaclinic.scheduling.reminders.sms.SmsMessage"
    with pytest.raises(ImproperlyConfigured, match="send_messages"):
        get_sms_backend()


def test_the_console_backend_prints_each_text() -> None:
    stream = io.StringIO()
    backend = get_sms_backend(
        "ketaclinic.scheduling.reminders.sms.ConsoleSmsBackend", stream=stream
    )
    assert backend.send_messages([SmsMessage("(801) 555-0123", "Hello")]) == 1
    assert "SMS to (801) 555-0123\nHello" in stream.getvalue()


@pytest.mark.django_db
def test_email_shows_mountain_time_at_boise_instructions_and_crisis_line(
    schedule: dict[str, Any], settings: Any
) -> None:
    # The server's own time zone differs, so only the location's zone can give 10:00.
    settings.TIME_ZONE = "UTC"
    boise, day = schedule["boise"], next_weekday(1)
    grace = schedule["patient_boise"]
    grace.email = "grace@example.org"
    grace.save()
    starts = at(boise, day, "10:00")
    appointment = appointment_book(
        actor=schedule["nurse_boise"],
        patient=grace,
        appointment_type=schedule["types"]["iv-infusion"],
        location=boise,
        starts_at=starts,
    )
    reminders_send(now=starts - timedelta(hours=2))
    email = mail.outbox[0]
    zone = starts.strftime("%Z")  # MST or MDT, by the date
    assert zone in {"MST", "MDT"}
    assert f"{day:%A}, {day:%B} {day.day} at 10:00 AM {zone}" in email.body
    assert "Boise Clinic" in email.body and boise.full_address in email.body
    assert "Do not eat for 6 hours" in email.body and "ride home" in email.body
    assert "988" in email.body and "911" in email.body
    assert "answer them before your visit" not in email.body
    assert email.to == ["grace@example.org"]
    # The subject says where and when, not what treatment.
    assert "ketamine" not in email.subject.lower() and "Boise Clinic" in email.subject
    assert f"10:00 AM {zone}" in sms.outbox[0].body
    assert ReminderDelivery.objects.filter(appointment=appointment, status="sent").count() == 2


@pytest.mark.django_db
def test_the_questionnaire_link_appears_only_when_one_is_waiting(
    schedule: dict[str, Any], ada: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    appointment = _infusion(schedule, ada, at(slc, day, "10:00"))
    link = "https://clinic.example.org/portal/"
    assert "answer them before your visit" not in reminder_email(appointment).body
    assert "questionnaires" not in reminder_sms(appointment).body
    self_report_request_create(
        actor=schedule["nurse"], patient=ada, instrument_keys=["phq9"], context="pre_session"
    )
    body = reminder_email(appointment).body
    assert f"Please answer them before your visit:\n{link}" in body
    assert f"Please answer your questionnaires before you come: {link}" in (
        reminder_sms(appointment).body
    )


@pytest.mark.django_db
def test_the_text_is_short_and_keeps_clinical_details_out(
    schedule: dict[str, Any], ada: Any
) -> None:
    slc, day = schedule["slc"], next_weekday(1)
    appointment = _infusion(schedule, ada, at(slc, day, "10:00"))
    ada.medications.create(
        name="Sertraline", medication_class="antidepressant", dose_mg_per_day=100
    )
    text = reminder_sms(appointment).body
    assert len(text) <= 320
    assert "reminder of your appointment on" in text
    assert "10:00 AM" in text and slc.phone in text and "988" in text
    # The type names the treatment; a lock screen must not. The email (opened) does.
    assert "IV ketamine infusion" in reminder_email(appointment).body
    for private in ("Lovelace", "Ada", "Sertraline", "Do not eat", ada.mrn, "ketamine", "infusion"):
        assert private not in text


@pytest.mark.django_db
def test_a_video_visit_says_the_link_is_in_the_portal(
    schedule: dict[str, Any], ada: Any, settings: Any
) -> None:
    settings.KETACLINIC_VIDEO_URL_PATTERN = "https://video.example.org/{room}"
    settings.KETACLINIC_VIDEO_LINK_OPENS_MINUTES = 15
    slc, day = schedule["slc"], next_weekday(1)
    appointment = appointment_book(
        actor=schedule["coordinator"],
        patient=ada,
        appointment_type=schedule["types"]["follow-up"],
        location=slc,
        starts_at=at(slc, day, "10:00"),
        provider=schedule["prescriber"],
        telehealth=True,
    )
    email, text = reminder_email(appointment), reminder_sms(appointment).body
    assert "Video visit: the link appears in your portal 15 minutes before" in email.body
    assert "video visit: the link appears in your portal 15 min before" in text
    assert "reminder of your video appointment on" in text and "Follow-up" not in text
    for message in (email.body, text):
        assert appointment.video_room not in message and slc.full_address not in message
    assert "your video visit on" in email.subject


@pytest.mark.django_db
def test_the_command_lists_with_dry_run_then_sends_once(schedule: dict[str, Any], ada: Any) -> None:
    slc = schedule["slc"]
    kind = schedule["types"]["iv-infusion"]
    kind.reminder_hours_before = 24 * 14  # next week's visit is due now
    kind.save()
    appointment = _infusion(schedule, ada, at(slc, next_weekday(1), "10:00"))
    out = io.StringIO()
    call_command("reminders", "send", "--dry-run", stdout=out)
    listed = out.getvalue()
    assert f"appointment {appointment.pk} at SLC" in listed
    assert "email" in listed and "text message" in listed and "Lovelace" not in listed
    assert "2 would be sent (dry run)" in listed
    assert ReminderDelivery.objects.count() == 0 and mail.outbox == []
    out = io.StringIO()
    call_command("reminders", "send", stdout=out)
    assert out.getvalue().strip() == "Reminders: 2 sent, 0 failed, 0 skipped."
    out = io.StringIO()
    call_command("reminders", "send", stdout=out)
    assert out.getvalue().strip() == "Reminders: 0 sent, 0 failed, 0 skipped."


@pytest.mark.django_db
def test_the_command_names_a_wrong_sms_backend(
    schedule: dict[str, Any], ada: Any, settings: Any
) -> None:
    kind = schedule["types"]["iv-infusion"]
    kind.reminder_hours_before = 24 * 14
    kind.save()
    _infusion(schedule, ada, at(schedule["slc"], next_weekday(1), "10:00"))
    settings.KETACLINIC_SMS_BACKEND = "acme.sms.Missing"
    with pytest.raises(CommandError, match=r"acme\.sms\.Missing"):
        call_command("reminders", "send", stdout=io.StringIO())


def test_the_ketaclinic_command_lists_reminders_send(capsys: Any) -> None:
    cli_main(["--help"])
    assert "reminders send" in capsys.readouterr().out
