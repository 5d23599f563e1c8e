"""Shared fixtures: fast hashing, factories for locations, staff and patients, and
Playwright driving Debian's Chromium."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine

from ketaclinic.accounts.roles import Role

# Playwright's sync API runs an event loop in the test thread; Django would otherwise
# refuse database access from it in live-server tests.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct-horse-battery"  # test accounts only


def pinned_instant() -> datetime | None:
    """The instant KETACLINIC_TEST_NOW names (ISO 8601 with its UTC offset), if set."""
    value = os.environ.get("KETACLINIC_TEST_NOW", "").strip()
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as exc:
        raise pytest.UsageError(f"KETACLINIC_TEST_NOW is not an ISO 8601 time: {value!r}") from exc
    if instant.tzinfo is None:
        raise pytest.UsageError(
            f"KETACLINIC_TEST_NOW needs its UTC offset (e.g. 2026-12-02T21:45:00-07:00): {value!r}"
        )
    return instant


@pytest.fixture(autouse=True, scope="session")
def _pinned_clock() -> Any:
    """Run the whole suite as if started at KETACLINIC_TEST_NOW, the clock ticking on from
    there (docs/testing.md): a test that passes only at some hours fails here too. Tests
    that pin their own instant with time_machine still do."""
    instant = pinned_instant()
    if instant is None:
        yield
        return
    with time_machine.travel(instant, tick=True):
        yield


@pytest.fixture(autouse=True)
def _clock_marker(request: pytest.FixtureRequest) -> Any:
    """`@pytest.mark.now("2026-02-23T10:00:00-07:00")` runs the test and its fixtures at that
    instant (the clock ticking on; `tick=False` freezes it), for tests whose dates are written
    out, so that they do not depend on the day the suite runs."""
    marker = request.node.get_closest_marker("now")
    if marker is None:
        yield
        return
    with time_machine.travel(
        datetime.fromisoformat(marker.args[0]), tick=marker.kwargs.get("tick", True)
    ):
        yield


# Long-running tests that `.ci/run` selects with -m and `make test` leaves out.
OPT_IN_MARKERS = ("crash", "fuzz")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the crash and fuzz tests unless the -m expression names them."""
    chosen = config.getoption("markexpr") or ""
    for item in items:
        for marker in OPT_IN_MARKERS:
            if item.get_closest_marker(marker) and marker not in chosen:
                item.add_marker(pytest.mark.skip(reason=f"run with -m {marker} (.ci/run does)"))


