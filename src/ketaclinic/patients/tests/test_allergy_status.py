"""Allergy status: "not recorded" versus an explicit, audited "no known drug allergies"."""

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.clinical.search import name_key
from ketaclinic.patients.models import NO_KNOWN_DRUG_ALLERGY_SNOMED_CT, Allergy, Patient
from ketaclinic.patients.selectors import (
    AllergyState,
    allergy_status,
    patient_get_for_user,
    with_allergy_status,
)
from ketaclinic.patients.services import allergy_add, patient_nkda_verify

BUTTON = "No known drug allergies: verified with the patient"


def _penicillin() -> Allergy:
    return Allergy(substance="Penicillin", reaction="Hives", severity="moderate")


def _fresh(patient: Patient) -> Patient:
    return Patient.objects.select_related("nkda_verified_by", "primary_location").get(pk=patient.pk)


def _nkda_audits(patient: Patient) -> Any:
    return AuditEntry.objects.filter(
        patient_id=patient.pk, action="update", detail__statement="no known drug allergies"
    )


def _verify_url(patient: Patient) -> str:
    return f"/patients/{patient.pk}/allergies/nkda/"


@pytest.mark.django_db
def test_a_patient_nobody_asked_has_allergies_not_recorded(clinic: dict[str, Any]) -> None:
    status = allergy_status(_fresh(clinic["patient_slc"]))
    assert status.state == AllergyState.NOT_RECORDED == "not_recorded"
    assert status.label == "Allergies not recorded"
    assert not status.is_recorded and status.allergies == ()
    assert status.verified_by is None and status.verified_at is None
    assert status.snomed_ct_code == ""


@pytest.mark.django_db
def test_verifying_nkda_records_who_and_when_with_an_audit_entry(clinic: dict[str, Any]) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    before = timezone.now()
    returned = patient_nkda_verify(actor=nurse, patient=patient)
    assert returned.nkda_verified_by == nurse
    status = allergy_status(_fresh(patient))
    assert status.state == AllergyState.NKDA and status.is_recorded and status.is_nkda
    assert status.verified_by == nurse
    assert status.verified_at is not None and before <= status.verified_at <= timezone.now()
    assert status.snomed_ct_code == NO_KNOWN_DRUG_ALLERGY_SNOMED_CT == "409137002"
    local_day = timezone.localtime(status.verified_at, clinic["slc"].tz).strftime("%m/%d/%Y")
    assert status.label == f"NKDA (verified {nurse.get_full_name()}, {local_day})"
    entry = _nkda_audits(patient).get()
    assert entry.actor_id == nurse.pk and entry.object_type == "patient"
    assert entry.detail["snomed_ct"] == "409137002"
    assert entry.detail["previously_verified_at"] is None


