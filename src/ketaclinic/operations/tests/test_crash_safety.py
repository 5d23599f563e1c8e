"""Crash safety: a bounded write load through the real server (`ketaclinic serve`, gunicorn),
killed with SIGKILL in the middle of it, then started again.

Nurses chart vital signs (saved without a page reload, as htmx does) and sedation scores,
enter questionnaires through the JSON API, start infusions (each start draws from a vial in
the controlled-substance register) and account for the draws, given and wasted before a
witness. A backup is taken while they write. After the kill every write the server
answered with success must be in the database, nothing may be half-written, `ketaclinic
audit verify` and `ketaclinic ledger verify` must exit 0, and the backup taken under load
must pass `ketaclinic backup verify`.

Bounded to about a minute, so it is marked `crash` and runs in `.ci/run` on SQLite and on
PostgreSQL rather than in `make test`: `.venv/bin/pytest -m crash`.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dj_database_url
import pytest
import requests

pytestmark = pytest.mark.crash

BIN = Path(sys.executable).parent / "ketaclinic"
LOAD_SECONDS = 8  # writes go on this long before the kill
WORKERS = 4  # one nurse and one patient's session each
MESSAGE_LEVELS = {"success": 25, "error": 40}


@dataclass
class Install:
    var_dir: Path
    database_url: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KETACLINIC_ENV"}}
        env.update(
            {
                "KETACLINIC_VAR_DIR": str(self.var_dir),
                "DATABASE_URL": self.database_url,
                "DJANGO_SETTINGS_MODULE": "ketaclinic.settings",
                "KETACLINIC_LOG_LEVEL": "ERROR",
            }
        )
        return env

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    def ketaclinic(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(BIN), *args)

    def helper(self, command: str, stdin: str | None = None) -> dict[str, Any]:
        result = self.run(
            sys.executable, "-m", "ketaclinic.operations.tests.crash_load", command, stdin=stdin
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Install]:
    """A clinic of its own, on the suite's database engine (a PostgreSQL database of its own
    when DATABASE_URL is PostgreSQL, dropped afterwards)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield Install(tmp_path, f"sqlite:///{tmp_path / 'ketaclinic.sqlite3'}")
        return
    import psycopg  # only on the PostgreSQL leg

    server = dj_database_url.parse(url)
    name = f"kc_crash_{uuid.uuid4().hex[:10]}"
    params = {
        "host": server.get("HOST") or None,
        "port": server.get("PORT") or None,
        "user": server.get("USER") or None,
        "password": server.get("PASSWORD") or None,
        "dbname": "postgres",
        "autocommit": True,
    }
    with psycopg.connect(**params) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    login = server.get("USER") or ""
    if server.get("PASSWORD"):
        login += f":{server['PASSWORD']}"
    host = f"{server.get('HOST') or 'localhost'}:{server.get('PORT') or 5432}"
    try:
        yield Install(tmp_path, f"postgres://{login}@{host}/{name}")
    finally:
        with psycopg.connect(**params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """`ketaclinic serve` in a process group of its own, so SIGKILL takes gunicorn's master
    and every worker at once, as a power cut or the kernel's OOM killer would."""

    def __init__(self, install: Install, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [str(BIN), "serve", "--port", str(port), "--workers", "2", "--threads", "4"],
            env=install.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()  # never leave a server behind a failed start
            raise

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or listening while its workers still boot
            assert self.process.poll() is None, "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not answer /healthz"
            time.sleep(0.2)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)


def _flash(response: requests.Response) -> list[tuple[int, str]]:
    """The messages a redirect carries to the next page (Django's cookie storage: a signed,
    maybe compressed JSON list; the signature is the server's to check, the text ours)."""
    value = response.cookies.get("messages")
    if not value:
        return []
    payload = value.strip('"').split(":", 1)[0]  # payload:timestamp:signature
    compressed, payload = payload.startswith("."), payload.lstrip(".")
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    decoded = json.loads(zlib.decompress(data) if compressed else data)
    return [(item[2], item[3]) for item in decoded if item and item[0] == "__json_message"]


def _succeeded(response: requests.Response, done: str) -> bool:
    return response.status_code == 302 and (MESSAGE_LEVELS["success"], done) in _flash(response)


@dataclass
class Acknowledged:
    """The writes the server answered with success, in the form check() reads them."""

    sessions: list[dict[str, Any]]
    vitals: list[dict[str, int]] = field(default_factory=list)
    scores: Counter[int] = field(default_factory=Counter)
    responses: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    administered: Counter[int] = field(default_factory=Counter)
    wasted: Counter[int] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    cut_off: int = 0  # writes in flight when the server was killed: never acknowledged
    lock: threading.Lock = field(default_factory=threading.Lock)

    def as_json(self) -> str:
        return json.dumps(
            {
                "sessions": self.sessions,
                "vitals": self.vitals,
                "scores": dict(self.scores),
                "responses": self.responses,
                "started": self.started,
                "administered": dict(self.administered),
                "wasted": dict(self.wasted),
            }
        )

    @property
    def writes(self) -> int:
        return (
            len(self.vitals)
            + sum(self.scores.values())
            + len(self.responses)
            + len(self.started)
            + sum(self.administered.values())
            + sum(self.wasted.values())
        )


class Nurse:
    """One nurse at a browser, charting one patient's session."""

    def __init__(self, base: str, username: str, password: str, session: dict[str, Any]) -> None:
        self.base, self.session = base, session
        self.http = requests.Session()
        self.http.get(f"{base}/accounts/login/", timeout=10)
        signed_in = self.http.post(
            f"{base}/accounts/login/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": self.http.cookies["csrftoken"],
            },
            headers={"Referer": f"{base}/accounts/login/"},
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        self.chart = f"{base}/patients/{session['patient_id']}/sessions/{session['id']}/"

    def post(self, url: str, data: dict[str, Any], **headers: str) -> requests.Response:
        token = self.http.cookies["csrftoken"]
        return self.http.post(
            url,
            data={**data, "csrfmiddlewaretoken": token},
            headers={"X-CSRFToken": token, "Referer": self.chart, **headers},
            allow_redirects=False,
            timeout=30,
        )


def _load(
    nurse: Nurse, worker: int, witness: int, password: str, acked: Acknowledged, stop: Any
) -> None:
    """Writes until the server goes away (or the time is up). Each is recorded as
    acknowledged only once its success answer has arrived."""
    rng = random.Random(worker)
    session, chart = nurse.session, nurse.chart
    draw_id: int | None = None
    start_after = rng.uniform(0.5, 3.0)
    began = time.monotonic()
    step = 0
    try:
        while not stop.is_set():
            step += 1
            if draw_id is None and time.monotonic() - began > start_after:
                started = nurse.post(
                    chart + "dosing/",
                    {
                        "kind": "start",
                        "container": session["vial"],
                        "amount_drawn_ml": "0.8",
                        "pump_rate_ml_per_h": "150",
                    },
                )
                if _succeeded(started, "Recorded."):
                    with acked.lock:
                        acked.started.append(session["id"])
                    # A short infusion: once it is stopped the chart offers to account for
                    # the draw, given and wasted.
                    stopped = nurse.post(
                        chart + "dosing/", {"kind": "stop", "reason": "a short test infusion"}
                    )
                    page = nurse.http.get(chart, timeout=30).text
                    found = re.search(r"/draws/(\d+)/account/", page)
                    if not _succeeded(stopped, "Recorded.") or found is None:
                        acked.refused["stop"] += 1
                        draw_id = -1
                        continue
                    draw_id = int(found.group(1))
                else:
                    acked.refused["start"] += 1
                    draw_id = -1
                continue
            choice = rng.random()
            if choice < 0.45:
                reading = {
                    "session": session["id"],
                    "systolic": 110 + step % 30,
                    "heart_rate": 60 + (step // 30) % 40,
                }
                answer = nurse.post(
                    chart + "vitals/",
                    {
                        "systolic": reading["systolic"],
                        "diastolic": 72,
                        "heart_rate": reading["heart_rate"],
                        "spo2": 98,
                        "respiratory_rate": 14,
                    },
                    **{"HX-Request": "true"},
                )
                if answer.status_code == 200 and answer.headers.get("HX-Trigger") == "vitalsSaved":
                    with acked.lock:
                        acked.vitals.append(reading)
                else:
                    acked.refused["vitals"] += 1
            elif choice < 0.6:
                answer = nurse.post(chart + "scores/", {"instrument": "moaas", "score": 5})
                if _succeeded(answer, "Score recorded."):
                    with acked.lock:
                        acked.scores[session["id"]] += 1
                else:
                    acked.refused["score"] += 1
            elif choice < 0.75:
                token = nurse.http.cookies["csrftoken"]
                answer = nurse.http.post(
                    f"{nurse.base}/api/patients/{session['patient_id']}/responses",
                    json={"instrument": "phq9", "answers": [rng.randint(0, 3) for _ in range(9)]},
                    headers={"X-CSRFToken": token, "Referer": chart},
                    timeout=30,
                )
                if answer.status_code == 201:
                    with acked.lock:
                        acked.responses.append(int(answer.json()["id"]))
                else:
                    acked.refused["response"] += 1
            elif draw_id and draw_id > 0:
                wasting = choice > 0.93
                amount = {"wasted_ml": "0.005"} if wasting else {"administered_ml": "0.005"}
                witnessed = {"witness": witness, "witness_password": password} if wasting else {}
                answer = nurse.post(chart + f"draws/{draw_id}/account/", {**amount, **witnessed})
                if _succeeded(answer, "Recorded in the controlled-substance register."):
                    with acked.lock:
                        (acked.wasted if wasting else acked.administered)[session["id"]] += 1
                else:
                    acked.refused["account"] += 1
    except (requests.ConnectionError, requests.Timeout):
        # The server was killed: whatever was in flight is unknown, never acknowledged.
        with acked.lock:
            acked.cut_off += 1


def test_every_acknowledged_write_survives_a_kill_9_and_both_chains_verify(
    install: Install,
) -> None:
    began = time.monotonic()
    migrated = install.ketaclinic("migrate", "--no-input", "-v0")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    clinic = install.helper("prepare")
    port = _free_port()
    server = Server(install, port)
    acked = Acknowledged(sessions=clinic["sessions"])
    stop = threading.Event()
    try:
        nurses = [
            Nurse(server.base, username, clinic["password"], session)
            for username, session in zip(clinic["nurses"], clinic["sessions"], strict=True)
        ]
        threads = [
            threading.Thread(
                target=_load,
                args=(nurse, n, clinic["witness"], clinic["password"], acked, stop),
            )
            for n, nurse in enumerate(nurses)
        ]
        for thread in threads:
            thread.start()
        load_began = time.monotonic()
        time.sleep(LOAD_SECONDS / 3)
        # A backup taken while the nurses go on writing (verified below, after the crash).
        backup = install.ketaclinic("backup", "--to", str(install.var_dir / "backups"))
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - load_began)))
        before_kill = acked.writes
        server.kill()  # mid-load: the writers are still sending
        for thread in threads:
            thread.join(timeout=60)
        stop.set()
    finally:
        server.stop()
    assert before_kill >= 40, f"too little load before the kill ({before_kill} writes)"
    assert acked.cut_off >= 1, "the kill did not land in the middle of the load"
    assert acked.started and sum(acked.administered.values()) > 0, acked
    assert acked.refused.total() <= acked.writes // 10, acked.refused

    # The server starts again on the same database and takes writes.
    restarted = Server(install, port)
    try:
        after = Nurse(
            restarted.base, clinic["nurses"][0], clinic["password"], clinic["sessions"][0]
        )
        answer = after.post(
            after.chart + "vitals/",
            {
                "systolic": 140,
                "diastolic": 72,
                "heart_rate": 99,
                "spo2": 98,
                "respiratory_rate": 14,
            },
            **{"HX-Request": "true"},
        )
        assert answer.headers.get("HX-Trigger") == "vitalsSaved"
        acked.vitals.append(
            {"session": clinic["sessions"][0]["id"], "systolic": 140, "heart_rate": 99}
        )
    finally:
        restarted.stop()

    report = install.helper("check", stdin=acked.as_json())
    assert report["problems"] == [], report["problems"][:20]
    for check in (("audit", "verify"), ("ledger", "verify")):
        verified = install.ketaclinic(*check)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    # The backup made under load restores into a scratch database with both chains intact.
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (archive,) = (install.var_dir / "backups").glob("ketaclinic-*.tar.gz")
    verified = install.ketaclinic("backup", "verify", str(archive))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    print(
        f"crash test: {acked.writes} writes acknowledged ({before_kill} before the kill, "
        f"{acked.cut_off} cut off by it), "
        f"found {report['found']}, in {time.monotonic() - began:.0f} s"
    )
    assert time.monotonic() - began < 120
