from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.clinical.search import name_key
from ketaclinic.patients.models import BodyMeasurement, Diagnosis, Medication, Patient

VALID = {
    "legal_first_name": "José", "legal_last_name": "Núñez", "preferred_name": "Pepe",
    "date_of_birth": "1984-07-09", "sex_at_birth": "male", "phone": "801.555.0199",
    "state": "UT", "emergency_contact_phone": "", "escort_phone": "",
}  # fmt: skip
# Read when the test runs, not when it is collected: the clock may be pinned (docs/testing.md).
IN_THREE_DAYS = "three days from today"


@pytest.fixture
def coordinator(client: Client, clinic: dict[str, Any]) -> Client:
    client.force_login(clinic["coordinator"])
    return client


def _register(client: Client, clinic: dict[str, Any], **changes: str) -> Any:
    return client.post("/patients/new/", {**VALID, "primary_location": clinic["slc"].pk, **changes})


@pytest.mark.django_db
def test_register_a_patient_assigns_an_mrn_and_normalises(
    coordinator: Client, clinic: dict[str, Any]
) -> None:
    response = _register(coordinator, clinic)
    patient = Patient.objects.get(legal_last_name="Núñez")
    assert response.url == f"/patients/{patient.pk}/"
    assert patient.mrn.startswith("KC-") and patient.phone == "(801) 555-0199"
    assert patient.last_name_key == "nunez"
    assert AuditEntry.objects.filter(action="create", patient_id=patient.pk).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("date_of_birth", IN_THREE_DAYS, "cannot be in the future"),
        ("date_of_birth", "1890-01-01", "not plausible"),
        ("phone", "12345", "10-digit US phone"),
        ("legal_last_name", "", "This field is required"),
        ("state", "XX", "not one of the available choices"),
    ],
)
def test_invalid_registration_explains_and_saves_nothing(
    coordinator: Client, clinic: dict[str, Any], field: str, value: str, message: str
) -> None:
    if value == IN_THREE_DAYS:
        value = (timezone.localdate() + timedelta(days=3)).isoformat()
    patients, audits = Patient.objects.count(), AuditEntry.objects.filter(action="create").count()
    response = _register(coordinator, clinic, **{field: value})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert b"Nothing has been saved" in response.content
    assert Patient.objects.count() == patients
    assert AuditEntry.objects.filter(action="create").count() == audits


