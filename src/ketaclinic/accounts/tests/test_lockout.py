"""A lockout that is not a weapon: an anonymous visitor who guesses passwords for the
clinic's easy usernames cannot keep any account locked past the cool-off, the clinic's own
typos behind one shared address do not lock the clinic out, and recovery on the server is
always possible (`ketaclinic unlock`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django.test import Client

from ketaclinic.accounts.models import SignInFailure
from ketaclinic.accounts.selectors import locked_out_attempts, signin_address_throttled
from ketaclinic.audit.models import AuditEntry
from ketaclinic.conftest import PASSWORD

LOGIN = "/accounts/login/"
START = "2027-03-01T09:00:00-07:00"
VISITOR = "198.51.100.66"  # somewhere on the internet
CLINIC = "203.0.113.10"  # the clinic's one address behind NAT


def _login(username: str, password: str, address: str) -> int:
    client = Client()
    response = client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)
    return response.status_code


@pytest.mark.django_db
@pytest.mark.now(START, tick=False)
def test_an_anonymous_visitor_cannot_keep_an_account_locked_past_the_cool_off(
    clinic: dict[str, Any], settings: Any
) -> None:
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME
    assert settings.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT is False
    settings.KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY = 30
    director = clinic["director"].username
    answers: list[int] = []
    signed_in: dict[int, int] = {}
    with time_machine.travel(START, tick=False) as clock:
        # Three hours of guessing, one wrong password every 20 seconds, all the while.
        for step in range(3 * 180):
            answers.append(_login(director, f"guess-{step}", VISITOR))
            minute = step // 3
            # The director comes in from the clinic every ten minutes once the cool-off of
            # the lockout (from the sixth guess, at 1:40) is over.
            if step % 3 == 0 and minute % 10 == 7 and minute > 15:
                signed_in[minute] = _login(director, PASSWORD, CLINIC)
            clock.shift(timedelta(seconds=20))
    # The visitor did lock the account, once, for the cool-off ...
    assert answers[:5] == [200] * 5
    assert answers[5] == 429  # the sixth wrong password locks it
    # ... and was then stopped at the address: their guesses count against nobody.
    assert set(answers[30:]) == {429}
    assert SignInFailure.objects.filter(username=director).count() <= 30
    # The director could sign in every time after the cool-off.
    assert signed_in and set(signed_in.values()) == {302}, signed_in


@pytest.mark.django_db
@pytest.mark.now(START, tick=False)
def test_the_account_lock_still_holds_for_its_cool_off_and_then_lifts_itself(
    clinic: dict[str, Any],
) -> None:
    nurse = clinic["nurse"].username
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(6):
            _login(nurse, "wrong-password", VISITOR)
        assert _login(nurse, PASSWORD, CLINIC) == 429  # locked, even with the right one
        assert [a.username for a in locked_out_attempts()] == [nurse]
        clock.shift(timedelta(minutes=10))
        for _ in range(3):  # guessing during the lockout does not make it last longer
            assert _login(nurse, "wrong-again", VISITOR) == 429
        clock.shift(timedelta(minutes=5, seconds=1))
        assert list(locked_out_attempts()) == []
        assert _login(nurse, PASSWORD, CLINIC) == 302


@pytest.mark.django_db
@pytest.mark.now(START, tick=False)
def test_the_clinics_own_typos_behind_one_address_do_not_pause_sign_in(
    clinic: dict[str, Any], settings: Any
) -> None:
    settings.KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY = 10
    staff = [clinic[r].username for r in ("coordinator", "nurse", "prescriber", "director")]
    with time_machine.travel(START, tick=False) as clock:
        for _round in range(4):  # four rounds of a busy day: everyone mistypes twice
            for username in staff:
                assert _login(username, "typo", CLINIC) == 200
                assert _login(username, "typo", CLINIC) == 200
                assert _login(username, PASSWORD, CLINIC) == 302
                clock.shift(timedelta(minutes=5))
        assert not signin_address_throttled(CLINIC)
        # Someone guessing from the same address is still counted.
        for _ in range(10):
            _login("admin", "guess", CLINIC)
        assert signin_address_throttled(CLINIC)
        assert _login(staff[0], PASSWORD, CLINIC) == 429
        # A day later the address may sign in again.
        clock.shift(timedelta(hours=24, minutes=1))
        assert _login(staff[0], PASSWORD, CLINIC) == 302


@pytest.mark.django_db
def test_the_throttled_page_says_what_happened(clinic: dict[str, Any], settings: Any) -> None:
    settings.KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY = 2
    for _ in range(2):
        _login("nobody", "guess", VISITOR)
    response = Client().post(
        LOGIN, {"username": "nobody", "password": "guess"}, REMOTE_ADDR=VISITOR
    )
    assert response.status_code == 429
    assert "Signing in from here is paused" in response.content.decode()


@pytest.mark.django_db
def test_unlock_on_the_server_lifts_a_lockout_and_an_address_pause(
    clinic: dict[str, Any], settings: Any, capsys: Any
) -> None:
    settings.KETACLINIC_LOGIN_FAILURES_PER_ADDRESS_PER_DAY = 8
    admin = clinic["admin"].username
    for _ in range(8):
        _login(admin, "wrong-password", VISITOR)
    assert _login(admin, PASSWORD, CLINIC) == 429  # the only administrator is locked out
    call_command("unlock", admin)
    assert "Unlocked" in capsys.readouterr().out
    assert not AccessAttempt.objects.filter(username=admin).exists()
    assert _login(admin, PASSWORD, CLINIC) == 302
    assert signin_address_throttled(VISITOR)
    call_command("unlock", "--address", VISITOR)
    assert "may sign in again (8 failed sign-in(s) cleared)" in capsys.readouterr().out
    assert not signin_address_throttled(VISITOR)
    entries = AuditEntry.objects.filter(action="lockout_lifted", actor_id=None)
    assert [e.object_id for e in entries] == [admin, VISITOR]
    assert entries[0].detail["via"] == "ketaclinic unlock"
    with pytest.raises(CommandError, match="no account named 'nosuch'"):
        call_command("unlock", "nosuch")
