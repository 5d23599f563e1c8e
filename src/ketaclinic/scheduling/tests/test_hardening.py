"""Hardening of the public front door and of the jobs behind it: a client-address header only
believed from our own proxies, a cap on all requests together, IPv6 counted per /64, a form
that never tells whether a patient exists, reminders recovered from a killed run, and
declined and spam requests purged after the retention period."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.context import address_network, client_address
from ketaclinic.audit.models import AuditEntry
from ketaclinic.scheduling.models import (
    AppointmentRequest,
    ContactAttempt,
    ReminderDelivery,
    RequestStatus,
)
from ketaclinic.scheduling.reminders import sms
from ketaclinic.scheduling.reminders.services import _claim, reminders_pending, reminders_send
from ketaclinic.scheduling.requests.services import (
    contact_attempt_record,
    request_decline,
    requests_purge,
)
from ketaclinic.scheduling.services import appointment_book
from ketaclinic.scheduling.tests.conftest import at, next_weekday

FORM = "/visit/request/"
# A Monday morning in Salt Lake City: the dates below are written out from it.
MONDAY = "2027-03-01T07:00:00-07:00"


def _form(schedule: dict[str, Any], **changes: str) -> dict[str, str]:
    return {
        "first_name": "Rosalind",
        "last_name": "Franklin",
        "date_of_birth": "1985-07-25",
        "phone": "801.555.0142",
        "email": "",
        "state": "UT",
        "visit": str(schedule["slc"].pk),
        "help_with": "Depression.",
        "heard_about": "",
        "consent_to_contact": "on",
        "website": "",
        **changes,
    }


# --- trusted proxies ------------------------------------------------------------------------


def _address(settings: Any, remote: str, forwarded: str | None = None) -> str:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **meta))


def test_the_header_is_believed_only_from_a_trusted_proxy(settings: Any) -> None:
    settings.KETACLINIC_CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.KETACLINIC_TRUSTED_PROXIES = ["10.0.0.2", "10.1.0.0/16"]
    # Straight from a visitor: their own header is ignored.
    assert _address(settings, "203.0.113.50", "198.51.100.7") == "203.0.113.50"
    # Through our proxy: the address it saw.
    assert _address(settings, "10.0.0.2", "198.51.100.7") == "198.51.100.7"
    # What the visitor wrote themselves comes first and is skipped; our proxies are peeled off.
    assert _address(settings, "10.0.0.2", "6.6.6.6, 198.51.100.7, 10.1.4.4") == "198.51.100.7"
    # Garbage in the header: the last hop we can still trust.
    assert _address(settings, "10.0.0.2", "198.51.100.7, not-an-address") == "10.0.0.2"
    assert _address(settings, "10.0.0.2", "") == "10.0.0.2"
    # Ports and IPv4-mapped IPv6 addresses name the same visitor.
    assert _address(settings, "10.0.0.2", "198.51.100.7:51234") == "198.51.100.7"
    assert _address(settings, "::ffff:203.0.113.50") == "203.0.113.50"
    assert _address(settings, "10.0.0.2", "[2001:db8::5]:443") == "2001:db8::5"
    # Without the header setting nobody's header is read.
    settings.KETACLINIC_CLIENT_ADDRESS_HEADER = ""
    assert _address(settings, "10.0.0.2", "198.51.100.7") == "10.0.0.2"


def test_ipv6_addresses_count_per_64() -> None:
    assert address_network("2001:db8:1:2::7") == "2001:db8:1:2::/64"
    assert address_network("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert address_network("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert address_network("198.51.100.7") == "198.51.100.7"


@pytest.mark.django_db
def test_a_forged_header_from_an_untrusted_address_buys_no_fresh_limit(
    client: Client, schedule: dict[str, Any], settings: Any
) -> None:
    settings.KETACLINIC_CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.KETACLINIC_TRUSTED_PROXIES = ["10.0.0.2"]
    settings.KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR = 5
    statuses = [
        client.post(
            FORM,
            _form(schedule),
            REMOTE_ADDR="203.0.113.50",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        ).status_code
        for n in range(12)
    ]
    assert statuses == [302] * 5 + [429] * 7
    assert AppointmentRequest.objects.count() == 5
    # The audit log records the connection's address too, not the forged one.
    client.post(
        "/accounts/login/",
        {"username": schedule["nurse"].username, "password": "correct-horse-battery"},
        REMOTE_ADDR="203.0.113.50",
        HTTP_X_FORWARDED_FOR="198.51.100.99",
    )
    assert AuditEntry.objects.filter(action="login").last().ip_address == "203.0.113.50"


# --- the caps -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.now(MONDAY, tick=False)
def test_a_flood_from_many_addresses_stops_at_the_hourly_cap(
    client: Client, schedule: dict[str, Any], settings: Any
) -> None:
    settings.KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR = 5
    settings.KETACLINIC_REQUESTS_PER_HOUR = 8
    statuses = []
    with time_machine.travel(MONDAY, tick=False) as traveller:
        for n in range(20):
            traveller.shift(timedelta(seconds=30))
            response = client.post(FORM, _form(schedule), REMOTE_ADDR=f"198.51.100.{n}")
            statuses.append(response.status_code)
        assert statuses == [302] * 8 + [429] * 12
        assert "unusual number of requests" in response.content.decode()
        assert AppointmentRequest.objects.count() == 8
        traveller.shift(timedelta(hours=1))
        assert client.post(FORM, _form(schedule), REMOTE_ADDR="192.0.2.8").status_code == 302


@pytest.mark.django_db
def test_stepping_through_an_ipv6_64_buys_no_fresh_limit(
    client: Client, schedule: dict[str, Any], settings: Any
) -> None:
    settings.KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR = 3
    statuses = [
        client.post(FORM, _form(schedule), REMOTE_ADDR=f"2001:db8:1:2::{n:x}").status_code
        for n in range(1, 9)
    ]
    assert statuses == [302] * 3 + [429] * 5
    # Another household (another /64) has its own limit.
    assert client.post(FORM, _form(schedule), REMOTE_ADDR="2001:db8:1:3::1").status_code == 302
    assert AppointmentRequest.objects.count() == 4


# --- no patient-existence probe --------------------------------------------------------------


def _answer(client: Client, data: dict[str, str], address: str) -> tuple[int, str, str, list[str]]:
    """What a visitor learns from one submission: the status, where it leads, the page they
    end on (without its per-visit CSRF token), and the tables it read."""
    with CaptureQueriesContext(connection) as queries:
        response = client.post(FORM, data, REMOTE_ADDR=address, follow=True)
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())
    page = page.replace(data["date_of_birth"], "(the date typed)")  # a refused form keeps it
    tables = sorted(
        {t for q in queries for t in re.findall(r'(?:FROM|JOIN|INTO|UPDATE) "(\w+)"', q["sql"])}
    )
    return response.status_code, str(response.redirect_chain), page, tables


@pytest.mark.django_db
def test_the_form_answers_the_same_whether_or_not_the_patient_exists(
    schedule: dict[str, Any],
) -> None:
    existing = schedule["patient_slc"]  # Ada Lovelace, born 1980-04-02, a patient at SLC
    known = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": "1980-04-02"}
    unknown = {**known, "date_of_birth": "1981-04-02"}
    assert existing.date_of_birth.isoformat() == known["date_of_birth"]
    _answer(Client(), _form(schedule), "198.51.100.9")  # the first entry starts the chain
    for extra in ({}, {"phone": "12"}, {"visit": "video", "state": "WA"}):
        # Sent and refused alike: same status, same redirects, same page, same tables read.
        a = _answer(Client(), _form(schedule, **known, **extra), "198.51.100.1")
        b = _answer(Client(), _form(schedule, **unknown, **extra), "198.51.100.2")
        assert a == b, extra
        assert not [t for t in a[3] if t.startswith("patients_")], a[3]
    # Both requests reached the queue, neither linked to anyone until a coordinator checks.
    assert AppointmentRequest.objects.filter(first_name="Ada", patient__isnull=True).count() == 2


# --- reminders left "sending" by a killed run ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.now(MONDAY)
def test_a_reminder_left_sending_by_a_killed_run_is_sent_by_a_later_run(
    schedule: dict[str, Any], settings: Any
) -> None:
    settings.KETACLINIC_SMS_BACKEND = "ketaclinic.scheduling.reminders.sms.LocmemSmsBackend"
    settings.KETACLINIC_REMINDER_STUCK_MINUTES = 30
    sms.outbox.clear()
    slc, day = schedule["slc"], next_weekday(1)
    appointment = appointment_book(
        actor=schedule["coordinator"],
        patient=schedule["patient_slc"],
        appointment_type=schedule["types"]["iv-infusion"],
        location=slc,
        starts_at=at(slc, day, "10:00"),
    )
    due = at(slc, day, "08:00")
    # A run claims the text and is killed before it sends it.
    (pending,) = reminders_pending(now=due)
    assert _claim(pending) is not None
    stuck = ReminderDelivery.objects.get(appointment=appointment)
    assert stuck.status == ReminderDelivery.Status.SENDING
    # Soon after, another run leaves it alone: the first might still be sending.
    with time_machine.travel(timezone.now() + timedelta(minutes=10)):
        early = reminders_send(now=due)
    assert (early.sent, early.skipped, early.recovered) == (0, 1, 0)
    # Past the stuck time it is recovered and sent, once, even by two runs.
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert [p.channel for p in reminders_pending(now=due)] == ["sms"]
        late = reminders_send(now=due)
        again = reminders_send(now=due)
    assert (late.sent, late.recovered) == (1, 1)
    assert (again.sent, again.recovered) == (0, 0)
    stuck.refresh_from_db()
    assert (stuck.status, stuck.attempts) == (ReminderDelivery.Status.SENT, 2)
    assert len(sms.outbox) == 1
    assert "recovered from a run that stopped" in late.summary


# --- the retention purge --------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.now(MONDAY)
def test_declined_and_spam_requests_are_purged_after_the_retention_period(
    client: Client, schedule: dict[str, Any], settings: Any, capsys: Any
) -> None:
    settings.KETACLINIC_REQUEST_RETENTION_DAYS = 90
    for n in range(4):
        client.post(FORM, _form(schedule, first_name=f"Person{n}"), REMOTE_ADDR=f"192.0.2.{n}")
    declined, spam, still_open, _other = AppointmentRequest.objects.order_by("pk")
    coordinator = schedule["coordinator"]
    contact_attempt_record(
        actor=coordinator, appointment_request=declined, channel="phone", outcome="reached"
    )
    request_decline(actor=coordinator, appointment_request=declined, reason="lives abroad")
    # Spam is marked from the request's page, without a reason.
    coordinator_client = Client()
    coordinator_client.force_login(coordinator)
    coordinator_client.post(f"/requests/{spam.pk}/decline/", {"spam": "on"})
    spam.refresh_from_db()
    assert spam.status == RequestStatus.SPAM
    with time_machine.travel(timezone.now() + timedelta(days=89)):
        assert requests_purge().requests == 0
    with time_machine.travel(timezone.now() + timedelta(days=91)):
        assert requests_purge(dry_run=True).requests == 2
        call_command("requests", "purge")
    assert "2 declined or spam request(s) handled more than 90 days ago deleted" in (
        capsys.readouterr().out
    )
    assert set(AppointmentRequest.objects.values_list("pk", flat=True)) == {
        still_open.pk,
        _other.pk,
    }
    assert not ContactAttempt.objects.exists()
    entry = AuditEntry.objects.get(action="purge")
    assert entry.actor_id is None and entry.detail["request_ids"] == [declined.pk, spam.pk]
    assert "Rosalind" not in str(entry.detail) and "Person" not in str(entry.detail)
