"""The read API: searches with paging, the CapabilityStatement, OperationOutcomes, and an
outside client (fhirpy) reading it over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import ResourceNotFound

from ketaclinic.accounts.models import User
from ketaclinic.fhir.tests.conftest import token_for, validate
from ketaclinic.operations.demo import seed_demo
from ketaclinic.patients.models import Patient


@pytest.mark.django_db
def test_metadata_is_open_and_names_every_type(client: Client) -> None:
    response = client.get("/fhir/metadata")
    assert response.status_code == 200 and response["Content-Type"] == "application/fhir+json"
    statement = response.json()
    validate(statement)
    types = {r["type"] for r in statement["rest"][0]["resource"]}
    assert {"Patient", "Observation", "MedicationAdministration", "Provenance", "Group"} <= types
    smart = client.get("/fhir/.well-known/smart-configuration").json()
    assert smart["token_endpoint"].endswith("/fhir/auth/token")


@pytest.mark.django_db
def test_searches_page_filter_and_keep_a_constant_query_count(
    client: Client, fhir_get: Any
) -> None:
    seed_demo(patients=24)
    token = token_for(client, User.objects.get(username="director"), ["system/*.read"])
    status, bundle, _ = fhir_get(client, "/fhir/Patient?_count=5", token)
    assert status == 200 and bundle["total"] == Patient.objects.count()
    validate(bundle)
    assert len(bundle["entry"]) == 5
    next_url = next(link["url"] for link in bundle["link"] if link["relation"] == "next")
    status, second, _ = fhir_get(client, next_url, token)
    first_ids = {e["resource"]["id"] for e in bundle["entry"]}
    assert first_ids.isdisjoint({e["resource"]["id"] for e in second["entry"]})

    patient = Patient.objects.filter(diagnoses__isnull=False).first()
    status, found, _ = fhir_get(
        client,
        f"/fhir/Patient?family={patient.legal_last_name}&birthdate={patient.date_of_birth}",
        token,
    )
    assert patient.pk in {int(e["resource"]["id"]) for e in found["entry"]}
    status, found, _ = fhir_get(client, f"/fhir/Patient?identifier={patient.mrn}", token)
    assert [int(e["resource"]["id"]) for e in found["entry"]] == [patient.pk]

    status, vitals, _ = fhir_get(
        client, f"/fhir/Observation?patient={patient.pk}&code=http://loinc.org|8867-4", token
    )
    assert status == 200
    assert all(e["resource"]["code"]["coding"][0]["code"] == "8867-4" for e in vitals["entry"])
    status, surveys, _ = fhir_get(
        client, f"/fhir/Observation?patient={patient.pk}&category=survey&date=ge2000-01-01", token
    )
    assert surveys["total"] > 0
    assert all(
        e["resource"]["category"][0]["coding"][0]["code"] == "survey" for e in surveys["entry"]
    )

    # The query count of a page does not grow with the rows on it.
    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert fhir_get(client, url, token)[0] == 200
        return len(captured)

    assert queries("/fhir/Patient?_count=2") == queries("/fhir/Patient?_count=20")
    assert queries("/fhir/Encounter?_count=2") == queries("/fhir/Encounter?_count=50")
    many = Patient.objects.filter(treatment_sessions__isnull=False).distinct()
    few, lots = many.first(), max(many, key=lambda p: p.treatment_sessions.count())
    assert queries(f"/fhir/Observation?patient={few.pk}") == queries(
        f"/fhir/Observation?patient={lots.pk}"
    )


@pytest.mark.django_db
def test_bad_searches_get_an_operation_outcome(client: Client, fhir_get: Any, clinic: dict) -> None:
    token = token_for(client, clinic["director"], ["system/*.read"])
    for url, words in [
        ("/fhir/Observation", "needs a patient"),
        ("/fhir/Patient?colour=blue", "cannot be searched by 'colour'"),
        ("/fhir/Patient?_count=lots", "_count must be a whole number"),
        ("/fhir/Patient?birthdate=yesterday", "not a FHIR date"),
        ("/fhir/Observation?patient=Patient/abc", "not a Patient id"),
        ("/fhir/Patient?_lastUpdated=sa2026", "date prefix"),
    ]:
        status, body, _ = fhir_get(client, url, token)
        assert status == 400, url
        assert body["resourceType"] == "OperationOutcome"
        assert words in body["issue"][0]["diagnostics"], (url, body)
        validate(body)
    status, body, _ = fhir_get(client, "/fhir/Spaceship", token)
    assert status == 404 and body["issue"][0]["code"] == "not-supported"
    status, body, _ = fhir_get(client, "/fhir/Patient/999999", token)
    assert status == 404 and body["issue"][0]["code"] == "not-found"
    response = client.post("/fhir/Patient", {}, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405


@pytest.mark.django_db(transaction=True)
def test_fhirpy_reads_the_api_as_an_outside_system(live_server: Any) -> None:
    seed_demo(patients=12)
    from django.test import Client as DjangoClient

    token = token_for(DjangoClient(), User.objects.get(username="prescriber"), ["system/*.read"])
    fhir = SyncFHIRClient(f"{live_server.url}/fhir", authorization=f"Bearer {token}")
    patients = fhir.resources("Patient").search().limit(5).fetch_all()
    visible = Patient.objects.filter(primary_location__short_name__in=["SLC", "Boise"])
    assert {int(p.id) for p in patients} == set(visible.values_list("pk", flat=True))
    chosen = visible.filter(assessment_responses__instrument_key="phq9").first()
    patient = fhir.reference("Patient", str(chosen.pk)).to_resource()
    assert patient["identifier"][0]["value"] == chosen.mrn
    scores = (
        fhir.resources("Observation")
        .search(patient=f"Patient/{chosen.pk}", code="http://loinc.org|44261-6")
        .fetch_all()
    )
    assert sorted(int(o["valueInteger"]) for o in scores) == sorted(
        chosen.assessment_responses.filter(instrument_key="phq9").values_list("total", flat=True)
    )
    portland = Patient.objects.filter(primary_location__short_name="Portland").first()
    with pytest.raises(ResourceNotFound):
        fhir.reference("Patient", str(portland.pk)).to_resource()