def pytest_report_header() -> str:
    instant = pinned_instant()
    return f"clock: pinned to {instant.isoformat()} (KETACLINIC_TEST_NOW)" if instant else ""


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _audit_anchors_of_this_test(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test's audit anchors go to a file of its own, never to var/ (docs/audit.md)."""
    settings.KETACLINIC_AUDIT_ANCHOR_FILE = str(
        tmp_path_factory.mktemp("anchors") / "audit-anchors.jsonl"
    )


@pytest.fixture
def make_location(db: None) -> Callable[..., Any]:
    from ketaclinic.organization.models import Location, Organization

    def make(short_name: str = "SLC", state: str = "UT", tz: str = "America/Denver") -> Location:
        organization = Organization.objects.first() or Organization.objects.create(name="Test org")
        return Location.objects.create(
            organization=organization,
            short_name=short_name,
            name=f"{short_name} Clinic",
            address_line1="1 Main St",
            city=short_name,
            state=state,
            postal_code="84111",
            timezone=tz,
            phone="(801) 555-0100",
        )

    return make


@pytest.fixture
def make_user(db: None) -> Callable[..., Any]:
    from ketaclinic.accounts.services import user_create

    counter = iter(range(1, 10_000))

    def make(
        role: Role | str,
        locations: list[Any] | None = None,
        patient: Any = None,
        username: str | None = None,
    ) -> Any:
        role = Role(role)
        return user_create(
            username=username or f"{role.value}{next(counter)}",
            password=PASSWORD,
            role=role,
            first_name="Test",
            last_name=role.label,
            locations=locations or [],
            patient=patient,
            check_password=False,
        )

    return make


@pytest.fixture
def make_patient(db: None) -> Callable[..., Any]:
    from ketaclinic.patients.models import Patient
    from ketaclinic.patients.services import mrn_allocate

    def make(location: Any, first: str = "Ada", last: str = "Lovelace", **fields: Any) -> Patient:
        patient = Patient(
            mrn=mrn_allocate()[0],
            legal_first_name=first,
            legal_last_name=last,
            date_of_birth=fields.pop("date_of_birth", date(1980, 4, 2)),
            sex_at_birth="female",
            phone="(801) 555-0123",
            state=location.state,
            primary_location=location,
            **fields,
        )
        patient.derive_fields()
        patient.save()
        return patient

    return make


@pytest.fixture
def clinic(make_location: Any, make_user: Any, make_patient: Any) -> dict[str, Any]:
    """Two locations, staff of each role at the first, a nurse at the second, and one
    patient (with a portal account) at each location; the therapist cares for the first."""
    from ketaclinic.patients.models import CareTeamAssignment

    slc = make_location("SLC", "UT")
    boise = make_location("Boise", "ID", "America/Boise")
    patient_slc = make_patient(slc, "Ada", "Lovelace")
    patient_boise = make_patient(boise, "Grace", "Hopper")
    director = make_user(Role.MEDICAL_DIRECTOR)
    therapist = make_user(Role.THERAPIST, [slc])
    # The therapist cares for the SLC patient only (patients.selectors.patient_scope).
    CareTeamAssignment.objects.create(
        patient=patient_slc, clinician=therapist, assigned_by=director
    )
    return {
        "slc": slc,
        "boise": boise,
        "patient_slc": patient_slc,
        "patient_boise": patient_boise,
        "coordinator": make_user(Role.COORDINATOR, [slc]),
        "nurse": make_user(Role.NURSE, [slc]),
        "prescriber": make_user(Role.PRESCRIBER, [slc]),
        "director": director,
        "therapist": therapist,
        "admin": make_user(Role.ADMIN),
        "nurse_boise": make_user(Role.NURSE, [boise]),
        "patient_user": make_user(Role.PATIENT, patient=patient_slc),
        "patient_user_boise": make_user(Role.PATIENT, patient=patient_boise),
    }


# Playwright: Debian's Chromium, launched by path (no browser download is possible).
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM}; `make test` installs Debian's chromium."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def demo(live_server: Any) -> str:
    """A small demo clinic behind a live server; returns its base URL."""
    from ketaclinic.operations.demo import seed_demo

    seed_demo(patients=12)
    return str(live_server.url)


def log_in(page: Any, base: str, username: str) -> None:
    """Log in through the real form with the demo password and wait to leave the page."""
    from playwright.sync_api import expect

    from ketaclinic.operations.demo import DEMO_PASSWORD

    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))
    page.wait_for_load_state()


def complete_intake(
    actor: Any,
    patient: Any,
    route: str = "iv_ketamine",
    answers: dict[str, dict[str, Any]] | None = None,
) -> Any:
    """An intake with every step saved (default answers: nothing to report)."""
    from ketaclinic.eligibility.services import INTAKE_STEP_KEYS, intake_save_step, intake_start

    intake = intake_start(actor=actor, patient=patient, route=route)
    for step in INTAKE_STEP_KEYS:
        intake = intake_save_step(
            actor=actor,
            intake=intake,
            step=step,
            answers=(answers or {}).get(step, {}),
            expected_version=intake.version,
        )
    return intake


def open_on_the_day(protocol: Any, day: date) -> Any:
    """`protocol`, planning sessions on every day of the week when its first phase does not
    plan on `day`'s weekday (the packaged protocols plan Monday to Friday): a test that
    charts a session today then runs on a Saturday or Sunday as in a clinic open seven days,
    instead of failing at the weekend. The test clinic's copy is changed in place, so
    version numbers stay what the tests expect. The weekday rules themselves are tested on
    dates written out (clinical/tests/test_schedule.py and the booking tests)."""
    from ketaclinic.clinical.schedule import first_phase_plans_on, schedule_every_weekday

    schedule = protocol.data["schedule"]
    if first_phase_plans_on(schedule, day.weekday()):
        return protocol
    type(protocol).objects.filter(pk=protocol.pk).update(
        data={**protocol.data, "schedule": schedule_every_weekday(schedule)}
    )
    protocol.refresh_from_db()
    return protocol


