"""Real Chromium: from intake to a signed, consented, planned IV induction course."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ketaclinic.clinical.eligibility import adequate_trial_count
from ketaclinic.conftest import log_in
from ketaclinic.eligibility.selectors import trial_policy
from ketaclinic.eligibility.services import intake_trials
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.patients.models import Patient
from ketaclinic.treatment.models import TreatmentCourse

IV_STANDARD = "IV ketamine 0.5 mg/kg over 40 minutes, six-session induction (version 1)"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _next_monday(patient: Patient) -> date:
    """A course is planned from today on: the first Monday after today at the clinic."""
    today = timezone.localdate(timezone=patient.primary_location.tz)
    return today + timedelta(days=7 - today.weekday())


def _patients_by_trials(minimum: int) -> list[Patient]:
    """SLC demo patients without a course, by whether their chart meets `minimum` trials."""
    policy = trial_policy()
    found = []
    for patient in Patient.objects.filter(
        primary_location__short_name="SLC", treatment_courses__isnull=True
    ).order_by("pk"):
        count = adequate_trial_count(intake_trials(patient), policy)
        if (count >= minimum) if minimum else (count < 2):
            found.append(patient)
    return found


def _intake(page: Page, base: str, patient: Patient) -> None:
    page.goto(f"{base}/patients/{patient.pk}/treatment/")
    page.get_by_role("link", name="Start an intake evaluation").click()
    page.get_by_label("IV racemic ketamine").check()
    page.get_by_role("button", name="Start").click()
    expect(page.get_by_role("heading", name="Episode and prior treatment")).to_be_visible()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("button", name="Save and continue").click()  # psychiatric: all no
    page.get_by_label("Blood pressure today, systolic (mmHg)").fill("128")
    page.get_by_label("Diastolic (mmHg)").fill("82")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("button", name="Save and continue").click()  # medications
    expect(page.get_by_role("heading", name="Sign the decision")).to_be_visible()


def test_prescriber_plans_an_iv_induction_course(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    patient = _patients_by_trials(2)[0]
    log_in(page, demo, "prescriber")
    _intake(page, demo, patient)
    advice = page.locator("[data-advice]")
    expect(advice).not_to_have_attribute("data-advice", "not_eligible")
    page.screenshot(path=artifacts_dir / "eligibility-findings.png", full_page=True)

    page.get_by_label("Approve treatment").check()
    page.get_by_label("Your password, to sign").fill("not-my-password")
    page.get_by_role("button", name="Sign decision").click()
    expect(page.get_by_role("alert")).to_contain_text("password is not right")
    page.get_by_label("Approve treatment").check()
    page.get_by_label("Your password, to sign").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign decision").click()
    expect(page.locator(".messages")).to_contain_text("Eligibility decision signed")

    page.get_by_role("link", name="Record consent").click()
    page.get_by_label("Patient types their full legal name").fill(
        f"{patient.legal_first_name} {patient.legal_last_name}"
    )
    page.get_by_label("I have read this consent").check()
    page.get_by_role("button", name="Record consent").click()
    expect(page.locator(".messages")).to_contain_text("Consent recorded and witnessed")

    page.get_by_role("link", name="+ Plan a course").click()
    page.get_by_label("Protocol").select_option(label=IV_STANDARD)
    monday = _next_monday(patient)
    page.get_by_label("First session on or after").fill(monday.isoformat())
    page.get_by_label("Session start time (clinic's local time)").fill("09:00")
    page.get_by_role("button", name="Create course").click()
    expect(page.locator(".messages")).to_contain_text("6 planned sessions")
    rows = page.locator("#planned-sessions tbody tr")
    expect(rows).to_have_count(6)
    wednesday = monday + timedelta(days=2)
    expect(rows.first).to_contain_text(f"Monday, {monday:%b} {monday.day}, {monday.year}")
    expect(rows.nth(1)).to_contain_text(
        f"Wednesday, {wednesday:%b} {wednesday.day}, {wednesday.year}"
    )
    chart = page.locator("svg[data-chart=pk]")
    expect(chart).to_be_visible()
    expect(chart.locator("path.pk-line")).to_have_count(1)
    expect(page.locator("main")).to_contain_text("educational estimate, not dosing guidance")
    page.screenshot(path=artifacts_dir / "course-plan.png", full_page=True)
    course = TreatmentCourse.objects.get(patient=patient)
    assert course.planned_sessions.count() == 6 and course.protocol.version == 1


def test_not_eligible_patient_needs_an_override_reason(page: Page, demo: str) -> None:
    patient = _patients_by_trials(0)[0]
    log_in(page, demo, "prescriber")
    _intake(page, demo, patient)
    expect(page.locator("[data-advice]")).to_have_attribute("data-advice", "not_eligible")
    page.get_by_label("Approve treatment").check()
    page.get_by_label("Your password, to sign").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign decision").click()
    expect(page.get_by_role("alert")).to_contain_text("needs a written reason")
    assert not patient.eligibility_decisions.exists()
    # Without an approving decision the course page refuses to plan.
    page.goto(f"{demo}/patients/{patient.pk}/courses/new/")
    page.get_by_label("Protocol").select_option(label=IV_STANDARD)
    page.get_by_label("First session on or after").fill(_next_monday(patient).isoformat())
    page.get_by_label("Session start time (clinic's local time)").fill("09:00")
    page.get_by_role("button", name="Create course").click()
    expect(page.get_by_role("alert")).to_contain_text("approving eligibility decision")
    assert not TreatmentCourse.objects.filter(patient=patient).exists()
    # With the reason written, the override is signed.
    page.goto(f"{demo}/patients/{patient.pk}/intake/{patient.intake_evaluations.get().pk}/review/")
    page.get_by_label("Approve treatment").check()
    page.get_by_label("Reason for approving against the advice").fill(
        "Two failed trials documented by the referring psychiatrist; records on file."
    )
    page.get_by_label("Your password, to sign").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign decision").click()
    expect(page.locator(".messages")).to_contain_text("Eligibility decision signed")
    decision = patient.eligibility_decisions.get()
    assert decision.advice == "not_eligible" and decision.override_reason
