"""Many nurses charting at once against the real server (not a test: numbers and a check
that no acknowledged write is lost).

    .venv/bin/python bench/chartists_load.py [--seconds 60] [--nurses 20] [--workers 4]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python \\
        bench/chartists_load.py            # a throwaway PostgreSQL database kc_load_<random>
    KETACLINIC_VAR_DIR=<folder> .venv/bin/python bench/chartists_load.py --existing

By default the demo clinic is seeded into a fresh database: SQLite in a temporary folder
(KETACLINIC_VAR_DIR, deleted afterwards), or, when DATABASE_URL names a PostgreSQL server,
a throwaway database created on that server and dropped afterwards. With --existing the
configured database is used as it is (KETACLINIC_VAR_DIR or DATABASE_URL, with at least
one location); accounts, patients and sessions are added to it, so use a copy.

Through the project's services, the benchmark then adds one nurse account per client
(role nurse, a password generated for this run and never stored) and one IV ketamine
session per nurse at the nurse's location, checked in today and dosing. It starts
`ketaclinic serve` on 127.0.0.1 (loopback only) with the given workers and threads and no
background worker, waits for /healthz, and runs one client thread per nurse: each logs in
through the real login form, opens its session's chart and, until --seconds have passed,
charts on it as the page does: vital signs POSTed to the htmx endpoint (saved when the
answer carries `HX-Trigger: vitalsSaved`), and every fourth entry a MOAA/S or CADSS score
through the plain form (saved when the chart it redirects to says "Score recorded.").
An answer saying that someone else changed the session is not a save: the client reloads
the chart and tries again, and it is counted apart.

After the server has stopped, every acknowledged write is looked up in the database: for
each session, each acknowledged reading's values (and each score) must be there at least as
often as they were acknowledged. Prints requests, acknowledged writes, writes per second,
latency percentiles and errors by kind. Exits 1 on any error or lost write, 2 when it
cannot run as set up (port busy, database unreachable), 130 on Ctrl+C.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

LOOPBACK = "127.0.0.1"
DEFAULT_SECONDS = 60.0
DEFAULT_NURSES = 20
DEFAULT_PATIENTS = 60
DEFAULT_MAX_REQUESTS = 200_000
# Server start-up (gunicorn workers importing Django, scipy and pandas) and shutdown.
HEALTH_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 20.0
# One request never waits longer than this: a stuck server is an error, not a hang.
REQUEST_TIMEOUT_SECONDS = 30.0
# Conflicts are retried the way a nurse would (reload, save again), a few times only.
CONFLICT_RETRIES = 3
# Twenty logins at once hash twenty passwords (PBKDF2) on a small machine: seconds, not minutes.
LOGIN_TIMEOUT_SECONDS = 120.0
CONFLICT_TEXT = "Someone else changed this session"
SCORE_EVERY = 4

_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_MESSAGES = re.compile(r'<ul class="messages">(.*?)</ul>', re.S)
_MESSAGE_ITEM = re.compile(r'<li class="([^"]*)">(.*?)</li>', re.S)
_VITALS_ERROR = re.compile(r'id="vitals-(?:error|confirm)"[^>]*>(.*?)</p>', re.S)


class CannotRun(Exception):
    """An expected condition that stops the benchmark before it measures (exit 2)."""


# --- options -----------------------------------------------------------------------------


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=DEFAULT_SECONDS,
        help=f"how long the nurses chart (default {DEFAULT_SECONDS:g})",
    )
    parser.add_argument(
        "--nurses",
        type=int,
        default=DEFAULT_NURSES,
        help=f"concurrent clients, each a nurse with a session (default {DEFAULT_NURSES})",
    )
    parser.add_argument("--workers", type=int, default=4, help="server worker processes (4)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4)")
    parser.add_argument("--host", default=LOOPBACK, help="server address: only 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--max-requests",
        type=int,
        default=DEFAULT_MAX_REQUESTS,
        help=f"hard cap on requests in all (default {DEFAULT_MAX_REQUESTS})",
    )
    parser.add_argument(
        "--patients",
        type=int,
        default=DEFAULT_PATIENTS,
        help=f"patients in the freshly seeded demo (default {DEFAULT_PATIENTS})",
    )
    parser.add_argument(
        "--existing",
        action="store_true",
        help="use the configured database as it is instead of a fresh demo",
    )
    parser.add_argument("--seed", type=int, default=20261204, help="random seed of the values")
    parser.add_argument(
        "--server-log",
        type=Path,
        default=None,
        help="keep the server's log (access log and any errors) in this file",
    )
    args = parser.parse_args()
    if args.host != LOOPBACK:
        parser.error(f"--host must be {LOOPBACK}: the benchmark only runs on loopback")
    if not 0 < args.seconds <= 3600:
        parser.error("--seconds must be more than 0 and at most 3600")
    if not 1 <= args.nurses <= 200:
        parser.error("--nurses must be from 1 to 200")
    if args.workers < 1 or args.threads < 1 or args.max_requests < 1:
        parser.error("--workers, --threads and --max-requests must be at least 1")
    if not 0 <= args.port < 65536:
        parser.error("--port must be from 1 to 65535")
    if args.patients < 12:
        parser.error("--patients must be 12 or more")
    return args


def _percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- the database ------------------------------------------------------------------------


def _postgres_url(url: str) -> bool:
    return url.split(":", 1)[0] in {"postgres", "postgresql", "pgsql", "postgis"}


def _check_loopback_database(url: str) -> None:
    """A benchmark that writes thousands of rows never goes to another machine's database."""
    if _postgres_url(url):
        host = urlsplit(url).hostname or ""
        if host != LOOPBACK:
            raise CannotRun(f"DATABASE_URL must point at {LOOPBACK}, not {host or 'a socket'}.")


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _pg_admin(url: str, statement: str) -> None:
    """Run one statement on the server's maintenance database (autocommit: CREATE and
    DROP DATABASE cannot run in a transaction)."""
    import psycopg

    parts = urlsplit(url)
    try:
        with psycopg.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as connection:
            connection.execute(statement)
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        raise CannotRun(f"Cannot reach PostgreSQL at {parts.hostname}: {first}") from error


