"""Acceptance 1: the whole demo clinic through $export, every NDJSON line validated with
fhir.resources R4B, and the codes checked against clinical-reference.md."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.audit.models import AuditEntry
from ketaclinic.fhir.models import ExportFile, ExportJob, ExportStatus
from ketaclinic.fhir.services import exports_purge
from ketaclinic.fhir.tests.conftest import token_for, validate
from ketaclinic.operations.demo import seed_demo
from ketaclinic.patients.models import Patient

# clinical-reference.md section 8 (vital signs) and section 2 (PHQ-9, GAD-7 totals).
REFERENCE_VITALS = {"85354-9", "8480-6", "8462-4", "8867-4", "2708-6", "59408-5", "9279-1"}
REFERENCE_BODY = {"29463-7", "8302-2", "39156-5"}
REFERENCE_TOTALS = {"44261-6", "70274-6"}
RXNORM = {"6130", "2201623"}  # ketamine; esketamine nasal spray (fhir/codes.py sources)
ICD10_CM = re.compile(r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$")


def _export(client: Client, fhir_get: Any, token: str, url: str) -> dict[str, list[dict]]:
    status, _body, response = fhir_get(client, url, token, HTTP_PREFER="respond-async")
    assert status == 202, response.content
    status_url = response["Content-Location"]
    status, _body, response = fhir_get(client, status_url, token)
    assert status == 202 and response["X-Progress"].startswith("0%")
    call_command("worker", "--once")
    status, manifest, _ = fhir_get(client, status_url, token)
    assert status == 200, manifest
    assert manifest["requiresAccessToken"] is True
    lines: dict[str, list[dict]] = {}
    for output in manifest["output"]:
        response = client.get(output["url"], HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/fhir+ndjson"
        rows = [json.loads(line) for line in response.content.decode().splitlines()]
        assert len(rows) == output["count"]
        lines.setdefault(output["type"], []).extend(rows)
    return lines


@pytest.mark.django_db
def test_the_whole_demo_clinic_exports_and_every_line_validates(
    client: Client, fhir_get: Any
) -> None:
    seed_demo(patients=12)
    director = User.objects.get(username="director")
    token = token_for(client, director, ["system/*.read"])
    exported = _export(client, fhir_get, token, "/fhir/$export")

    counts = Counter()
    for type_name, resources in exported.items():
        for resource in resources:
            assert resource["resourceType"] == type_name
            validate(resource)
            counts[type_name] += 1
    assert counts["Patient"] == Patient.objects.count()
    for type_name in (
        "Condition",
        "AllergyIntolerance",
        "MedicationStatement",
        "Observation",
        "QuestionnaireResponse",
        "Questionnaire",
        "Encounter",
        "MedicationAdministration",
        "Appointment",
        "Consent",
        "Provenance",
        "Practitioner",
        "Location",
        "Organization",
    ):
        assert counts[type_name] > 0, type_name

    observations = exported["Observation"]
    loinc = {
        c["code"]
        for o in observations
        for c in o["code"]["coding"]
        if c["system"] == "http://loinc.org"
    }
    vital_codes = {
        c["code"]
        for o in observations
        if o["category"][0]["coding"][0]["code"] == "vital-signs"
        for c in o["code"]["coding"]
        + [cc for comp in o.get("component", []) for cc in comp["code"]["coding"]]
    }
    assert vital_codes <= REFERENCE_VITALS | REFERENCE_BODY
    assert {"85354-9", "8480-6", "8462-4", "8867-4", "2708-6", "59408-5", "29463-7"} <= vital_codes
    assert loinc >= REFERENCE_TOTALS
    spo2 = next(o for o in observations if o["id"].endswith("-spo2"))
    assert {c["code"] for c in spo2["code"]["coding"]} == {"2708-6", "59408-5"}
    for condition in exported["Condition"]:
        coding = condition["code"]["coding"][0]
        assert coding["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
        assert ICD10_CM.match(coding["code"]), coding
    for dose in exported["MedicationAdministration"]:
        coding = dose["medicationCodeableConcept"]["coding"][0]
        assert coding["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
        assert coding["code"] in RXNORM
        assert dose["dosage"]["dose"]["unit"] == "mg"
    # PHQ-9 item 9 is 44260-8 in the LOINC panel 44249-1.
    item9 = [o for o in observations if o["id"].endswith("-item9")]
    assert item9 and all(o["code"]["coding"][0]["code"] == "44260-8" for o in item9)

    # Every patient exported is in their access history; the file downloads are audited.
    exported_ids = {int(p["id"]) for p in exported["Patient"]}
    audited = set(
        AuditEntry.objects.filter(action="export", object_type="fhir_export").values_list(
            "patient_id", flat=True
        )
    )
    assert exported_ids <= audited
    assert (
        AuditEntry.objects.filter(object_type="fhir_export_file").count()
        == ExportFile.objects.count()
    )


@pytest.mark.django_db
def test_type_since_group_and_patient_level_exports(client: Client, fhir_get: Any) -> None:
    seed_demo(patients=12)
    director = User.objects.get(username="director")
    token = token_for(client, director, ["system/*.read"])
    only = _export(client, fhir_get, token, "/fhir/Patient/$export?_type=Patient,Condition")
    assert set(only) == {"Patient", "Condition"}
    slc = Patient.objects.filter(primary_location__short_name="SLC")
    group = _export(
        client,
        fhir_get,
        token,
        f"/fhir/Group/{slc.first().primary_location_id}/$export?_type=Patient",
    )
    assert {int(p["id"]) for p in group["Patient"]} == set(slc.values_list("pk", flat=True))
    later = quote((timezone.now() + timedelta(minutes=1)).isoformat())
    since = _export(client, fhir_get, token, f"/fhir/Patient/$export?_type=Patient&_since={later}")
    assert since == {}


@pytest.mark.django_db
def test_export_refusals_and_expiry(client: Client, fhir_get: Any, clinic: dict) -> None:
    nurse_token = token_for(client, clinic["nurse"], ["system/*.read"])
    status, body, _ = fhir_get(client, "/fhir/$export", nurse_token, HTTP_PREFER="respond-async")
    assert status == 403 and body["resourceType"] == "OperationOutcome"
    token = token_for(client, clinic["director"], ["system/Patient.read"])
    status, body, _ = fhir_get(client, "/fhir/$export", token)
    assert status == 400 and "respond-async" in body["issue"][0]["diagnostics"]
    status, body, _ = fhir_get(
        client, "/fhir/$export?_type=Observation", token, HTTP_PREFER="respond-async"
    )
    assert status == 403 and "Observation" in body["issue"][0]["diagnostics"]
    status, body, _ = fhir_get(
        client, "/fhir/$export?_since=yesterday", token, HTTP_PREFER="respond-async"
    )
    assert status == 400 and "_since" in body["issue"][0]["diagnostics"]
    assert ExportJob.objects.count() == 0

    status, _, response = fhir_get(
        client, "/fhir/$export?_type=Patient", token, HTTP_PREFER="respond-async"
    )
    status_url = response["Content-Location"]
    # Another client of the same account cannot see or cancel it.
    other = token_for(client, clinic["director"], ["system/Patient.read"])
    assert fhir_get(client, status_url, other)[0] == 404
    call_command("worker", "--once")
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.DONE and job.files.count() == 1
    assert exports_purge(now=job.expires_at - timedelta(seconds=1)) == 0
    assert exports_purge(now=job.expires_at) == 1
    job.refresh_from_db()
    assert job.status == ExportStatus.EXPIRED and job.files.count() == 0
    assert fhir_get(client, status_url, token)[0] == 404


@pytest.mark.django_db
def test_a_cancelled_export_deletes_its_files(client: Client, fhir_get: Any, clinic: dict) -> None:
    token = token_for(client, clinic["director"], ["system/*.read"])
    _s, _b, response = fhir_get(client, "/fhir/Patient/$export", token, HTTP_PREFER="respond-async")
    status_url = response["Content-Location"]
    response = client.delete(status_url, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 202
    assert ExportJob.objects.get().status == ExportStatus.CANCELLED
    call_command("worker", "--once")
    assert ExportFile.objects.count() == 0


@pytest.mark.django_db
def test_the_exports_page_keeps_its_query_count_and_is_the_directors(
    client: Client, clinic: dict
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ketaclinic.fhir.services import export_kick_off

    client.force_login(clinic["director"])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/exports/").status_code == 200
        return len(captured)

    for _ in range(2):
        export_kick_off(actor=clinic["director"], client=None, level="system", request_url="x")
    call_command("worker", "--once")
    few = queries()
    for _ in range(6):
        export_kick_off(actor=clinic["director"], client=None, level="system", request_url="x")
    call_command("worker", "--once")
    assert queries() == few
    assert client.post("/exports/").status_code == 302
    assert ExportJob.objects.filter(status=ExportStatus.QUEUED).count() == 1
    for role in ("nurse", "prescriber", "coordinator", "admin", "patient_user"):
        client.force_login(clinic[role])
        assert client.get("/exports/").status_code == 403
        assert client.post("/exports/").status_code == 403
    assert ExportJob.objects.filter(status=ExportStatus.QUEUED).count() == 1


@pytest.mark.django_db
def test_a_failed_export_says_why_and_the_worker_goes_on(
    client: Client, fhir_get: Any, clinic: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ketaclinic.fhir import services

    token = token_for(client, clinic["director"], ["system/*.read"])
    urls = []
    for _ in range(2):
        _s, _b, response = fhir_get(
            client, "/fhir/Patient/$export?_type=Patient", token, HTTP_PREFER="respond-async"
        )
        urls.append(response["Content-Location"])

    def broken(job: Any, user: Any, type_name: str, patients: set) -> None:
        raise RuntimeError("the disk is full")

    original = services._export_type
    calls = iter([broken, original])
    monkeypatch.setattr(services, "_export_type", lambda *args: next(calls)(*args))
    call_command("worker", "--once")
    status, body, _ = fhir_get(client, urls[0], token)
    assert status == 500 and "the disk is full" in body["issue"][0]["diagnostics"]
    assert fhir_get(client, urls[1], token)[0] == 200
