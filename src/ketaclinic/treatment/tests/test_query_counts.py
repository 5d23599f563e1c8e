from datetime import date, time
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from ketaclinic.eligibility.models import RuleSetting
from ketaclinic.treatment.models import PlannedSession
from ketaclinic.treatment.tests.test_course_flow import _consent, _intake, _iv_protocol, _trials


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(url).status_code == 200, url
    return len(context)


@pytest.mark.django_db
@pytest.mark.now("2026-02-23T10:00:00-07:00")  # the courses start on Monday 2 March
def test_treatment_pages_do_not_grow_with_courses_sessions_or_rule_history(
    ready: dict[str, Any],
) -> None:
    from ketaclinic.conftest import PASSWORD
    from ketaclinic.eligibility import services as eligibility
    from ketaclinic.treatment import services as treatment

    patient = ready["patient_slc"]
    _trials(patient, 2)
    intake = _intake(ready)
    eligibility.eligibility_sign(
        actor=ready["prescriber"],
        intake=intake,
        password=PASSWORD,
        decision="approve",
        expected_version=intake.version,
    )
    _consent(ready)

    def plan() -> Any:
        return treatment.course_create(
            actor=ready["prescriber"],
            patient=patient,
            protocol=_iv_protocol(),
            first_day=date(2026, 3, 2),
            local_time=time(9, 0),
        )

    course = plan()
    client = Client()
    client.force_login(ready["director"])
    urls = [
        f"/patients/{patient.pk}/treatment/",
        f"/patients/{patient.pk}/courses/{course.pk}/",
        "/eligibility/rules/",
        "/protocols/",
    ]
    small = {url: _queries(client, url) for url in urls}
    treatment.course_end(actor=ready["prescriber"], course=course, reason="Replanned")
    for _ in range(20):
        treatment.course_end(actor=ready["prescriber"], course=plan(), reason="Replanned")
    PlannedSession.objects.bulk_create(
        PlannedSession(
            course=course,
            number=100 + i,
            starts_at=course.created_at,
            planned_dose_mg=course.planned_dose_mg,
        )
        for i in range(200)
    )
    RuleSetting.objects.bulk_create(
        RuleSetting(rule_id="ptsd", kind="caution", reason=str(i), changed_by=ready["director"])
        for i in range(200)
    )
    for url in urls:
        assert _queries(client, url) == small[url], url