# --- preparing nurses and sessions -------------------------------------------------------


@dataclass(frozen=True)
class Chair:
    """One client's nurse and the session in progress it charts on."""

    username: str
    patient_id: int
    session_id: int
    location: str

    @property
    def chart_url(self) -> str:
        return f"/patients/{self.patient_id}/sessions/{self.session_id}/"


def _open_today(protocol: Any, director: Any, locations: list[Any]) -> Any:
    """The protocol, or, when it plans no session on today's weekday at some location (the
    packaged protocols plan Monday to Friday), a new version of it planning every day, so
    that the load runs at the weekend too: the sessions are checked in today."""
    from django.utils import timezone

    from ketaclinic.clinical.schedule import first_phase_plans_on, schedule_every_weekday
    from ketaclinic.treatment.services import protocol_version_create

    schedule = protocol.data["schedule"]
    if all(
        first_phase_plans_on(schedule, timezone.localdate(timezone=loc.tz).weekday())
        for loc in locations
    ):
        return protocol
    return protocol_version_create(
        actor=director,
        key=protocol.key,
        data={**protocol.data, "schedule": schedule_every_weekday(schedule)},
        change_note="Sessions every day of the week, for a load test run at the weekend.",
    )


def _prepare(nurses: int, password: str, run_id: str) -> list[Chair]:
    """One nurse and one IV session dosing now per client, spread over the active locations,
    through the services a clinic's staff use (each write audited as in production)."""
    from datetime import date, timedelta
    from decimal import Decimal

    from django.utils import timezone

    from ketaclinic.accounts.roles import Role
    from ketaclinic.accounts.services import user_create
    from ketaclinic.charting import services as charting
    from ketaclinic.charting.models import SessionStatus
    from ketaclinic.charting.selectors import todays_dose
    from ketaclinic.eligibility import services as eligibility
    from ketaclinic.eligibility.selectors import current_consent_document
    from ketaclinic.eligibility.services import INTAKE_STEP_KEYS
    from ketaclinic.measures.services import response_record
    from ketaclinic.organization.models import Location
    from ketaclinic.patients.models import BodyMeasurement, Patient
    from ketaclinic.patients.services import (
        measurement_record,
        patient_nkda_verify,
        patient_register,
    )
    from ketaclinic.register.models import Container
    from ketaclinic.treatment.models import ProtocolVersion
    from ketaclinic.treatment.services import course_create, protocols_seed_packaged

    locations = list(Location.objects.filter(is_active=True).order_by("pk"))
    if not locations:
        raise CannotRun("The database has no active location to chart at.")
    protocols_seed_packaged()
    protocol = (
        ProtocolVersion.objects.filter(key="iv-ketamine-standard").order_by("-version").first()
    )
    if protocol is None:
        raise CannotRun("The protocol iv-ketamine-standard is missing.")
    # The prescriber's signatures (eligibility, course) need an account that may give them.
    director = user_create(
        username=f"load{run_id}dir",
        password=password,
        role=Role.MEDICAL_DIRECTOR,
        first_name="Load",
        last_name="Director",
    )
    document = current_consent_document() or eligibility.consent_document_publish(
        actor=director, title="Consent to ketamine treatment", body="Benchmark consent."
    )
    protocol = _open_today(protocol, director, locations)
    chairs = []
    for index in range(nurses):
        location = locations[index % len(locations)]
        nurse = user_create(
            username=f"load{run_id}n{index + 1:02d}",
            password=password,
            role=Role.NURSE,
            first_name="Load",
            last_name=f"Nurse {index + 1}",
            locations=[location],
        )
        patient = patient_register(
            actor=director,
            patient=Patient(
                legal_first_name="Loadtest",
                legal_last_name=f"Chair{run_id}x{index + 1:02d}",
                date_of_birth=date(1970 + index % 30, 1 + index % 12, 1 + index % 28),
                sex_at_birth="female" if index % 2 else "male",
                phone="(801) 555-0100",
                state=location.state,
                primary_location=location,
            ),
        )
        today = timezone.localdate(timezone=location.tz)
        measurement_record(
            actor=director,
            patient=patient,
            measurement=BodyMeasurement(
                patient=patient, measured_on=today, weight_kg=Decimal("70.0")
            ),
        )
        intake = eligibility.intake_start(actor=director, patient=patient, route="iv_ketamine")
        for step in INTAKE_STEP_KEYS:
            intake = eligibility.intake_save_step(
                actor=director,
                intake=intake,
                step=step,
                answers={},
                expected_version=intake.version,
            )
        eligibility.eligibility_sign(
            actor=director,
            intake=intake,
            password=password,
            decision="approve",
            override_reason="load benchmark patient",
            expected_version=intake.version,
        )
        eligibility.consent_sign(
            actor=director,
            patient=patient,
            document=document,
            agreed=True,
            typed_name=f"{patient.legal_first_name} {patient.legal_last_name}",
            read_version=document.version,
        )
        # The first session starts a few minutes ago today (local), so it may be checked in.
        local_now = timezone.localtime(timezone=location.tz)
        start = local_now - timedelta(minutes=5)
        course = course_create(
            actor=director,
            patient=patient,
            protocol=protocol,
            first_day=today,
            local_time=(start if start.date() == today else local_now)
            .time()
            .replace(second=0, microsecond=0),
        )
        patient_nkda_verify(actor=nurse, patient=patient)
        for key, answers in (("phq9", [1] * 9), ("cssrs-screen", [0] * 6)):
            response_record(
                actor=nurse,
                patient=patient,
                instrument_key=key,
                answers=answers,
                context="pre_session",
            )
        planned = course.planned_sessions.order_by("number").first()
        session = charting.session_check_in(actor=nurse, planned=planned, chair=None)
        session = charting.prechecks_record(
            actor=nurse,
            session=session,
            version=session.version,
            weight_kg=Decimal("70.0"),
            food_and_drink="light breakfast 07:00",
            escort_name="Sam Example",
            escort_phone="(801) 555-0142",
            pregnancy_test="not_required",
            medication_changes="none",
        )
        charting.vitals_record(
            actor=nurse,
            session=session,
            systolic=124,
            diastolic=80,
            heart_rate=74,
            spo2=98,
            respiratory_rate=14,
        )
        session.refresh_from_db()
        container = Container.objects.usable(session.location_id, "ketamine").first()
        strength = container.product.strength_mg_per_ml if container else None
        preparation = todays_dose(session, stock_mg_per_ml=strength).preparation
        if preparation is None:
            raise CannotRun(f"Session {session.pk} has no dose to prepare.")
        charting.dosing_record(
            actor=nurse,
            session=session,
            kind="start",
            lot_number="" if container else f"LOAD-{run_id}",
            amount_drawn_ml=preparation.drug_volume_ml,
            pump_rate_ml_per_h=preparation.rate_ml_per_h,
            container=container,
        )
        session.refresh_from_db()
        if session.status != SessionStatus.DOSING:
            raise CannotRun(f"Session {session.pk} is {session.status}, not dosing.")
        chairs.append(Chair(nurse.username, patient.pk, session.pk, location.short_name))
    return chairs


