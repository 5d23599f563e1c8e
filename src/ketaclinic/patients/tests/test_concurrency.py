import threading
from datetime import date
from typing import Any

import pytest
from django.db import connections

from ketaclinic.accounts.roles import Role
from ketaclinic.audit.services import audit_verify_chain
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import patient_register


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
