"""Demo questionnaire histories: believable trajectories after ketamine induction.

About half the patients respond (as in the open-label series in clinical-reference.md
section 4), some partly, some not. One Salt Lake City patient answered item 9 of a PHQ-9
this morning through a link, so the nurse's worklist has an open alert to show.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.clinical.scoring import Instrument, get_instrument, score
from ketaclinic.measures.models import (
    AlertAction,
    AssessmentResponse,
    ResponseContext,
    SafetyAlert,
    ScheduleRule,
)
from ketaclinic.measures.services import self_report_request_create, self_report_submit
from ketaclinic.patients.models import Patient

# Long histories for this many patients; a 100,000-patient demo keeps seeding fast.
MEASURED_PATIENTS = 300
WEEKS = 16


def answers_summing_to(
    rng: random.Random, instrument: Instrument, total: int, keep_zero: Sequence[int] = ()
) -> list[int]:
    """Item answers that add up to `total`, spread at random over the items."""
    answers = [low for low, _high in instrument.item_ranges]
    free = [i for i in range(instrument.item_count) if i not in keep_zero]
    capacity = sum(instrument.item_ranges[i][1] - answers[i] for i in free)
    remaining = max(0, min(total - sum(answers), capacity))
    while remaining:
        i = rng.choice(free)
        if answers[i] < instrument.item_ranges[i][1]:
            answers[i] += 1
            remaining -= 1
    return answers


def response_row(
    patient: Patient, key: str, answers: list[int], context: str, when: datetime, by: User | None
) -> AssessmentResponse:
    result = score(key, answers)
    return AssessmentResponse(
        patient=patient,
        instrument_key=key,
        answers=answers,
        total=result.total,
        severity=result.severity or "",
        risk=result.risk or "",
        alerts=list(result.alerts),
        subscores=dict(result.subscores),
        context=context,
        completed_by_patient=get_instrument(key).respondent == "patient",
        completed_by=by if get_instrument(key).respondent == "clinician" else None,
        completed_at=when,
    )


def seed_measures(
    *,
    patients: Sequence[Patient],
    clinicians: dict[int, User],
    rng: random.Random,
    now: datetime,
) -> None:
    """Questionnaire histories ending shortly before `now`, and the demo's two alerts."""
    phq9, gad7, madrs = get_instrument("phq9"), get_instrument("gad7"), get_instrument("madrs")
    responses: list[AssessmentResponse] = []
    rules: list[ScheduleRule] = []
    for patient in patients[:MEASURED_PATIENTS]:
        clinician = clinicians[patient.primary_location_id]
        course = rng.choices(["responder", "partial", "non"], weights=[5, 3, 2])[0]
        end_fraction = {
            "responder": rng.uniform(0.15, 0.45),
            "partial": rng.uniform(0.55, 0.75),
            "non": rng.uniform(0.85, 1.05),
        }[course]
        baseline_phq = rng.randint(16, 24)
        baseline_gad = rng.randint(9, 18)
        baseline_madrs = rng.randint(26, 40)
        weeks = rng.randint(8, WEEKS)
        # Most histories run up to the last week or two; a few lapsed and are overdue.
        lapsed_days = rng.choice([0, 2, 4, 6, 9, 12, 30])
        start = now - timedelta(days=weeks * 7 + lapsed_days, hours=rng.randint(0, 6))
        for week in range(weeks + 1):
            # Most of the change comes in the first three weeks (the induction series).
            progress = min(1.0, week / 3) if week else 0.0
            fraction = 1 - (1 - end_fraction) * progress
            when = start + timedelta(days=7 * week, minutes=rng.randint(0, 90))
            context = (
                ResponseContext.BASELINE
                if week == 0
                else (
                    ResponseContext.PRE_SESSION if week <= 3 else ResponseContext.BETWEEN_SESSIONS
                )
            )
            phq_total = max(0, min(27, round(baseline_phq * fraction + rng.uniform(-1.5, 1.5))))
            gad_total = max(0, min(21, round(baseline_gad * fraction + rng.uniform(-1.5, 1.5))))
            responses.append(
                response_row(
                    patient,
                    "phq9",
                    answers_summing_to(rng, phq9, phq_total, [8]),
                    context,
                    when,
                    None,
                )
            )
            responses.append(
                response_row(
                    patient, "gad7", answers_summing_to(rng, gad7, gad_total), context, when, None
                )
            )
            if week in (0, 3):
                madrs_total = round(baseline_madrs * (1 if week == 0 else end_fraction))
                responses.append(
                    response_row(
                        patient,
                        "madrs",
                        answers_summing_to(rng, madrs, madrs_total),
                        context,
                        when + timedelta(minutes=20),
                        clinician,
                    )
                )
        last = start + timedelta(days=7 * weeks)
        for key in ("phq9", "gad7"):
            rules.append(
                ScheduleRule(
                    patient=patient,
                    instrument_key=key,
                    interval_days=7,
                    starts_on=timezone.localdate(start, patient.primary_location.tz),
                    next_due_on=timezone.localdate(
                        last + timedelta(days=7), patient.primary_location.tz
                    ),
                    created_by=clinician,
                )
            )
    AssessmentResponse.objects.bulk_create(responses, batch_size=2000)
    ScheduleRule.objects.bulk_create(rules, batch_size=2000)
    _seed_alerts(patients, clinicians, rng, now)


def _seed_alerts(
    patients: Sequence[Patient], clinicians: dict[int, User], rng: random.Random, now: datetime
) -> None:
    """One open alert from a link answered just now, and one acknowledged last month."""
    slc = [p for p in patients[:MEASURED_PATIENTS] if p.primary_location.short_name == "SLC"]
    if len(slc) < 3:
        return
    phq9 = get_instrument("phq9")
    for patient, days_ago in ((slc[1], 0), (slc[2], 30)):
        nurse = clinicians[patient.primary_location_id]
        request, _token = self_report_request_create(
            actor=nurse,
            patient=patient,
            instrument_keys=["phq9"],
            context=ResponseContext.BETWEEN_SESSIONS,
        )
        answers = answers_summing_to(rng, phq9, 14, [8])
        answers[8] = 1
        [response] = self_report_submit(request=request, answers={"phq9": answers})
        # The services stamp the real time; the demo's clock is `now`.
        moment = now - timedelta(days=days_ago)
        AssessmentResponse.objects.filter(pk=response.pk).update(completed_at=moment)
        alerts = SafetyAlert.objects.filter(response=response)
        alerts.update(raised_at=moment)
        if days_ago:
            alerts.update(
                acknowledged_at=moment + timedelta(hours=2),
                acknowledged_by=nurse,
                action=AlertAction.SPOKE_WITH_PATIENT,
                action_note="Called the patient: passive thoughts, no plan or intent. Safety "
                "plan reviewed; sister staying with her. Prescriber informed.",
            )
