"""The public front door, as a visitor meets it: no login, a form that keeps what was typed,
spam and floods turned away without storing anything, and nobody ever seeing what someone
else sent."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.accounts.roles import Role
from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.tests.test_concurrency import _run_together
from ketaclinic.organization.models import Location, Organization
from ketaclinic.scheduling.models import (
    AppointmentRequest,
    AppointmentType,
    ClosedDay,
    ProviderLicense,
)
from ketaclinic.scheduling.requests.services import RequestLimitReached, request_submit
from ketaclinic.scheduling.selectors import appointment_types_for, appointment_types_resolve
from ketaclinic.scheduling.services import appointment_types_seed_defaults

pytestmark = pytest.mark.django_db

FORM = "/visit/request/"
SENT = "/visit/request/sent/"
ADDRESS = "203.0.113.9"


def _form(schedule: dict[str, Any], **changes: str) -> dict[str, str]:
    return {
        "first_name": "Rosalind",
        "last_name": "Franklin",
        "date_of_birth": "1985-07-25",
        "phone": "801.555.0142",
        "email": "rosalind@example.org",
        "state": "UT",
        "visit": str(schedule["slc"].pk),
        "help_with": "Depression that two antidepressants did not help.",
        "heard_about": "doctor",
        "consent_to_contact": "on",
        "website": "",
        **changes,
    }


def _post(client: Client, data: dict[str, str], address: str = ADDRESS) -> Any:
    return client.post(FORM, data, REMOTE_ADDR=address)


def test_anonymous_visitors_open_every_public_page(client: Client, schedule: dict) -> None:
    for url in ("/visit/", FORM, SENT):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "988" in response.content.decode(), url


def test_the_visit_page_shows_locations_hours_services_and_video_states(
    client: Client, schedule: dict, make_user: Any
) -> None:
    slc = schedule["slc"]
    today = timezone.localdate(timezone=slc.tz)
    ClosedDay.objects.create(location=slc, date=today + timedelta(days=3), reason="Staff day")
    ClosedDay.objects.create(location=slc, date=today - timedelta(days=3), reason="Long gone")
    # Licenses that must not count: an inactive provider's, an expired one, a suspended one.
    gone = make_user(Role.PRESCRIBER, [slc])
    gone.is_active = False
    gone.save()
    for provider, state, expires, active in [
        (gone, "NV", today + timedelta(days=90), True),
        (schedule["prescriber"], "CO", today - timedelta(days=1), True),
        (schedule["prescriber"], "WY", today + timedelta(days=90), False),
    ]:
        ProviderLicense.objects.create(
            provider=provider,
            state=state,
            kind="MD",
            number=f"{state}-1",
            expires_on=expires,
            is_active=active,
            recorded_by=schedule["admin"],
        )
    page = client.get("/visit/").content.decode()
    assert "SLC Clinic" in page and "Boise Clinic" in page
    assert "1 Main St" in page and "(801) 555-0100" in page
    assert "7:00 AM\u20137:00 PM" in page and "Closed" in page  # Mon-Fri open, weekend closed
    assert "America/Boise" in page
    assert "Staff day" in page and "Long gone" not in page
    assert "Consultation" in page and "IV ketamine infusion" in page
    assert "Also by video: consultation" in page
    assert "Idaho" in page and "Utah" in page
    for state in ("Nevada", "Colorado", "Wyoming"):
        assert state not in page
    assert 'href="/visit/request/"' in page


def test_a_request_is_stored_with_a_digest_of_the_address_and_audited(
    client: Client, schedule: dict
) -> None:
    response = _post(client, _form(schedule))
    assert response.status_code == 302 and response.url == SENT
    stored = AppointmentRequest.objects.get()
    assert stored.phone == "(801) 555-0142"
    assert stored.preferred_location == schedule["slc"] and not stored.wants_telehealth
    expected = hmac.new(
        django_settings.SECRET_KEY.encode(), ADDRESS.encode(), hashlib.sha256
    ).hexdigest()
    assert stored.source_digest == expected
    entry = AuditEntry.objects.get(object_type="appointment_request", action="create")
    assert entry.actor_id is None and entry.object_id == str(stored.pk)
    # The address is kept only as the digest: not in the audit log either.
    assert entry.ip_address is None
    assert ADDRESS not in str(entry.detail)


def test_two_hundred_posts_in_a_minute_from_one_address_queue_at_most_the_limit(
    client: Client, schedule: dict, settings: Any
) -> None:
    settings.KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR = 5
    Organization.objects.update(phone="(801) 555-0199")
    statuses = []
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        for _ in range(200):
            traveller.shift(timedelta(milliseconds=250))  # 200 posts in 50 seconds
            response = _post(client, _form(schedule))
            statuses.append(response.status_code)
        assert AppointmentRequest.objects.count() == 5
        assert statuses[:5] == [302] * 5
        assert set(statuses[5:]) == {429}
        refused = response.content.decode()
        assert "(801) 555-0199" in refused  # the friendly way forward: call us
        assert response.context["form"]["first_name"].value() == "Rosalind"
        # Someone else is not held up by that address.
        assert _post(client, _form(schedule), address="198.51.100.4").status_code == 302
        assert AppointmentRequest.objects.count() == 6
        # An hour after the first accepted request, the address may send again.
        traveller.shift(timedelta(hours=1))
        assert _post(client, _form(schedule)).status_code == 302
    assert AppointmentRequest.objects.count() == 7
    assert AuditEntry.objects.filter(object_type="appointment_request").count() == 7


@pytest.mark.django_db(transaction=True)
def test_requests_sent_at_once_from_one_address_never_pass_the_limit(
    schedule: dict, settings: Any
) -> None:
    """Separate connections stand in for separate server processes."""
    settings.KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR = 3
    send = partial(
        request_submit,
        actor=None,
        address=ADDRESS,
        first_name="Rosalind",
        last_name="Franklin",
        date_of_birth=timezone.localdate() - timedelta(days=40 * 365),
        phone="(801) 555-0142",
        state="UT",
        preferred_location=schedule["slc"],
        wants_telehealth=False,
        help_with="Depression.",
        consent_to_contact=True,
    )
    results, errors = _run_together([send for _ in range(6)])
    assert len(results) == 3
    assert len(errors) == 3 and all(isinstance(e, RequestLimitReached) for e in errors)
    assert AppointmentRequest.objects.count() == 3


def test_the_honeypot_answers_like_success_and_stores_nothing(
    client: Client, schedule: dict
) -> None:
    response = _post(client, _form(schedule, website="http://cheap-pills.example"))
    assert response.status_code == 302 and response.url == SENT
    assert not AppointmentRequest.objects.exists()
    assert not AuditEntry.objects.filter(object_type="appointment_request").exists()
    # Bots get the same answer even when the rest of the form is nonsense.
    response = _post(client, {"website": "x", "phone": "nope"})
    assert response.status_code == 302 and response.url == SENT
    assert not AppointmentRequest.objects.exists()


def test_the_honeypot_is_hidden_from_people(client: Client, schedule: dict) -> None:
    page = client.get(FORM).content.decode()
    assert '<div class="public-hp" aria-hidden="true">' in page
    assert 'tabindex="-1"' in page and 'autocomplete="off"' in page
    assert "Leave this field empty" in page
    assert "style=" not in page  # hidden by the stylesheet (strict CSP: no inline styles)


def test_a_bad_phone_is_refused_and_every_other_value_is_kept(
    client: Client, schedule: dict
) -> None:
    data = _form(schedule, phone="555-01", visit="video")
    response = _post(client, data)
    assert response.status_code == 200
    assert not AppointmentRequest.objects.exists()
    form = response.context["form"]
    assert list(form.errors) == ["phone"]
    page = response.content.decode()
    assert "Enter a 10-digit US phone number" in page
    assert 'value="555-01"' in page  # what was typed, to correct it
    for kept in ("Rosalind", "Franklin", "1985-07-25", "rosalind@example.org"):
        assert f'value="{kept}"' in page
    assert "Depression that two antidepressants did not help." in page
    assert '<option value="UT" selected>' in page
    assert '<option value="doctor" selected>' in page
    checked = re.findall(r"<input[^>]*\bchecked[^>]*>", page)
    assert len(checked) == 2
    assert 'value="video"' in checked[0] and 'name="consent_to_contact"' in checked[1]


def test_consent_to_be_contacted_is_required(client: Client, schedule: dict) -> None:
    data = _form(schedule)
    del data["consent_to_contact"]
    response = _post(client, data)
    assert response.status_code == 200 and not AppointmentRequest.objects.exists()
    assert "We need your permission to contact you about a visit." in response.content.decode()


def test_a_video_visit_from_a_state_without_a_licensed_provider_is_refused(
    client: Client, schedule: dict
) -> None:
    response = _post(client, _form(schedule, visit="video", state="NV"))
    assert response.status_code == 200 and not AppointmentRequest.objects.exists()
    page = response.content.decode()
    assert "We cannot offer video visits to people living in Nevada" in page
    assert "Choose one of our locations instead, or call us at (801) 555-0100" in page
    assert response.context["form"]["state"].value() == "NV"
    # Idaho is covered (the director holds a license there).
    response = _post(client, _form(schedule, visit="video", state="ID"))
    assert response.status_code == 302
    stored = AppointmentRequest.objects.get()
    assert stored.wants_telehealth and stored.preferred_location is None


def test_a_second_visitor_never_sees_what_the_first_one_sent(schedule: dict) -> None:
    first = Client()
    assert _post(first, _form(schedule)).status_code == 302
    private = ("Rosalind", "Franklin", "1985-07-25", "555-0142", "rosalind@example.org")
    second = Client()
    for client in (second, first):  # the sender's own next form opens empty too
        for url in (FORM, SENT):
            page = client.get(url).content.decode()
            for value in private:
                assert value not in page, (url, value)
    # The confirmation is one page for everybody: no id, nothing from the database.
    assert first.get(SENT).content == second.get(SENT).content


def test_the_confirmation_says_what_happens_next_and_shows_the_crisis_line(
    client: Client, schedule: dict
) -> None:
    page = client.get(SENT).content.decode()
    assert "usually within one business day" in page
    assert "What to have ready" in page
    assert 'href="tel:988"' in page and "911" in page
    assert page.index("988") < page.index("What happens next")  # prominent: before the rest


def test_a_post_without_the_csrf_token_is_refused(schedule: dict) -> None:
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(FORM, _form(schedule), REMOTE_ADDR=ADDRESS)
    assert response.status_code == 403
    assert not AppointmentRequest.objects.exists()
    # With the token from the form, the same post goes through.
    strict.get(FORM)
    token = strict.cookies["csrftoken"].value
    response = strict.post(
        FORM, {**_form(schedule), "csrfmiddlewaretoken": token}, REMOTE_ADDR=ADDRESS
    )
    assert response.status_code == 302
    assert AppointmentRequest.objects.count() == 1


def test_behind_a_proxy_each_visitor_has_their_own_limit_and_cannot_forge_it(
    client: Client, schedule: dict, settings: Any
) -> None:
    settings.KETACLINIC_CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    settings.KETACLINIC_TRUSTED_PROXIES = ["10.0.0.2"]  # the clinic's proxy
    limit = settings.KETACLINIC_REQUESTS_PER_ADDRESS_PER_HOUR
    proxy = partial(client.post, FORM, REMOTE_ADDR="10.0.0.2")
    for n in range(limit + 3):
        # A forged first entry changes nothing: the proxy's own (last) entry counts.
        proxy(_form(schedule), HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 192.0.2.1")
    assert AppointmentRequest.objects.count() == limit
    response = proxy(_form(schedule), HTTP_X_FORWARDED_FOR="192.0.2.2")
    assert response.status_code == 302
    assert AppointmentRequest.objects.count() == limit + 1


def _visit_queries(client: Client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as context:
        response = client.get("/visit/")
    assert response.status_code == 200
    return len(context), response.content.decode()


def test_the_visit_page_takes_the_same_queries_for_1_or_4_locations(
    client: Client, make_location: Any
) -> None:
    """Each location's services resolved as appointment_types_for does (its own version of a
    type replaces the default, its own inactive version hides it), from one query for all."""
    appointment_types_seed_defaults()
    default = AppointmentType.objects.get(location=None, key="iv-infusion")
    consultation = AppointmentType.objects.get(location=None, key="consultation")

    def add(short_name: str, *, drop_consultation: bool = False) -> None:
        location = make_location(short_name, "UT")
        ClosedDay.objects.create(
            location=location,
            date=timezone.localdate() + timedelta(days=2),
            reason=f"{short_name} staff day",
        )
        for kind, changes in [
            (default, {"name": f"{short_name} infusion"}),
            (consultation, {"is_active": False} if drop_consultation else None),
        ]:
            if changes is None:
                continue
            own = AppointmentType.objects.get(pk=kind.pk)
            own.pk, own.location = None, location
            for field, value in changes.items():
                setattr(own, field, value)
            own.save()

    add("Ogden")
    small, _ = _visit_queries(client)
    add("Provo")
    add("Logan", drop_consultation=True)
    add("Moab")
    large, page = _visit_queries(client)
    assert large == small
    for name in ("Ogden", "Provo", "Logan", "Moab"):
        assert page.count(f"<li>{name} infusion</li>") == 1 and f"{name} staff day" in page
    assert "IV ketamine infusion" not in page
    assert page.count("<li>Consultation</li>") == 3  # not at Logan
    assert appointment_types_resolve(
        AppointmentType.objects.all(), Location.objects.get(short_name="Logan").pk
    ) == appointment_types_for(Location.objects.get(short_name="Logan"))
