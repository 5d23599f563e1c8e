"""Acceptance 2: a patient's $everything, imported into an empty clinic (a new database, with
the real `ketaclinic fhir import` command), comes back with the same demographics,
conditions, medications, allergies and scores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.fhir.importing import bundle_import
from ketaclinic.operations.demo import seed_demo
from ketaclinic.patients.models import Patient

# Run here on the source clinic and, through `ketaclinic shell`, on the empty one.
SUMMARY = """
import json
from ketaclinic.patients.models import Patient
p = Patient.objects.get(legal_first_name=FIRST, legal_last_name=LAST, date_of_birth=BORN)
summary = {
    "demographics": [p.legal_first_name, p.legal_last_name, p.preferred_name,
        str(p.date_of_birth), p.sex_at_birth, p.phone, p.email, p.address_line1,
        p.address_line2, p.city, p.state, p.postal_code, p.emergency_contact_name,
        p.emergency_contact_relationship, p.emergency_contact_phone],
    "conditions": sorted([d.icd10_code, d.description, d.status, str(d.onset_date),
        d.is_primary] for d in p.diagnoses.all()),
    "medications": sorted([m.name, m.medication_class, str(m.dose_mg_per_day), m.directions,
        str(m.started_on), str(m.stopped_on), m.is_current, m.weeks_at_dose, m.adherence,
        m.trial_outcome, m.in_current_episode] for m in p.medications.all()),
    "allergies": sorted([a.substance, a.reaction, a.severity] for a in p.allergies.all()),
    "scores": sorted([r.instrument_key, r.answers, r.total, r.severity,
        r.completed_at.isoformat(), r.context, r.completed_by_patient]
        for r in p.assessment_responses.all()),
}
OUT = json.dumps(summary, default=str)
"""

EMPTY_CLINIC = """
from ketaclinic.accounts.roles import Role
from ketaclinic.accounts.services import user_create
from ketaclinic.organization.models import Location, Organization
org = Organization.objects.create(name="New clinic")
Location.objects.create(organization=org, short_name="Home", name="Home clinic",
    city="Reno", state="NV", postal_code="89501", timezone="America/Los_Angeles",
    phone="(775) 555-0100")
user_create(username="md", password="a long enough password 1", role=Role.MEDICAL_DIRECTOR,
    first_name="New", last_name="Director", locations=[], check_password=False)
"""


def _summary(first: str, last: str, born: str, run: Any) -> dict[str, Any]:
    return json.loads(run(f"FIRST, LAST, BORN = {first!r}, {last!r}, {born!r}\n{SUMMARY}"))


# The empty clinic's commands run at the test's own instant (the suite may pin the clock,
# e.g. to 21:45 in Denver, hours from the wall clock), or its responses would be "future".
AT_THE_TESTS_INSTANT = (
    "import sys, time_machine; time_machine.travel(sys.argv[1], tick=True).start(); "
    "from ketaclinic.cli import main; main(sys.argv[2:])"
)


def _ketaclinic(var_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KETACLINIC_ENV"}}
    env["KETACLINIC_VAR_DIR"] = str(var_dir)
    now = timezone.now().isoformat()
    return subprocess.run(
        [sys.executable, "-c", AT_THE_TESTS_INSTANT, now, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.django_db
def test_a_patient_exported_with_everything_imports_into_an_empty_clinic_equal(
    client: Client, tmp_path: Path
) -> None:
    seed_demo(patients=12)
    director = User.objects.get(username="director")
    source = (
        Patient.objects.filter(
            diagnoses__isnull=False,
            medications__medication_class="antidepressant",
            assessment_responses__isnull=False,
        )
        .distinct()
        .first()
    )
    client.force_login(director)
    response = client.get(f"/fhir/Patient/{source.pk}/$everything")
    assert response.status_code == 200
    bundle = tmp_path / "everything.json"
    bundle.write_bytes(response.content)

    def here(code: str) -> str:
        scope: dict[str, Any] = {}
        exec(code, scope)  # noqa: S102 (the test's own summary code)
        return scope["OUT"]

    expected = _summary(
        source.legal_first_name, source.legal_last_name, str(source.date_of_birth), here
    )
    assert expected["conditions"] and expected["medications"] and expected["scores"]

    clinic = tmp_path / "empty-clinic"
    clinic.mkdir()
    assert _ketaclinic(clinic, "migrate", "--no-input", "-v0").returncode == 0
    made = _ketaclinic(clinic, "shell", "-c", EMPTY_CLINIC)
    assert made.returncode == 0, made.stderr
    imported = _ketaclinic(
        clinic, "fhir", "import", str(bundle), "--by", "md", "--location", "Home"
    )
    assert imported.returncode == 0, imported.stderr
    assert "Imported 1 patient(s)" in imported.stdout
    again = _ketaclinic(clinic, "fhir", "import", str(bundle), "--by", "md", "--location", "Home")
    assert "Imported 0 patient(s)" in again.stdout and "registered already" in again.stdout

    def there(code: str) -> str:
        result = _ketaclinic(clinic, "shell", "-c", code + "\nprint(OUT)")
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    actual = _summary(
        source.legal_first_name, source.legal_last_name, str(source.date_of_birth), there
    )
    assert actual == expected


@pytest.mark.django_db
def test_a_bundle_with_a_bad_resource_changes_nothing_and_names_every_problem(
    clinic: dict[str, Any],
) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:p1",
                "resource": {
                    "resourceType": "Patient",
                    "name": [{"family": "Curie", "given": ["Marie"]}],
                    "birthDate": "1967-11-07",
                    "gender": "female",
                    "telecom": [{"system": "phone", "value": "(801) 555-0199"}],
                    "address": [{"city": "Ogden", "state": "UT"}],
                },
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "subject": {"reference": "urn:uuid:p1"},
                    "code": "F33.2",
                }
            },
            {"resource": {"resourceType": "Observation", "status": "invented"}},
        ],
    }
    before = Patient.objects.count()
    with pytest.raises(ValidationError) as refused:
        bundle_import(actor=clinic["director"], data=json.dumps(bundle), location=clinic["slc"])
    messages = refused.value.messages
    assert any(m.startswith("Entry 2 (Condition)") for m in messages)
    assert any(m.startswith("Entry 3 (Observation)") for m in messages)
    assert Patient.objects.count() == before

    # A patient without the state they live in is refused by name.
    del bundle["entry"][0]["resource"]["address"]
    bundle["entry"][1]["resource"]["code"] = {"text": "Depression"}
    bundle["entry"].pop()
    with pytest.raises(ValidationError) as refused:
        bundle_import(actor=clinic["director"], data=json.dumps(bundle), location=clinic["slc"])
    assert refused.value.messages[0].startswith("Entry 1 (Patient): state:")
    bundle["entry"][0]["resource"]["address"] = [{"city": "Ogden", "state": "UT"}]

    # Valid resources whose record the clinic's rules refuse: nothing is kept either.
    bundle["entry"][1]["resource"]["code"] = {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "NOT-A-CODE"}]
    }
    with pytest.raises(ValidationError) as refused:
        bundle_import(actor=clinic["director"], data=json.dumps(bundle), location=clinic["slc"])
    assert "Entry 2 (Condition)" in refused.value.messages[0]
    assert Patient.objects.count() == before
    with pytest.raises(PermissionDenied, match="may not import"):
        bundle_import(actor=clinic["nurse"], data=json.dumps(bundle), location=clinic["slc"])
    with pytest.raises(ValidationError, match="not JSON"):
        bundle_import(actor=clinic["director"], data=b"{", location=clinic["slc"])