# --- the server --------------------------------------------------------------------------


@contextmanager
def _server(args: argparse.Namespace, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`ketaclinic serve` in its own process group, stopped whatever happens."""
    import requests

    command = [
        str(Path(sys.executable).parent / "ketaclinic"),
        "serve",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--threads",
        str(args.threads),
    ]
    base = f"http://{args.host}:{args.port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own command, fixed arguments
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                raise CannotRun(
                    f"The server exited with {process.returncode}: "
                    + (tail[0] if tail else "(nothing logged)")
                )
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise CannotRun(
                    f"The server did not answer /healthz in {HEALTH_TIMEOUT_SECONDS:g} s."
                )
            time.sleep(0.25)
        _await_warm_ups(log_path, args.workers, deadline)
        yield base
    finally:
        _stop(process)


def _await_warm_ups(log_path: Path, workers: int, deadline: float) -> None:
    """Each worker warms the outcomes cache once it has loaded the app (about a second of
    CPU each): measure the steady state, not the workers' start."""
    while time.monotonic() < deadline:
        if log_path.read_text(errors="replace").count("Warm-up ") >= workers:
            return
        time.sleep(0.25)
    print("(not every worker reported its warm-up; measuring anyway)", flush=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """TERM the whole group (gunicorn's master and workers), KILL what is left."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers that outlived their master
    process.wait()


# --- the clients -------------------------------------------------------------------------


@dataclass
class Tally:
    """What all clients did, under one lock."""

    max_requests: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    confirmations: int = 0
    elapsed: float = 0.0
    # The load generator shares the machine: its own CPU and the load average tell how much.
    client_cpu_seconds: float = 0.0
    load_average: tuple[float, float] = (0.0, 0.0)
    # Per session: Counter of the values of each acknowledged write.
    vitals: dict[int, Counter[tuple[int, ...]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    scores: dict[int, Counter[tuple[str, int]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )

    def take_request(self) -> bool:
        with self.lock:
            if self.requests >= self.max_requests:
                return False
            self.requests += 1
            return True

    def timed(self, kind: str, ms: float) -> None:
        with self.lock:
            self.latencies[kind].append(ms)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1

    def acknowledged(self) -> int:
        with self.lock:
            return sum(sum(c.values()) for c in self.vitals.values()) + sum(
                sum(c.values()) for c in self.scores.values()
            )


class RequestCapReached(Exception):
    pass


class Nurse:
    """One client: its own HTTP session (cookies, CSRF), charting on its own chair."""

    def __init__(self, chair: Chair, password: str, base: str, tally: Tally, seed: int) -> None:
        import requests

        self.chair = chair
        self.password = password
        self.base = base
        self.tally = tally
        self.rng = random.Random(seed)
        self.http = requests.Session()
        self.csrf = ""

    def _request(self, kind: str, method: str, path: str, **kwargs: Any) -> Any:
        if not self.tally.take_request():
            raise RequestCapReached
        started = time.perf_counter()
        response = self.http.request(
            method,
            self.base + path,
            timeout=REQUEST_TIMEOUT_SECONDS,
            allow_redirects=False,
            **kwargs,
        )
        self.tally.timed(kind, (time.perf_counter() - started) * 1000)
        return response

    def _take_csrf(self, html: str) -> None:
        found = _CSRF_INPUT.search(html)
        if found:
            self.csrf = found.group(1)

    def log_in(self) -> bool:
        form = self._request("login", "GET", "/accounts/login/")
        self._take_csrf(form.text)
        answer = self._request(
            "login",
            "POST",
            "/accounts/login/",
            data={
                "username": self.chair.username,
                "password": self.password,
                "csrfmiddlewaretoken": self.csrf,
            },
            headers={"Referer": self.base + "/accounts/login/"},
        )
        where = answer.headers.get("Location", "")
        if answer.status_code != 302 or "/accounts/" in where:
            # /accounts/2fa/ would mean the clinic requires a second factor of nurses.
            self.tally.error(f"login refused (HTTP {answer.status_code} {where or ''})".strip())
            return False
        return self.open_chart("login") is not None

    def open_chart(self, kind: str = "chart GET") -> str | None:
        page = self._request(kind, "GET", self.chair.chart_url)
        if page.status_code != 200:
            self.tally.error(f"{kind}: HTTP {page.status_code}")
            return None
        self._take_csrf(page.text)
        return str(page.text)

    def _headers(self, htmx: bool) -> dict[str, str]:
        headers = {"X-CSRFToken": self.csrf, "Referer": self.base + self.chair.chart_url}
        if htmx:
            headers |= {"HX-Request": "true", "HX-Current-URL": self.base + self.chair.chart_url}
        return headers

    def _reading(self) -> dict[str, int]:
        # Within the protocol's usual ranges (no confirmation asked, no alert raised).
        systolic = self.rng.randint(112, 138)
        return {
            "systolic": systolic,
            "diastolic": systolic - self.rng.randint(38, 52),
            "heart_rate": self.rng.randint(60, 92),
            "spo2": self.rng.randint(95, 100),
            "respiratory_rate": self.rng.randint(12, 18),
        }

    def chart_vitals(self) -> None:
        reading = self._reading()
        data: dict[str, Any] = dict(reading)
        for _attempt in range(CONFLICT_RETRIES + 1):
            answer = self._request(
                "vitals POST",
                "POST",
                self.chair.chart_url + "vitals/",
                data={**data, "csrfmiddlewaretoken": self.csrf},
                headers=self._headers(htmx=True),
            )
            if answer.status_code != 200:
                self.tally.error(f"vitals POST: HTTP {answer.status_code}")
                return
            if answer.headers.get("HX-Trigger") == "vitalsSaved":
                key = tuple(reading[name] for name in sorted(reading))
                with self.tally.lock:
                    self.tally.vitals[self.chair.session_id][key] += 1
                return
            text = answer.text
            if 'id="vitals-confirm"' in text and "confirm" not in data:
                # The page offers to save the same reading confirmed; a nurse who checked it
                # presses that button.
                with self.tally.lock:
                    self.tally.confirmations += 1
                data["confirm"] = "on"
                continue
            if CONFLICT_TEXT in text:
                with self.tally.lock:
                    self.tally.conflicts += 1
                if self.open_chart() is None:
                    return
                continue
            found = _VITALS_ERROR.search(text)
            message = re.sub(r"<[^>]+>", "", found.group(1)).strip() if found else "no trigger"
            self.tally.error(f"vitals refused: {message[:80]}")
            return
        self.tally.error("vitals: still conflicting after retries")

    def chart_score(self) -> None:
        instrument, score = (
            ("moaas", self.rng.randint(3, 5))
            if self.rng.random() < 0.5
            else ("cadss", self.rng.randint(0, 30))
        )
        for _attempt in range(CONFLICT_RETRIES + 1):
            answer = self._request(
                "score POST",
                "POST",
                self.chair.chart_url + "scores/",
                data={"instrument": instrument, "score": score, "csrfmiddlewaretoken": self.csrf},
                headers=self._headers(htmx=False),
            )
            if answer.status_code != 302:
                self.tally.error(f"score POST: HTTP {answer.status_code}")
                return
            # The plain form redirects to the chart, which shows what became of the score.
            page = self.open_chart()
            if page is None:
                return
            found = _MESSAGES.search(page)
            notes = _MESSAGE_ITEM.findall(found.group(1)) if found else []
            if any(text.strip() == "Score recorded." for _tags, text in notes):
                with self.tally.lock:
                    self.tally.scores[self.chair.session_id][(instrument, score)] += 1
                return
            if any(CONFLICT_TEXT in text for _tags, text in notes):
                with self.tally.lock:
                    self.tally.conflicts += 1
                continue
            said = "; ".join(text.strip() for _tags, text in notes) or "no message"
            self.tally.error(f"score refused: {said[:80]}")
            return
        self.tally.error("score: still conflicting after retries")

    def run(self, start: threading.Barrier, deadline: list[float]) -> None:
        import requests

        try:
            # Logged in (or refused) before the measured window; the barrier opens it.
            logged_in = self.log_in()
            # Waiting for the others idles the keep-alive connection past gunicorn's 2 s, and
            # a request sent as the server closes it is lost in transit (a browser resends
            # it); start the window on a new connection instead (the cookies stay).
            self.http.close()
            start.wait(timeout=LOGIN_TIMEOUT_SECONDS)
            if not logged_in:
                return
            entry = 0
            while time.monotonic() < deadline[0]:
                entry += 1
                if entry % SCORE_EVERY == 0:
                    self.chart_score()
                else:
                    self.chart_vitals()
        except RequestCapReached:
            pass
        except threading.BrokenBarrierError:
            self.tally.error("not every client logged in in time")
        except requests.Timeout:
            self.tally.error(f"timeout (no answer in {REQUEST_TIMEOUT_SECONDS:g} s)")
        except requests.RequestException as error:
            said = re.sub(r" at 0x[0-9a-f]+", "", str(error))[:100]
            self.tally.error(f"{type(error).__name__}: {said}")
        finally:
            self.http.close()


def _drive(chairs: list[Chair], password: str, base: str, args: argparse.Namespace) -> Tally:
    tally = Tally(max_requests=args.max_requests)
    clients = [
        Nurse(chair, password, base, tally, args.seed + index) for index, chair in enumerate(chairs)
    ]
    # Everyone logs in first; the measured window starts when the last barrier party arrives.
    barrier = threading.Barrier(len(clients) + 1)
    deadline = [math.inf]
    threads = [
        threading.Thread(target=c.run, args=(barrier, deadline), name=c.chair.username, daemon=True)
        for c in clients
    ]
    for thread in threads:
        thread.start()
    try:
        barrier.wait(timeout=LOGIN_TIMEOUT_SECONDS)
    except threading.BrokenBarrierError:
        tally.error(f"not every client logged in within {LOGIN_TIMEOUT_SECONDS:g} s")
    started = time.monotonic()
    cpu_before, load_before = time.process_time(), os.getloadavg()[0]
    deadline[0] = started + args.seconds
    # A hard wall: clients past it are abandoned (daemon threads) and counted as errors.
    hard_stop = deadline[0] + REQUEST_TIMEOUT_SECONDS * (CONFLICT_RETRIES + 2)
    for thread in threads:
        thread.join(timeout=max(0.0, hard_stop - time.monotonic()))
    tally.elapsed = time.monotonic() - started
    tally.client_cpu_seconds = time.process_time() - cpu_before
    tally.load_average = (load_before, os.getloadavg()[0])
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        tally.error(f"{stuck} clients still running at the hard time limit")
    return tally


# --- checking the database ---------------------------------------------------------------


def _stored(chairs: list[Chair], tally: Tally) -> tuple[list[str], int, int]:
    """Per session, every acknowledged write found in the database. Returns lines to print,
    writes lost and rows found."""
    from django.db import connections

    from ketaclinic.charting.models import SessionScore, VitalSign

    connections.close_all()  # a fresh connection sees everything the server committed
    lines, lost_total, rows_total = [], 0, 0
    for chair in chairs:
        sid = chair.session_id
        names = ["diastolic", "heart_rate", "respiratory_rate", "spo2", "systolic"]
        stored_vitals = Counter(
            tuple(row)
            for row in VitalSign.objects.filter(session_id=sid, predose=False).values_list(*names)
        )
        stored_scores = Counter(
            SessionScore.objects.filter(session_id=sid).values_list("instrument", "score")
        )
        acked_vitals, acked_scores = (
            tally.vitals.get(sid, Counter()),
            tally.scores.get(sid, Counter()),
        )
        lost = sum((acked_vitals - stored_vitals).values()) + sum(
            (acked_scores - stored_scores).values()
        )
        acked = sum(acked_vitals.values()) + sum(acked_scores.values())
        rows = sum(stored_vitals.values()) + sum(stored_scores.values())
        lost_total += lost
        rows_total += rows
        lines.append(
            f"  session {sid:>6} ({chair.location}, {chair.username}): acknowledged {acked:>5}, "
            f"rows {rows:>5}, lost {lost}"
        )
    return lines, lost_total, rows_total


# --- the run -----------------------------------------------------------------------------


def _report(chairs: list[Chair], tally: Tally, args: argparse.Namespace, source: str) -> int:
    elapsed = tally.elapsed or args.seconds
    acked = tally.acknowledged()
    print(f"Database: {source}")
    print(
        f"Server: ketaclinic serve --workers {args.workers} --threads {args.threads} on "
        f"{args.host}:{args.port}; {len(chairs)} nurses, {args.seconds:g} s; "
        f"{os.cpu_count()} CPUs"
    )
    every = [ms for kind, values in tally.latencies.items() if kind != "login" for ms in values]
    print(
        f"requests {tally.requests} ({len(tally.latencies.get('login', []))} to log in)  "
        f"acknowledged writes {acked}  "
        f"throughput {acked / elapsed:.1f} writes/s over {elapsed:.1f} s"
    )
    for kind in ("vitals POST", "score POST", "chart GET", "login"):
        values = tally.latencies.get(kind)
        if values:
            print(
                f"  {kind:<12} n {len(values):>6}  p50 {_percentile(values, 0.5):7.1f} ms  "
                f"p95 {_percentile(values, 0.95):7.1f} ms  max {max(values):7.1f} ms"
            )
    if every:
        print(
            f"  {'all charting':<12} n {len(every):>6}  p50 {_percentile(every, 0.5):7.1f} ms  "
            f"p95 {_percentile(every, 0.95):7.1f} ms  max {max(every):7.1f} ms"
        )
    print(
        f"optimistic-lock conflicts (reloaded and retried, not counted as saves) "
        f"{tally.conflicts}; confirmations asked {tally.confirmations}"
    )
    print(
        f"load generator CPU {tally.client_cpu_seconds:.1f} s in the window; load average "
        f"{tally.load_average[0]:.1f} at its start, {tally.load_average[1]:.1f} at its end"
    )
    if tally.requests >= args.max_requests:
        print(f"stopped at the request cap of {args.max_requests}")
    print("errors: " + (", ".join(f"{k}: {n}" for k, n in tally.errors.most_common()) or "0"))
    lines, lost, rows = _stored(chairs, tally)
    print("stored (checked after the server stopped):")
    print("\n".join(lines))
    print(f"acknowledged {acked}, rows found {rows}, lost {lost}")
    failed = bool(tally.errors) or lost > 0
    print("FAIL" if failed else "OK: no error, no acknowledged write lost")
    return 1 if failed else 0


def _run(args: argparse.Namespace, workdir: Path) -> int:
    import django

    django.setup()

    from django.core.exceptions import ValidationError
    from django.core.management import call_command
    from django.db import OperationalError, connection, connections

    from ketaclinic.operations.demo import seed_demo
    from ketaclinic.operations.maintenance import database_unmigrated

    try:
        if args.existing:
            connection.ensure_connection()
            if database_unmigrated():
                raise CannotRun(
                    "The database is not set up or not up to date: run `ketaclinic migrate` "
                    "(and `ketaclinic demo`) first, or leave out --existing."
                )
            source = f"existing database ({connection.vendor}, {connection.settings_dict['NAME']})"
        else:
            started = time.perf_counter()
            call_command("migrate", verbosity=0)
            seed_demo(patients=args.patients)
            source = (
                f"fresh demo, {args.patients} patients ({connection.vendor}, "
                f"{connection.settings_dict['NAME']}), seeded in "
                f"{time.perf_counter() - started:.1f} s"
            )
    except OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        raise CannotRun(f"Cannot use the database: {first}") from error
    # A password for this run only: never printed, never stored outside the hashes.
    password = secrets.token_urlsafe(18)
    run_id = secrets.token_hex(3)
    started = time.perf_counter()
    try:
        chairs = _prepare(args.nurses, password, run_id)
    except ValidationError as refused:
        # The clinic's rules refused a step (e.g. an existing database set up differently).
        raise CannotRun("Could not prepare the sessions: " + " ".join(refused.messages)) from None
    print(
        f"Prepared {len(chairs)} nurses and sessions dosing in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    connections.close_all()  # the server's workers get the database to themselves
    env = {**os.environ, "KETACLINIC_BACKGROUND_WORKER": "0"}
    log_path = workdir / "server.log"
    try:
        with _server(args, env, log_path) as base:
            tally = _drive(chairs, password, base, args)
    finally:
        if args.server_log is not None and log_path.exists():
            shutil.copyfile(log_path, args.server_log)
    status = _report(chairs, tally, args, source)
    problems = _server_problems(log_path)
    if problems:
        print("server log, errors logged: " + "; ".join(problems))
    return status


def _server_problems(log_path: Path) -> list[str]:
    """The distinct exception lines the server logged (a traceback's last line)."""
    seen: Counter[str] = Counter()
    for line in log_path.read_text(errors="replace").splitlines():
        if re.match(r"^[\w.]+(Error|Exception|Locked|Timeout)\w*: ", line):
            seen[line[:160]] += 1
    return [f"{text} (x{n})" for text, n in seen.most_common(5)]


def main() -> int:
    args = _arguments()
    workdir = Path(tempfile.mkdtemp(prefix="ketaclinic-load-"))
    throwaway_url = ""
    original_url = os.environ.get("DATABASE_URL", "")
    # SIGTERM ends the run like Ctrl+C, so the server is stopped and the database dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if original_url:
            _check_loopback_database(original_url)
        if args.port:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                    probe.bind((args.host, args.port))
            except OSError as error:
                raise CannotRun(
                    f"Cannot listen on {args.host}:{args.port} ({error.strerror}): choose "
                    "another --port or leave it out."
                ) from error
        else:
            args.port = _free_port(args.host)
        if not args.existing:
            os.environ["KETACLINIC_VAR_DIR"] = str(workdir)
            if original_url and _postgres_url(original_url):
                name = f"kc_load_{secrets.token_hex(4)}"
                _pg_admin(original_url, f'CREATE DATABASE "{name}"')
                throwaway_url = _with_database(original_url, name)
                os.environ["DATABASE_URL"] = throwaway_url
            else:
                os.environ.pop("DATABASE_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ketaclinic.settings")
        return _run(args, workdir)
    except CannotRun as problem:
        print(problem, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("Interrupted: the server is stopped.", file=sys.stderr)
        return 130
    finally:
        if throwaway_url:
            _drop(original_url, throwaway_url)
        shutil.rmtree(workdir, ignore_errors=True)


def _drop(original_url: str, throwaway_url: str) -> None:
    name = urlsplit(throwaway_url).path.lstrip("/")
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: S110 - Django may never have been set up
        pass
    try:
        _pg_admin(original_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except CannotRun as problem:
        print(f"Could not drop the database {name}: {problem}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