@pytest.mark.django_db
def test_nkda_can_be_verified_again_later(clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    patient_nkda_verify(actor=clinic["nurse"], patient=patient)
    first = _fresh(patient).nkda_verified_at
    patient_nkda_verify(actor=clinic["prescriber"], patient=patient)
    status = allergy_status(_fresh(patient))
    assert status.verified_by == clinic["prescriber"] and status.verified_at > first
    assert _nkda_audits(patient).count() == 2
    assert _nkda_audits(patient).order_by("-sequence").first().detail["previously_verified_at"] == (
        first.isoformat()
    )


@pytest.mark.django_db
def test_an_allergy_on_file_shows_and_nkda_is_refused(clinic: dict[str, Any]) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    allergy_add(actor=nurse, patient=patient, allergy=_penicillin())
    with pytest.raises(ValidationError, match="has an allergy on file"):
        patient_nkda_verify(actor=nurse, patient=patient)
    fresh = _fresh(patient)
    assert fresh.nkda_verified_at is None and fresh.nkda_verified_by is None
    assert not _nkda_audits(patient).exists()
    status = allergy_status(fresh)
    assert status.state == AllergyState.ALLERGIES and status.is_recorded
    assert [a.substance for a in status.allergies] == ["Penicillin"]
    assert status.label == "Allergies: Penicillin"
    assert status.verified_by is None and status.verified_at is None


@pytest.mark.django_db
def test_adding_an_allergy_ends_the_nkda_statement(clinic: dict[str, Any]) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    patient_nkda_verify(actor=nurse, patient=patient)
    verified_at = _fresh(patient).nkda_verified_at
    # The caller's patient (with its allergies already read) sees the change too.
    held = with_allergy_status(Patient.objects.all()).get(pk=patient.pk)
    assert allergy_status(held).state == AllergyState.NKDA
    allergy = allergy_add(actor=nurse, patient=held, allergy=_penicillin())
    assert allergy_status(held).state == AllergyState.ALLERGIES
    fresh = _fresh(patient)
    assert fresh.nkda_verified_at is None and fresh.nkda_verified_by is None
    assert allergy_status(fresh).state == AllergyState.ALLERGIES
    entry = AuditEntry.objects.get(action="create", object_type="allergy", object_id=allergy.pk)
    assert entry.detail == {"nkda_ended": verified_at.isoformat()}


@pytest.mark.django_db
def test_an_allergy_always_wins_over_a_stale_nkda_statement(clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    # Written around the services (an import, the admin): the known allergy still shows.
    Allergy.objects.create(patient=patient, substance="Latex", severity="mild")
    Patient.objects.filter(pk=patient.pk).update(
        nkda_verified_by=clinic["nurse"], nkda_verified_at=timezone.now()
    )
    assert allergy_status(_fresh(patient)).state == AllergyState.ALLERGIES


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["coordinator", "nurse_boise", "patient_user"])
def test_only_clinicians_who_see_the_patient_may_verify_nkda(
    clinic: dict[str, Any], who: str
) -> None:
    patient = clinic["patient_slc"]
    with pytest.raises(PermissionDenied):
        patient_nkda_verify(actor=clinic[who], patient=patient)
    assert _fresh(patient).nkda_verified_at is None
    assert not _nkda_audits(patient).exists()


@pytest.mark.django_db
def test_the_history_page_verifies_nkda_with_a_post(client: Client, clinic: dict[str, Any]) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    client.force_login(nurse)
    page = client.get(f"/patients/{patient.pk}/history/").content.decode()
    assert "Allergies not recorded" in page and BUTTON in page
    assert f'action="{_verify_url(patient)}"' in page and "csrfmiddlewaretoken" in page
    assert "Only after asking the patient today" in page
    response = client.post(_verify_url(patient))
    assert response.status_code == 302 and response.url == f"/patients/{patient.pk}/history/"
    assert _fresh(patient).nkda_verified_by == nurse
    page = client.get(response.url).content.decode()
    assert "Recorded: no known drug allergies, verified with the patient." in page
    assert "No known drug allergies (NKDA)" in page
    assert f"Verified by {nurse.get_full_name()} on" in page
    assert BUTTON in page  # it may be verified again, e.g. at intake


@pytest.mark.django_db
def test_the_page_refuses_nkda_while_an_allergy_is_on_file(
    client: Client, clinic: dict[str, Any]
) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    allergy_add(actor=nurse, patient=patient, allergy=_penicillin())
    client.force_login(nurse)
    page = client.get(f"/patients/{patient.pk}/history/").content.decode()
    assert "Penicillin" in page and BUTTON not in page
    assert "Allergies not recorded" not in page
    response = client.post(_verify_url(patient), follow=True)
    assert "has an allergy on file" in response.content.decode()
    assert _fresh(patient).nkda_verified_at is None and not _nkda_audits(patient).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "status"), [("coordinator", 403), ("nurse_boise", 404)])
def test_the_page_refuses_users_who_may_not_verify_and_saves_nothing(
    client: Client, clinic: dict[str, Any], who: str, status: int
) -> None:
    patient = clinic["patient_slc"]
    client.force_login(clinic[who])
    audits = AuditEntry.objects.filter(patient_id=patient.pk).count()
    assert client.post(_verify_url(patient)).status_code == status
    assert client.get(_verify_url(patient)).status_code == status
    assert _fresh(patient).nkda_verified_at is None
    assert AuditEntry.objects.filter(patient_id=patient.pk).count() == audits


@pytest.mark.django_db
def test_a_coordinator_sees_the_status_but_no_button(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["coordinator"])
    page = client.get(f"/patients/{clinic['patient_slc'].pk}/history/").content.decode()
    assert "Allergies not recorded" in page and BUTTON not in page


