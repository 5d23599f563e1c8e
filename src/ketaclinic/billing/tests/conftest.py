from __future__ import annotations

from typing import Any

import pytest

from ketaclinic.billing.services import fee_schedule_copy_defaults
from ketaclinic.conftest import make_course


@pytest.fixture
def billed(clinic: dict[str, Any]) -> dict[str, Any]:
    """The SLC and Boise fee schedules (example fees) and an IV induction course for each
    location's patient."""
    fee_schedule_copy_defaults(actor=clinic["director"], location=clinic["slc"])
    fee_schedule_copy_defaults(actor=clinic["director"], location=clinic["boise"])
    clinic["course_slc"] = make_course(clinic["patient_slc"], clinic["director"])
    clinic["course_boise"] = make_course(clinic["patient_boise"], clinic["director"])
    return clinic


def log_in_client(client: Any, user: Any) -> Any:
    client.force_login(user)
    return client
