"""Acceptance 3, the break-in walk over /fhir/: another location's patient is 404 through
every resource and search, a token without the scope is refused, and reads are audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.fhir import selectors
from ketaclinic.fhir.models import AccessToken, SystemClient
from ketaclinic.fhir.tests.conftest import token_for
from ketaclinic.fhir.types import TYPES
from ketaclinic.patients.models import Diagnosis
from ketaclinic.patients.services import diagnosis_add
from ketaclinic.patients.tests.test_access import _victim_records


def _victim_resources(victim: Any, director: Any) -> list[dict[str, Any]]:
    resources = selectors.everything(director, victim.pk)
    assert resources is not None
    kinds = {r["resourceType"] for r in resources}
    # The victim's record reaches every kind of patient resource the walk must try.
    assert {
        "Patient",
        "Observation",
        "QuestionnaireResponse",
        "Encounter",
        "Appointment",
        "Consent",
    } <= kinds
    return [r for r in resources if r["resourceType"] != "Questionnaire"]


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["token", "session"])
@pytest.mark.parametrize("intruder", ["coordinator", "nurse", "prescriber"])
def test_no_fhir_read_or_search_reaches_another_locations_patient(
    client: Client, clinic: dict[str, Any], intruder: str, how: str
) -> None:
    victim = clinic["patient_boise"]
    _victim_records(victim, clinic["director"], clinic)
    resources = _victim_resources(victim, clinic["director"])
    headers: dict[str, str] = {}
    if how == "token":
        headers["HTTP_AUTHORIZATION"] = "Bearer " + token_for(
            client, clinic[intruder], ["system/*.read"]
        )
    else:
        client.force_login(clinic[intruder])
    before = AuditEntry.objects.filter(patient_id=victim.pk).count()
    for resource in resources:
        url = f"/fhir/{resource['resourceType']}/{resource['id']}"
        response = client.get(url, **headers)
        assert response.status_code == 404, (url, response.status_code)
        assert victim.legal_last_name.encode() not in response.content
    for type_name, kind in TYPES.items():
        if not kind.in_patient_compartment or type_name == "Patient":
            continue
        for param in ("patient", "subject"):
            response = client.get(f"/fhir/{type_name}?{param}={victim.pk}", **headers)
            assert response.status_code == 200, (type_name, response.content)
            assert response.json()["total"] == 0, type_name
    response = client.get(f"/fhir/Patient?_id={victim.pk}", **headers)
    assert response.json()["total"] == 0
    response = client.get(f"/fhir/Patient?family={victim.legal_last_name}", **headers)
    assert response.json()["total"] == 0
    assert client.get(f"/fhir/Patient/{victim.pk}/$everything", **headers).status_code == 404
    export = client.get(f"/fhir/Group/{victim.primary_location_id}/$export", **headers)
    assert export.status_code in (403, 404)
    assert AuditEntry.objects.filter(patient_id=victim.pk).count() == before


@pytest.mark.django_db
def test_a_token_without_the_scope_is_refused(client: Client, clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    token = token_for(client, clinic["nurse"], ["system/Patient.read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(f"/fhir/Patient/{patient.pk}", **auth).status_code == 200
    for url in (f"/fhir/Observation?patient={patient.pk}", f"/fhir/Condition/{patient.pk}"):
        response = client.get(url, **auth)
        assert response.status_code == 403, url
        assert "scope" in response.json()["issue"][0]["diagnostics"]
    # $everything holds only the types the token covers.
    diagnosis_add(
        actor=clinic["nurse"],
        patient=patient,
        diagnosis=Diagnosis(icd10_code="F33.2", description="MDD, recurrent, severe"),
    )
    bundle = client.get(f"/fhir/Patient/{patient.pk}/$everything", **auth).json()
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient"]

    registered = SystemClient.objects.get()
    # A client cannot ask for more than it was given.
    response = client.post(
        "/fhir/auth/token",
        {
            "grant_type": "client_credentials",
            "client_id": registered.client_id,
            "client_secret": "wrong",
            "scope": "system/Patient.read",
        },
    )
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    response = client.post("/fhir/auth/token", {"grant_type": "password"})
    assert response.json()["error"] == "unsupported_grant_type"


@pytest.mark.django_db
def test_a_client_cannot_take_scopes_it_was_not_given(client: Client, clinic: dict) -> None:
    from ketaclinic.fhir.services import client_create

    registered, secret = client_create(
        name="Payer", account=clinic["nurse"], scopes=["system/Patient.read"]
    )
    response = client.post(
        "/fhir/auth/token",
        {
            "grant_type": "client_credentials",
            "client_id": registered.client_id,
            "client_secret": secret,
            "scope": "system/*.read",
        },
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"
    assert AccessToken.objects.count() == 0


@pytest.mark.django_db
def test_missing_expired_and_forged_tokens_and_patient_accounts_are_refused(
    client: Client, clinic: dict[str, Any]
) -> None:
    patient = clinic["patient_slc"]
    url = f"/fhir/Patient/{patient.pk}"
    response = client.get(url)
    assert response.status_code == 401 and "WWW-Authenticate" in response
    assert client.get(url, HTTP_AUTHORIZATION="Bearer forged").status_code == 401
    assert client.get(url, HTTP_AUTHORIZATION="Basic abc").status_code == 401
    token = token_for(client, clinic["nurse"], ["system/*.read"])
    AccessToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    client.force_login(clinic["patient_user"])
    assert client.get(url).status_code == 403


@pytest.mark.django_db
def test_reads_and_searches_are_audited_per_patient(client: Client, clinic: dict) -> None:
    patient = clinic["patient_slc"]
    token = token_for(client, clinic["nurse"], ["system/*.read"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    client.get(f"/fhir/Patient/{patient.pk}", **auth)
    entry = AuditEntry.objects.filter(patient_id=patient.pk).latest("sequence")
    assert (entry.action, entry.object_type, entry.actor_id) == (
        "api_read",
        "fhir:Patient",
        clinic["nurse"].pk,
    )
    assert entry.detail["client"] == SystemClient.objects.get().client_id
    client.get("/fhir/Patient", **auth)
    entry = AuditEntry.objects.filter(patient_id=patient.pk).latest("sequence")
    assert entry.object_type == "fhir:Patient" and "search" in entry.detail
    assert not AuditEntry.objects.filter(patient_id=clinic["patient_boise"].pk).exists()
