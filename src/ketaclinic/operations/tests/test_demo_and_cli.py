import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from ketaclinic.accounts.models import User
from ketaclinic.audit.services import audit_verify_chain
from ketaclinic.operations.demo import DEMO_ACCOUNTS, seed_demo
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Medication, Patient

BIN = Path(sys.executable).parent


@pytest.mark.django_db
def test_demo_clinic_is_realistic_and_deterministic() -> None:
    seed_demo(patients=30)
    locations = list(Location.objects.order_by("short_name"))
    assert len(locations) == 3
    assert {loc.state for loc in locations} <= {"UT", "ID", "WA", "OR", "NV", "AZ", "FL"}
    assert {u.username for u in User.objects.all()} >= {name for name, _ in DEMO_ACCOUNTS}
    assert set(User.objects.values_list("role", flat=True)) == {
        "coordinator",
        "nurse",
        "prescriber",
        "medical_director",
        "admin",
        "therapist",
        "patient",
    }
    assert Patient.objects.count() == 30
    patient = User.objects.get(username="patient").patient
    assert patient is not None
    # Every demo patient has failed antidepressant trials and measurements on file.
    assert all(
        p.medications.filter(medication_class="antidepressant").count() >= 2
        for p in Patient.objects.all()
    )
    assert Medication.objects.filter(trial_outcome="no_response").exists()
    assert audit_verify_chain().ok


@pytest.mark.django_db
def test_demo_is_the_same_clinic_every_time() -> None:
    class Rollback(Exception):
        pass

    def people() -> list[tuple[str, object, str]]:
        return list(
            Patient.objects.order_by("mrn").values_list(
                "legal_last_name", "date_of_birth", "primary_location__short_name"
            )
        )

    with pytest.raises(Rollback), transaction.atomic():
        seed_demo(patients=30)
        first = people()
        raise Rollback
    assert Patient.objects.count() == 0
    seed_demo(patients=30)
    assert people() == first


@pytest.mark.django_db
def test_demo_command_refuses_a_non_empty_database_unless_if_empty(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("demo", "--patients", "5")
    assert "Demo clinic ready: 5 patients" in capsys.readouterr().out
    with pytest.raises(CommandError, match="already has an organization"):
        call_command("demo", "--patients", "5")
    call_command("demo", "--if-empty")
    output = capsys.readouterr().out
    assert "not seeding again" in output and "ketaclinic-demo" in output
    assert Patient.objects.count() == 5


@pytest.mark.django_db
def test_demo_is_refused_in_production(settings: object) -> None:
    settings.PRODUCTION = True  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="production"):
        call_command("demo")


@pytest.mark.django_db
def test_createuser_validates_role_location_and_password(monkeypatch: pytest.MonkeyPatch) -> None:
    seed_demo(patients=2)
    monkeypatch.setenv("KETACLINIC_NEW_USER_PASSWORD", "a-long-enough-passphrase")
    call_command("createuser", "--role", "nurse", "--username", "newnurse", "--location", "Boise")
    assert User.objects.get(username="newnurse").locations.get().short_name == "Boise"
    with pytest.raises(CommandError, match="No location"):
        call_command("createuser", "--role", "nurse", "--username", "x1", "--location", "Mars")
    with pytest.raises(CommandError, match="at least one location"):
        call_command("createuser", "--role", "nurse", "--username", "x2")
    with pytest.raises(CommandError, match="needs the patient"):
        call_command("createuser", "--role", "patient", "--username", "x3")
    monkeypatch.setenv("KETACLINIC_NEW_USER_PASSWORD", "short")
    with pytest.raises(CommandError, match="too short"):
        call_command("createuser", "--role", "admin", "--username", "x4")


def test_cli_help_lists_the_commands() -> None:
    result = subprocess.run(
        [BIN / "ketaclinic", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("serve", "migrate", "demo", "createuser", "audit verify"):
        assert command in result.stdout
    for command in (
        ["serve", "--help"],
        ["demo", "--help"],
        ["audit", "verify", "--help"],
        ["createuser", "--help"],
    ):
        sub = subprocess.run([BIN / "ketaclinic", *command], capture_output=True, text=True)
        assert sub.returncode == 0 and "usage:" in sub.stdout, command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_runs_the_real_server_on_the_chosen_port(tmp_path: Path) -> None:
    """What `make demo` does: migrate, seed, serve; then fetch pages over HTTP."""
    env = {**os.environ, "KETACLINIC_VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    run = BIN / "ketaclinic"
    subprocess.run([run, "migrate", "--no-input", "-v0"], env=env, check=True)
    subprocess.run([run, "demo", "--patients", "3"], env=env, check=True, capture_output=True)
    port = _free_port()
    log = tmp_path / "serve.log"
    server = subprocess.Popen(
        [run, "serve", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("the server did not answer")
        assert page.status == 200 and b"Log in" in page.read()
        css = urllib.request.urlopen(f"http://127.0.0.1:{port}/static/ketaclinic/app.css")
        assert css.status == 200
        # The worker ran the apps' warm-ups in the background (operations/gunicorn_config.py).
        for _ in range(300):
            if "Warm-up 'outcomes': " in log.read_text():
                break
            time.sleep(0.1)
        assert "Warm-up 'outcomes': " in log.read_text(), log.read_text()
        assert "Background worker started" in log.read_text()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (tmp_path / "ketaclinic.sqlite3").exists()


def test_migrate_refreshes_planner_statistics(make_location: Any, make_patient: Any) -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("sqlite_stat1 is SQLite's statistics table")
    make_patient(make_location())  # SQLite records nothing for an empty table
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sqlite_stat1")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM sqlite_stat1 WHERE idx = 'patient_recent'")
        assert cursor.fetchone()[0] == 1
