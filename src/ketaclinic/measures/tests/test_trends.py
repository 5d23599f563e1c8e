from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ketaclinic.measures.models import AssessmentResponse
from ketaclinic.measures.selectors import patient_trends


def _add(
    patient: Any, key: str, answers: list[int], total: int, context: str, days_ago: int
) -> None:
    AssessmentResponse.objects.create(
        patient=patient,
        instrument_key=key,
        answers=answers,
        total=total,
        context=context,
        completed_by_patient=False,
        completed_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.mark.django_db
def test_sedation_never_reads_as_a_treatment_response(clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    _add(patient, "moaas", [5], 5, "baseline", 2)
    _add(patient, "moaas", [2], 2, "post_session", 1)
    [trend] = patient_trends(patient)
    assert trend.status is None
    assert [line.css for line in trend.chart.lines] == ["line-baseline"]


@pytest.mark.django_db
def test_the_latest_baseline_is_the_one_that_counts(clinic: dict[str, Any]) -> None:
    patient = clinic["patient_slc"]
    _add(patient, "phq9", [2] * 9, 18, "baseline", 60)  # first course
    _add(patient, "phq9", [1] * 9, 9, "between_sessions", 40)
    _add(patient, "phq9", [3] * 8 + [0], 24, "baseline", 20)  # second course re-baselines
    _add(patient, "phq9", [1] * 8 + [0], 8, "between_sessions", 1)
    [trend] = patient_trends(patient)
    assert trend.baseline.total == 24
    assert trend.status.label == "responder" and round(trend.status.change_percent) == -67
    assert {line.css for line in trend.chart.lines} == {
        "line-baseline",
        "line-response",
        "line-remission",
    }