@pytest.mark.django_db
def test_cannot_register_at_a_location_not_ones_own(
    coordinator: Client, clinic: dict[str, Any]
) -> None:
    response = _register(coordinator, clinic, primary_location=str(clinic["boise"].pk))
    assert response.status_code == 200
    assert not Patient.objects.filter(legal_last_name="Núñez").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "data", "message", "model"),
    [
        ("measurement", {"measured_on": "2026-01-05", "weight_kg": "720"}, "outside 20-350 kg",
         BodyMeasurement),
        ("measurement", {"measured_on": "2026-01-05", "weight_kg": "70", "height_cm": "17"},
         "outside 100-250 cm", BodyMeasurement),
        ("measurement", {"measured_on": "2999-01-05", "weight_kg": "70"}, "cannot be in the future",
         BodyMeasurement),
        ("diagnosis", {"icd10_code": "F3X-2", "description": "Depression", "status": "active"},
         "is not an ICD-10-CM code", Diagnosis),
        ("medication", {"name": "Sertraline", "medication_class": "antidepressant",
                        "started_on": "2025-05-01", "stopped_on": "2025-01-01"},
         "cannot stop before it started", Medication),
    ],
)  # fmt: skip
def test_invalid_history_input_explains_and_saves_nothing(
    client: Client,
    clinic: dict[str, Any],
    kind: str,
    data: dict[str, str],
    message: str,
    model: Any,
) -> None:
    client.force_login(clinic["nurse"])
    patient = clinic["patient_slc"]
    before = model.objects.count()
    response = client.post(f"/patients/{patient.pk}/add/{kind}/", data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert model.objects.count() == before


@pytest.mark.django_db
def test_valid_history_is_saved_with_who_recorded_it(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["prescriber"])
    patient = clinic["patient_slc"]
    client.post(
        f"/patients/{patient.pk}/add/diagnosis/",
        {"icd10_code": "f332", "description": "Recurrent MDD, severe", "status": "active"},
    )
    client.post(
        f"/patients/{patient.pk}/add/medication/",
        {
            "name": "Sertraline",
            "medication_class": "antidepressant",
            "dose_mg_per_day": "150",
            "started_on": "2025-01-01",
            "stopped_on": "2025-03-15",
            "weeks_at_dose": "8",
            "adherence": "good",
            "trial_outcome": "no_response",
            "in_current_episode": "on",
        },
    )
    client.post(
        f"/patients/{patient.pk}/add/measurement/",
        {"measured_on": "2026-01-05", "weight_kg": "70", "height_cm": "175"},
    )
    diagnosis = patient.diagnoses.get()
    assert diagnosis.icd10_code == "F33.2" and diagnosis.recorded_by == clinic["prescriber"]
    trial = patient.medications.get()
    assert trial.is_antidepressant_trial and not trial.is_current and trial.weeks_at_dose == 8
    assert str(patient.measurements.get().bmi) == "22.9"
    history = client.get(f"/patients/{patient.pk}/history/").content.decode()
    assert "F33.2" in history and "No response" in history


@pytest.mark.django_db
def test_coordinator_may_not_add_clinical_history(client: Client, clinic: dict[str, Any]) -> None:
    client.force_login(clinic["coordinator"])
    patient = clinic["patient_slc"]
    response = client.post(
        f"/patients/{patient.pk}/add/diagnosis/",
        {"icd10_code": "F33.2", "description": "x", "status": "active"},
    )
    assert response.status_code == 403
    assert patient.diagnoses.count() == 0


@pytest.mark.django_db
def test_a_stale_edit_is_refused_and_the_colleagues_save_is_kept(clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    form_data = {
        **VALID,
        "legal_first_name": "Ada",
        "legal_last_name": "Lovelace",
        "primary_location": clinic["slc"].pk,
        "version": patient.version,
    }
    first, second = Client(), Client()
    first.force_login(clinic["coordinator"])
    second.force_login(clinic["nurse"])
    # Both opened the form at version 1; the nurse saves first.
    assert (
        second.post(
            f"/patients/{patient.pk}/edit/", {**form_data, "escort_name": "Tom"}
        ).status_code
        == 302
    )
    response = first.post(f"/patients/{patient.pk}/edit/", {**form_data, "escort_name": "Ann"})
    assert response.status_code == 200
    assert "Someone else saved this patient" in response.content.decode()
    patient.refresh_from_db()
    assert patient.escort_name == "Tom" and patient.version == 2


@pytest.mark.django_db
def test_search_by_name_mrn_and_birth_date(
    client: Client, clinic: dict[str, Any], make_patient: Any
) -> None:
    slc = clinic["slc"]
    target = make_patient(
        slc, "José", "Núñez", date_of_birth=date(1975, 3, 14), preferred_name="Pepe"
    )
    make_patient(slc, "Joseph", "Nunn", date_of_birth=date(1990, 1, 1))
    client.force_login(clinic["nurse"])

    def found(q: str) -> list[str]:
        return [p.mrn for p in client.get("/patients/", {"q": q}).context["page"]]

    assert found("nunez") == [target.mrn]
    assert found("NÚÑEZ jo") == [target.mrn]
    assert found("pepe") == [target.mrn]
    assert len(found("nun")) == 2
    assert found(target.mrn) == [target.mrn]
    assert found(target.mrn.replace("-", "")) == [target.mrn]
    assert found("03/14/1975") == [target.mrn]
    assert found("1975-03-14") == [target.mrn]
    assert found("hopper") == []  # Boise's patient stays invisible to an SLC nurse


def _bulk_patients(location: Any, count: int, start: int = 100) -> None:
    today = timezone.localdate()
    Patient.objects.bulk_create(
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
        )
        for i in range(start, start + count)
    )


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200
    return len(context)


@pytest.mark.django_db
def test_list_and_search_query_counts_do_not_grow_with_patients(
    client: Client, clinic: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    client.force_login(clinic["nurse"])
    _bulk_patients(clinic["slc"], 10)
    urls = ["/patients/", "/patients/?q=person", "/patients/?q=person&page=2", "/api/patients"]
    small = {url: _queries(client, url) for url in urls}
    _bulk_patients(clinic["slc"], 10_000 - 10, start=1000)
    assert Patient.objects.filter(primary_location=clinic["slc"]).count() > 10_000
    for url in urls:
        with django_assert_max_num_queries(small[url]):
            client.get(url)
        assert _queries(client, url) == small[url], url
