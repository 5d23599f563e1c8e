"""API fuzzing: schemathesis sends well over 1,000 generated requests, valid and invalid,
to every operation of the JSON API as a signed-in nurse, a medical director and a patient
(and some as nobody), through the real WSGI application. Every response must be a
documented status with a body matching its schema, and none may be a server error.

It takes about a minute, so it is marked `fuzz` and runs in `.ci/run` (on SQLite and on
PostgreSQL) rather than in `make test`: `.venv/bin/pytest -m fuzz`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.modes import GenerationMode

from ketaclinic.measures.services import response_record

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

# Every built-in check runs. Valid data may also be refused with 400 when the clinic's rules
# say no (an instrument that does not exist, text with a NUL character), as documented; it
# must never meet a 422, which would mean the schema and the validation disagree.
CHECKS = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "403", "404"]
"""
# Per caller; together with the fixed-id cases below this is well over 1,000 requests.
EXAMPLES_PER_CALLER = 360
REQUIRED_REQUESTS = 1000


def _session(user: Any) -> dict[str, Any]:
    """A signed-in browser session: its session cookie, given to schemathesis as the
    schema's SessionAuth (so that schemathesis knows it is real, leaves it out of the
    cases that test a missing or bad one, and probes the operation without it), and the
    CSRF cookie and header, so that writes reach the service rather than stopping at the
    CSRF check."""
    client = Client()
    if user is not None:
        client.force_login(user)
    client.get("/visit/request/")  # a page with a form: it sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    config = CHECKS
    if user is not None:
        config += f'\n[auth.openapi.SessionAuth]\napi_key = "{client.cookies["sessionid"].value}"\n'
    return {
        "config": SchemathesisConfig.from_str(config),
        "cookies": {"csrftoken": token},
        "headers": {"X-CSRFToken": token},
    }


@contextmanager
def _requests_in_this_process() -> Iterator[None]:
    """As Django's test client does, requests do not close the test's database connection
    when they finish (the test client itself reconnects it after each of its requests, so
    the sessions are made before)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _cases(schema: Any, ids: dict[str, list[int]]) -> st.SearchStrategy[Any]:
    """Valid and invalid requests for every operation; many of the valid ones aimed at
    records that exist (the caller's own, another location's, an unknown id), and PHQ-9
    responses that the service can record."""
    known = [
        schema.as_strategy(
            GenerationMode.POSITIVE,
            path_parameters={"patient_id": patient_id, "response_id": response_id},
        )
        for patient_id in ids["patients"]
        for response_id in ids["responses"]
    ]
    record = schema["/api/patients/{patient_id}/responses"]["POST"]
    answers = st.lists(st.integers(min_value=0, max_value=3), min_size=9, max_size=9)
    recorded = [
        answers.flatmap(
            lambda items, patient_id=patient_id: record.as_strategy(
                path_parameters={"patient_id": patient_id},
                body={"instrument": "phq9", "answers": items},
            )
        )
        for patient_id in ids["patients"]
    ]
    return st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE),
        schema.as_strategy(GenerationMode.NEGATIVE),
        *known,
        *recorded,
    )


def _fuzz(
    cases: st.SearchStrategy[Any], session: dict[str, Any], examples: int, statuses: Counter[int]
) -> None:
    """Send `examples` generated requests with this session and check each response."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def fuzz(case: Any) -> None:
        response = case.call(headers=session["headers"], cookies=session["cookies"])
        statuses[response.status_code] += 1
        case.validate_response(response)

    fuzz()


def test_the_api_answers_every_generated_request_as_documented(clinic: dict[str, Any]) -> None:
    nurse, director, patient = clinic["nurse"], clinic["director"], clinic["patient_user"]
    own = clinic["patient_slc"]
    responses = [
        response_record(
            actor=nurse,
            patient=own,
            instrument_key="phq9",
            answers=[1] * 9,
            context="between_sessions",
        ),
        response_record(
            actor=clinic["nurse_boise"],
            patient=clinic["patient_boise"],
            instrument_key="gad7",
            answers=[2] * 7,
            context="between_sessions",
        ),
    ]
    ids = {
        "patients": [own.pk, clinic["patient_boise"].pk, 999_999],
        "responses": [responses[0].pk, responses[1].pk],
    }
    statuses: Counter[int] = Counter()
    callers = [("nurse", nurse), ("director", director), ("patient", patient), ("nobody", None)]
    sessions = {name: _session(user) for name, user in callers}
    with _requests_in_this_process():
        for name, user in callers:
            # The schema as the app serves it, and requests sent to the app in this process.
            schema = schemathesis.openapi.from_wsgi(
                "/api/openapi.json", get_wsgi_application(), config=sessions[name]["config"]
            )
            examples = EXAMPLES_PER_CALLER if user is not None else EXAMPLES_PER_CALLER // 4
            _fuzz(_cases(schema, ids), sessions[name], examples, statuses)
            assert statuses, name
    sent = sum(statuses.values())
    print(f"schemathesis: {sent} requests, statuses {dict(sorted(statuses.items()))}")
    assert sent >= REQUIRED_REQUESTS
    assert not [status for status in statuses if status >= 500]
    # The run reached real records, refusals and validation errors alike.
    assert {200, 201, 400, 401, 403, 404, 422} <= set(statuses), statuses