def make_course(
    patient: Any,
    actor: Any,
    protocol_key: str = "iv-ketamine-standard",
    first_day: Any = None,
    local_time: Any = None,
    password: str = PASSWORD,
) -> Any:
    """A treatment course with its signed approval and consent (esketamine: the patient
    enrolled in the REMS and the location certified). `actor` signs everything: use the
    medical director. A course starting in the past is planned as it was then: the day
    before its first session (courses are planned from today on, after the signatures)."""
    from datetime import timedelta

    from django.utils import timezone

    tz = patient.primary_location.tz
    first_day = first_day or timezone.localdate(timezone=tz)
    if first_day < timezone.localdate(timezone=tz):
        planned_at = datetime.combine(first_day - timedelta(days=1), time(10, 0), tzinfo=tz)
        with time_machine.travel(planned_at, tick=False):
            return make_course(patient, actor, protocol_key, first_day, local_time, password)

    from ketaclinic.eligibility import services as eligibility
    from ketaclinic.eligibility.models import ConsentDocument
    from ketaclinic.patients.models import BodyMeasurement
    from ketaclinic.treatment.models import ProtocolVersion
    from ketaclinic.treatment.services import course_create, protocols_seed_packaged

    protocols_seed_packaged()
    protocol = ProtocolVersion.objects.filter(key=protocol_key).order_by("-version").first()
    if first_day == timezone.localdate(timezone=tz):
        protocol = open_on_the_day(protocol, first_day)
    route = "esketamine" if protocol.route == "esketamine" else "iv_ketamine"
    BodyMeasurement.objects.create(
        patient=patient, measured_on=date(2026, 1, 5), weight_kg=Decimal("70")
    )
    intake = complete_intake(actor, patient, route)
    eligibility.eligibility_sign(
        actor=actor,
        intake=intake,
        password=password,
        decision="approve",
        override_reason="test",
        expected_version=intake.version,
    )
    document = ConsentDocument.objects.first() or eligibility.consent_document_publish(
        actor=actor, title="C", body="B"
    )
    eligibility.consent_sign(
        actor=actor,
        patient=patient,
        document=document,
        agreed=True,
        typed_name=f"{patient.legal_first_name} {patient.legal_last_name}",
        read_version=document.version,
    )
    extra = {}
    if route == "esketamine":
        location = patient.primary_location
        location.spravato_rems_certified = True
        location.spravato_rems_certification_number = "REMS-S-1001"
        location.save()
        patient.refresh_from_db()
        extra = {
            "rems_patient_enrollment_id": "P-12345",
            "rems_enrolled_on": min(date(2026, 1, 5), timezone.localdate(timezone=tz)),
        }
    return course_create(
        actor=actor,
        patient=patient,
        protocol=protocol,
        first_day=first_day,
        local_time=local_time or time(9, 0),
        **extra,
    )


@pytest.fixture(autouse=True, scope="session")
def _ledger_triggers_survive_test_flush() -> Any:
    """Transactional tests empty every table between tests: with DELETE on SQLite, which the
    ledger's and the audit log's append-only triggers refuse, and with TRUNCATE on
    PostgreSQL, which the audit log's trigger refuses. Only this test flush lifts them, and
    puts them back in the same transaction."""
    from django.db import connection

    from ketaclinic.audit import triggers as audit_triggers
    from ketaclinic.register import triggers as ledger_triggers

    guarded = [audit_triggers] + ([ledger_triggers] if connection.vendor == "sqlite" else [])
    DatabaseOperations = type(connection.ops)
    original = DatabaseOperations.sql_flush

    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        sql = original(self, style, tables, **kwargs)
        lifted = [module for module in guarded if module.TABLE in tables]
        if not lifted:
            return sql
        vendor = connection.vendor
        return [
            *(statement for module in lifted for statement in module.drop_statements(vendor)),
            *sql,
            *(statement for module in lifted for statement in module.create_statements(vendor)),
        ]

    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.sql_flush = original  # type: ignore[method-assign]
