"""The database side of the crash test (test_crash_safety.py), run as its own process on the
crash test's database, never on the suite's:

    python -m ketaclinic.operations.tests.crash_load prepare       (prints JSON)
    python -m ketaclinic.operations.tests.crash_load check < acked (prints JSON)

`prepare` sets up a small clinic with sessions checked in and pre-checked, their pre-dose
vital signs taken, and sealed ketamine vials in the register. `check` reads the database
after the server was killed and restarted: every write the server acknowledged must be
there, and nothing may be half-written (an entry without its audit entry, a draw without its
session's start, a container whose balance is not its ledger's)."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

import django

SESSIONS = 4


def _location(organization: Any, short_name: str, state: str, tz: str) -> Any:
    from ketaclinic.organization.models import Location

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


def prepare() -> dict[str, Any]:
    # A test helper run as a script: Django is set up only in main(), so imports come late.
    from datetime import date

    from ketaclinic.accounts.roles import Role
    from ketaclinic.accounts.services import user_create
    from ketaclinic.charting.tests.conftest import prechecked, vitals
    from ketaclinic.conftest import PASSWORD
    from ketaclinic.organization.models import Organization
    from ketaclinic.patients.models import Patient
    from ketaclinic.patients.services import mrn_allocate
    from ketaclinic.register.tests.conftest import ketamine_vials

    organization = Organization.objects.create(name="Crash test clinic")
    slc = _location(organization, "SLC", "UT", "America/Denver")
    boise = _location(organization, "Boise", "ID", "America/Boise")

    def user(role: Role, username: str, locations: list[Any]) -> Any:
        return user_create(
            username=username,
            password=PASSWORD,
            role=role,
            first_name="Crash",
            last_name=username,
            locations=locations,
            check_password=False,
        )

    nurses = [user(Role.NURSE, f"nurse{n}", [slc]) for n in range(SESSIONS)]
    clinic = {
        "slc": slc,
        "boise": boise,
        "nurse": nurses[0],
        "prescriber": user(Role.PRESCRIBER, "prescriber", [slc]),
        "director": user(Role.MEDICAL_DIRECTOR, "director", []),
        "nurse_boise": user(Role.NURSE, "nurse_boise", [boise]),
    }
    vials = ketamine_vials(clinic, count=SESSIONS)
    sessions = []
    for n, mrn in enumerate(mrn_allocate(SESSIONS)):
        patient = Patient(
            mrn=mrn,
            legal_first_name=f"Crash{n}",
            legal_last_name="Patient",
            date_of_birth=date(1980, 4, 2 + n),
            sex_at_birth="female",
            phone="(801) 555-0123",
            state="UT",
            primary_location=slc,
        )
        patient.derive_fields()
        patient.save()
        clinic["patient_slc"] = patient
        session = prechecked(clinic, patient=patient, chair=n + 1)
        vitals(nurses[0], session, 30, (128, 82))
        sessions.append({"id": session.pk, "patient_id": patient.pk, "vial": vials[n].pk})
    return {
        "password": PASSWORD,
        "nurses": [nurse.username for nurse in nurses],
        "witness": clinic["prescriber"].pk,
        "sessions": sessions,
    }


def check(acked: dict[str, Any]) -> dict[str, Any]:
    """What is wrong with the database after the crash (nothing, when `problems` is empty),
    and how many rows of each kind were acknowledged and found."""
    from django.db import connection

    from ketaclinic.audit.models import AuditEntry
    from ketaclinic.charting.models import SessionScore, TreatmentSession, VitalSign
    from ketaclinic.clinical.scoring import get_instrument
    from ketaclinic.measures.models import AssessmentResponse
    from ketaclinic.register.models import Container, EntryKind, LedgerEntry

    problems: list[str] = []
    session_ids = [s["id"] for s in acked["sessions"]]

    # 1. Every acknowledged write is there.
    for reading in acked["vitals"]:
        if not VitalSign.objects.filter(
            session_id=reading["session"],
            systolic=reading["systolic"],
            heart_rate=reading["heart_rate"],
        ).exists():
            problems.append(f"acknowledged vital signs missing: {reading}")
    for session_id, count in acked["scores"].items():
        stored = SessionScore.objects.filter(session_id=int(session_id)).count()
        if stored < count:
            problems.append(f"session {session_id}: {count} scores acknowledged, {stored} stored")
    stored_responses = set(
        AssessmentResponse.objects.filter(pk__in=acked["responses"]).values_list("pk", flat=True)
    )
    for missing in sorted(set(acked["responses"]) - stored_responses):
        problems.append(f"acknowledged questionnaire response {missing} missing")
    for session_id in acked["started"]:
        session = TreatmentSession.objects.get(pk=session_id)
        draws = LedgerEntry.objects.filter(session_id=session_id, kind=EntryKind.DRAW)
        if session.dosing_started_at is None or draws.count() != 1:
            problems.append(f"session {session_id}: acknowledged start without its one draw")
    for kind, per_session in (
        (EntryKind.ADMINISTER, acked["administered"]),
        (EntryKind.WASTE, acked["wasted"]),
    ):
        for session_id, count in per_session.items():
            stored = LedgerEntry.objects.filter(session_id=int(session_id), kind=kind).count()
            if stored < count:
                problems.append(
                    f"session {session_id}: {count} {kind} entries acknowledged, {stored} stored"
                )

    # 2. Nothing half-written: each write's parts are all there, or none of them.
    audited = {
        (entry.object_type, str(entry.detail.get("reading", entry.object_id)))
        for entry in AuditEntry.objects.filter(
            object_type__in=["vital_sign", "assessment_response", "ledger_entry"]
        )
    }
    for reading in VitalSign.objects.filter(session_id__in=session_ids):
        if ("vital_sign", str(reading.pk)) not in audited:
            problems.append(f"vital signs {reading.pk} stored without their audit entry")
    phq9_items = len(get_instrument("phq9").item_ranges)
    for response in AssessmentResponse.objects.filter(pk__in=stored_responses):
        if ("assessment_response", str(response.pk)) not in audited:
            problems.append(f"response {response.pk} stored without its audit entry")
        if len(response.answers) != phq9_items or response.total != sum(response.answers):
            problems.append(f"response {response.pk} is incomplete")
    for entry in LedgerEntry.objects.filter(session_id__in=session_ids):
        if ("ledger_entry", str(entry.pk)) not in audited:
            problems.append(f"ledger entry {entry.pk} stored without its audit entry")
    for session in TreatmentSession.objects.filter(pk__in=session_ids):
        drawn = LedgerEntry.objects.filter(session=session, kind=EntryKind.DRAW)
        if (session.dosing_started_at is None) != (not drawn.exists()):
            problems.append(f"session {session.pk}: a start and its draw not written together")
        for draw in drawn:
            used = sum((e.amount_ml for e in LedgerEntry.objects.filter(draw=draw)), Decimal("0"))
            if used > draw.amount_ml:
                problems.append(f"draw {draw.pk}: {used} mL accounted of {draw.amount_ml} mL")
    for container in Container.objects.all():
        # The newest entry for it (sequence numbers are per location; a transfer spans two).
        last = LedgerEntry.objects.filter(container=container).order_by("-pk").first()
        if last is not None and last.balance_after_ml != container.remaining_ml:
            problems.append(
                f"container {container.label}: {container.remaining_ml} mL left, but its "
                f"ledger says {last.balance_after_ml} mL"
            )
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA integrity_check")
            if cursor.fetchone()[0] != "ok":
                problems.append("SQLite integrity check failed")
    return {
        "problems": problems,
        "found": {
            "vital_signs": VitalSign.objects.filter(session_id__in=session_ids).count(),
            "scores": SessionScore.objects.filter(session_id__in=session_ids).count(),
            "responses": len(stored_responses),
            "ledger_entries": LedgerEntry.objects.filter(session_id__in=session_ids).count(),
            "audit_entries": AuditEntry.objects.count(),
        },
    }


def main() -> None:
    django.setup()
    command = sys.argv[1]
    result = prepare() if command == "prepare" else check(json.load(sys.stdin))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
