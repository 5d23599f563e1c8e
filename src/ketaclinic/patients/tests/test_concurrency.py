import threading
from datetime import date
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connections

from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import audit_verify_chain
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import (
    patient_register,
    patients_import_check,
    patients_import_run,
)
from ketaclinic.patients.tests.test_import import csv_text, good_rows


@pytest.mark.django_db(transaction=True)
def test_simultaneous_registrations_all_save_with_distinct_mrns(
    make_location: Any, make_user: Any
) -> None:
    location = make_location("SLC", "UT")
    coordinators = [make_user(Role.COORDINATOR, [location]) for _ in range(4)]
    errors: list[BaseException] = []

    def register(worker: int) -> None:
        try:
            for i in range(5):
                patient = Patient(
                    legal_first_name=f"Worker{worker}",
                    legal_last_name=f"Patient{i}",
                    date_of_birth=date(1980, 1, 1 + i),
                    sex_at_birth="female",
                    phone="(801) 555-0100",
                    state="UT",
                    primary_location=location,
                )
                patient_register(actor=coordinators[worker], patient=patient)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=register, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    mrns = list(Patient.objects.values_list("mrn", flat=True))
    assert len(mrns) == 20 and len(set(mrns)) == 20
    assert audit_verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_a_file_confirmed_twice_at_once_is_imported_once(
    make_location: Any, make_user: Any
) -> None:
    make_location("SLC", "UT")
    director = make_user(Role.MEDICAL_DIRECTOR)
    staged, _ = patients_import_check(
        actor=director, file_name="twice.csv", text=csv_text(good_rows(40))
    )
    assert staged is not None
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def confirm() -> None:
        try:
            start.wait()
            patients_import_run(actor=director, import_id=staged.pk)
            outcomes.append("imported")
        except ValidationError as error:
            outcomes.append(error.messages[0])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 2 and outcomes.count("imported") == 1, outcomes
    refused = next(o for o in outcomes if o != "imported")
    assert "was imported on" in refused and f"by {director.username}:" in refused
    assert Patient.objects.count() == 40
    assert audit_verify_chain().ok