@pytest.mark.django_db
def test_the_verify_url_takes_only_a_post_with_a_csrf_token(clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    client = Client(enforce_csrf_checks=True)
    client.force_login(clinic["nurse"])
    assert client.get(_verify_url(patient)).status_code == 405
    assert client.post(_verify_url(patient)).status_code == 403  # no CSRF token
    assert _fresh(patient).nkda_verified_at is None


@pytest.mark.django_db
def test_the_chart_head_shows_each_state(client: Client, clinic: dict[str, Any]) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    client.force_login(nurse)
    url = f"/patients/{patient.pk}/"

    def head() -> str:
        page = client.get(url).content.decode()
        return page[page.index('aria-label="Flags"') : page.index('aria-label="Chart sections"')]

    flags = head()
    assert 'class="badge warn" data-allergy-status="not_recorded"' in flags
    assert "Allergies not recorded" in flags and "No known allergies" not in flags
    patient_nkda_verify(actor=nurse, patient=patient)
    day = timezone.localtime(_fresh(patient).nkda_verified_at, clinic["slc"].tz)
    flags = head()
    assert f"NKDA (verified {nurse.get_full_name()}, {day:%m/%d/%Y})" in flags
    assert "not recorded" not in flags
    allergy_add(actor=nurse, patient=patient, allergy=_penicillin())
    allergy_add(
        actor=nurse,
        patient=patient,
        allergy=Allergy(substance="Sulfa", severity="severe"),
    )
    flags = head()
    assert '<span class="badge warn">Allergy: Penicillin</span>' in flags
    assert '<span class="badge danger">Allergy: Sulfa</span>' in flags
    assert "NKDA" not in flags and "not recorded" not in flags


@pytest.mark.django_db
def test_allergy_status_needs_no_query_on_a_prepared_patient(
    clinic: dict[str, Any], django_assert_num_queries: Any
) -> None:
    patient = clinic["patient_slc"]
    patient_nkda_verify(actor=clinic["nurse"], patient=patient)
    prepared = with_allergy_status(Patient.objects.all()).get(pk=patient.pk)
    with django_assert_num_queries(0):
        assert allergy_status(prepared).state == AllergyState.NKDA
        assert "Test" in allergy_status(prepared).label
    # Through a record that points to the patient, as another app would fetch it.
    allergy = with_allergy_status(Allergy.objects.all(), via="patient")
    Allergy.objects.create(patient=clinic["patient_boise"], substance="Latex", severity="mild")
    row = allergy.get(patient=clinic["patient_boise"])
    with django_assert_num_queries(0):
        assert allergy_status(row.patient).state == AllergyState.ALLERGIES


def _many_patients(location: Any, count: int, start: int, verifier: Any) -> None:
    today = timezone.localdate()
    patients = Patient.objects.bulk_create(
        Patient(
            mrn=f"KC-{i:07d}-0",
            legal_first_name="Test",
            legal_last_name=f"Person{i:05d}",
            first_name_key="test",
            last_name_key=name_key(f"Person{i:05d}"),
            date_of_birth=today - timedelta(days=12000 + i),
            sex_at_birth="female",
            phone="(801) 555-0100",
            state="UT",
            primary_location=location,
            # A third not recorded, a third NKDA, a third with an allergy.
            nkda_verified_by=verifier if i % 3 == 1 else None,
            nkda_verified_at=timezone.now() if i % 3 == 1 else None,
        )
        for i in range(start, start + count)
    )
    Allergy.objects.bulk_create(
        Allergy(patient=p, substance="Penicillin", severity="mild")
        for i, p in enumerate(patients, start)
        if i % 3 == 2
    )


def _count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


@pytest.mark.django_db
def test_patient_list_and_statuses_take_the_same_queries_for_many_patients(
    client: Client, clinic: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    nurse = clinic["nurse"]
    client.force_login(nurse)
    _many_patients(clinic["slc"], 6, 100, nurse)
    urls = ["/patients/", "/patients/?q=person", "/patients/?q=person&page=2"]
    small = {url: _count(client, url) for url in urls}
    with CaptureQueriesContext(connection) as context:
        states = {allergy_status(p).state for p in with_allergy_status(Patient.objects.all())}
    few = len(context)
    assert states == set(AllergyState)
    _many_patients(clinic["slc"], 300, 1000, nurse)
    for url in urls:
        with django_assert_max_num_queries(small[url]):
            client.get(url)
    with django_assert_max_num_queries(few):
        statuses = [allergy_status(p) for p in with_allergy_status(Patient.objects.all())]
    assert len(statuses) > 300


@pytest.mark.django_db
def test_a_chart_costs_the_same_queries_in_every_state(
    client: Client, clinic: dict[str, Any]
) -> None:
    nurse, patient = clinic["nurse"], clinic["patient_slc"]
    client.force_login(nurse)
    pages = [f"/patients/{patient.pk}/", f"/patients/{patient.pk}/history/"]
    not_recorded = [_count(client, url) for url in pages]
    patient_nkda_verify(actor=nurse, patient=patient)
    assert [_count(client, url) for url in pages] == not_recorded
    allergy_add(actor=nurse, patient=patient, allergy=_penicillin())
    assert [_count(client, url) for url in pages] == not_recorded


@pytest.mark.django_db
def test_the_chart_selector_joins_the_verifier(
    clinic: dict[str, Any], django_assert_num_queries: Any
) -> None:
    patient = clinic["patient_slc"]
    patient_nkda_verify(actor=clinic["nurse"], patient=patient)
    fetched = patient_get_for_user(clinic["nurse"], patient.pk)
    with django_assert_num_queries(0):
        assert fetched.nkda_verified_by == clinic["nurse"]
