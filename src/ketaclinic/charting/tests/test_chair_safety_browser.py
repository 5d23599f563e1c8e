"""Real Chromium, issue 19: each entry the chair workflow used to accept is now refused
with a clear message (nothing saved) or asks for a confirmation first.

The clock is pinned (a Wednesday morning in Salt Lake City) so that "a 03:00 entry" is
always before the check-in, and moved on where the story needs time to pass."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect

from ketaclinic.accounts.models import User
from ketaclinic.charting.models import SessionStatus, TreatmentSession, VitalSign
from ketaclinic.charting.tests.conftest import presession_screening
from ketaclinic.conftest import log_in, make_course
from ketaclinic.eligibility.models import EligibilityDecision
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import allergy_status
from ketaclinic.patients.services import patient_nkda_verify
from ketaclinic.register.models import EntryKind, LedgerEntry
from ketaclinic.treatment.models import TreatmentCourse

WEDNESDAY_MORNING = "2027-01-06T10:00:00-07:00"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.now(WEDNESDAY_MORNING),
]


def _patient(*, allergies_recorded: bool = True, screened: bool = True) -> Patient:
    """A Salt Lake City demo patient with an IV course from today."""
    patient = (
        Patient.objects.filter(primary_location__short_name="SLC", treatment_courses__isnull=True)
        .order_by("pk")
        .last()
    )
    director = User.objects.get(username="director")
    make_course(patient, director, first_day=timezone.localdate(), password=DEMO_PASSWORD)
    if allergies_recorded and not allergy_status(patient).is_recorded:
        patient_nkda_verify(actor=director, patient=patient)
    elif not allergies_recorded:
        Patient.objects.filter(pk=patient.pk).update(nkda_verified_at=None, nkda_verified_by=None)
        patient.allergies.all().delete()
    if screened:
        presession_screening(patient, at=timezone.now() - timedelta(minutes=30))
    return patient


def _session(patient: Patient) -> TreatmentSession:
    return TreatmentSession.objects.get(patient=patient, status__in=[*SessionStatus.values])


def _check_in_and_prechecks(page: Page, demo: str, patient: Patient) -> None:
    page.goto(f"{demo}/patients/{patient.pk}/sessions/")
    rows = page.locator("#sessions tbody tr")
    rows.first.get_by_label("Chair").select_option("4")
    rows.first.get_by_role("button", name="Check in").click()
    expect(page.locator("#session-status")).to_have_text("Checked in")
    prechecks = page.locator("#prechecks")
    prechecks.get_by_label("Today's weight (kg)").fill("72")
    prechecks.get_by_label("Food and drink today").fill("Light breakfast 07:00")
    prechecks.get_by_label("Escort or ride home: name").fill("Charles Babbage")
    prechecks.get_by_label("Escort phone").fill("801-555-0142")
    prechecks.get_by_label("Medication changes since last session").fill("none")
    prechecks.get_by_role("button", name="Save pre-checks").click()


def _vitals(page: Page, bp: tuple[int, int], at: str = "") -> Any:
    form = page.locator("[data-vitals-form]")
    form.get_by_label("Systolic").fill(str(bp[0]))
    form.get_by_label("Diastolic").fill(str(bp[1]))
    form.get_by_label("Heart rate").fill("74")
    form.get_by_label("SpO2").fill("98")
    form.get_by_label("Resp. rate").fill("14")
    form.get_by_label("Time taken").fill(at)
    form.get_by_role("button", name="Save reading").click()
    return form


def test_the_chair_refuses_what_it_used_to_accept(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    patient = _patient()
    log_in(page, demo, "nurse")

    # Session 6 of the course, planned two weeks on, before session 1: refused.
    page.goto(f"{demo}/patients/{patient.pk}/sessions/")
    sixth = page.locator("#sessions tbody tr").nth(5)
    sixth.get_by_role("button", name="Check in").click()
    error = page.locator(".messages .error")
    expect(error).to_contain_text("it can be checked in on its day")
    expect(error).to_contain_text("Earlier sessions 1, 2, 3, 4, 5 of this course")
    assert not TreatmentSession.objects.filter(patient=patient).exists()

    _check_in_and_prechecks(page, demo, patient)
    session = _session(patient)

    # Diastolic 20: refused, nothing saved, what was typed is kept.
    form = _vitals(page, (130, 20))
    expect(page.locator("#vitals-error")).to_contain_text("Diastolic BP 20 mmHg is outside 30-200")
    expect(form.get_by_label("Diastolic")).to_have_value("20")
    # A 03:00 entry, hours before the 10:00 check-in: refused.
    _vitals(page, (128, 82), at="03:00")
    expect(page.locator("#vitals-error")).to_contain_text("before the patient checked in")
    assert not VitalSign.objects.filter(session=session).exists()

    # A typo (42 for 82) is saved, then struck through with its reason: it stays, crossed out.
    _vitals(page, (128, 42))
    expect(page.locator("#vitals-table")).to_contain_text("128/42")
    typo = page.locator("#vitals-table tr", has_text="128/42")
    typo.locator("summary", has_text="Strike through").click()
    typo.get_by_label("Why (entered in error)").fill("typed 42 for 82")
    typo.get_by_role("button", name="Strike through").click()
    struck = page.locator("#vitals-table tr.struck", has_text="128/42")
    expect(struck).to_contain_text("typed 42 for 82")
    page.screenshot(path=artifacts_dir / "session-struck-reading.png", full_page=True)
    _vitals(page, (128, 82))
    expect(page.locator("#vitals-table")).to_contain_text("128/82")
    page.reload()
    expect(page.locator("#blockers")).to_have_text("Everything is ready: dosing may start.")

    # The prescriber: 60 mg is above this protocol's 0.5 mg/kg (refused); 30 mg is off its
    # step (confirmed); the dosing panel then shows the figures for 30 mg.
    prescriber = page.context.browser.new_page()
    log_in(prescriber, demo, "prescriber")
    prescriber.goto(f"{demo}/patients/{patient.pk}/sessions/{session.pk}/")
    dose = prescriber.locator("#dose")
    dose.locator("summary", has_text="Change today's dose").click()
    dose.get_by_label("New dose (mg)").fill("60")
    dose.get_by_label("Reason").fill("Partial response last time")
    dose.get_by_role("button", name="Change dose").click()
    expect(prescriber.locator(".messages .error")).to_contain_text(
        "60 mg is 0.83 mg/kg of 72 kg (actual weight), above this protocol's maximum"
    )
    dose = prescriber.locator("#dose")
    dose.locator("summary", has_text="Change today's dose").click()
    dose.get_by_label("New dose (mg)").fill("30")
    dose.get_by_label("Reason").fill("Nausea last time")
    dose.get_by_role("button", name="Change dose").click()
    expect(prescriber.locator("#confirm-findings")).to_contain_text(
        "not one of this protocol's steps"
    )
    prescriber.screenshot(path=artifacts_dir / "dose-change-confirm.png", full_page=True)
    prescriber.locator("#confirm-save").click()
    expect(prescriber.locator("#dose-preparation")).to_have_text(
        "30 mg: 0.30 mL of 100 mg/mL in a 100 mL bag at 150 mL/h over 40 min"
    )
    prescriber.close()

    page.reload()
    expect(page.locator("#dose-today")).to_contain_text("30.0 mg (0.42 mg/kg)")
    dosing = page.locator("#dosing")
    expect(dosing.get_by_label("Container (from the register)")).to_contain_text("today's dose is")
    # 9999 mL/h: refused, nothing drawn from the register.
    draws_before = LedgerEntry.objects.filter(kind=EntryKind.DRAW).count()
    dosing.get_by_label("Volume drawn (mL)").fill("1.0")
    dosing.get_by_label("Pump rate (mL/h)").fill("9999")
    dosing.get_by_role("button", name="Start infusion").click()
    expect(page.locator(".messages .error")).to_contain_text("more than 2 times off")
    assert LedgerEntry.objects.filter(kind=EntryKind.DRAW).count() == draws_before
    assert _session(patient).dosing_started_at is None

    dosing = page.locator("#dosing")
    dosing.get_by_label("Volume drawn (mL)").fill("1.0")
    dosing.get_by_role("button", name="Start infusion").click()  # the computed 150 mL/h
    expect(page.locator("#session-status")).to_have_text("Dosing")
    started = _session(patient).dosing_started_at

    # Stopped at 2 of 40 minutes: what was given is what ran, not the planned dose.
    with time_machine.travel(started + timedelta(minutes=2), tick=False):
        page.reload()
        stop = page.locator("#dosing")
        stop.get_by_label("Reason (if stopping early)").fill("Vomiting")
        stop.get_by_role("button", name="Stop infusion").click()
        expect(page.locator("#session-status")).to_have_text("Monitoring")
        expect(page.locator("#given")).to_contain_text("1.5 mg of 30.0 mg")
        draw = LedgerEntry.objects.get(session__patient=patient, kind=EntryKind.DRAW)
        given = page.locator("#register-draws form").get_by_label("Given (mL)")
        strength = draw.container.product.strength_mg_per_ml
        expected = (Decimal("1.5") / strength).quantize(Decimal("0.001"))
        assert abs(Decimal(given.input_value()) - expected) <= Decimal("0.001")
        page.screenshot(path=artifacts_dir / "session-stopped-early.png", full_page=True)


def test_a_course_cannot_start_before_its_signed_decision(page: Page, demo: str) -> None:
    patient = _patient()
    decision = EligibilityDecision.objects.filter(patient=patient).latest("signed_at")
    course = TreatmentCourse.objects.get(patient=patient)
    log_in(page, demo, "prescriber")
    # Replanning: ending the course asks to confirm what it cancels ...
    page.goto(f"{demo}/patients/{patient.pk}/courses/{course.pk}/")
    end = page.locator("#end-course")
    expect(end).to_contain_text("6 sessions not yet started will be cancelled")
    end.get_by_label("Reason", exact=True).fill("Replanning at a later date")
    end.get_by_role("button", name="End course").click()
    expect(page.locator("#end-course")).to_contain_text("Tick the box to confirm")
    course.refresh_from_db()
    assert course.phase != TreatmentCourse.Phase.ENDED
    end = page.locator("#end-course")
    end.get_by_label("Reason", exact=True).fill("Replanning at a later date")
    end.get_by_label("Cancel the sessions not yet started").check()
    end.get_by_role("button", name="End course").click()
    expect(page.locator(".messages")).to_contain_text("Course ended.")
    # ... and the new plan refuses a first day before today, that is before the decision.
    page.goto(f"{demo}/patients/{patient.pk}/treatment/")
    page.get_by_role("link", name="+ Plan a course").click()
    yesterday = timezone.localdate() - timedelta(days=1)
    page.get_by_label("First session on or after").fill(yesterday.isoformat())
    page.get_by_label("Session start time (clinic's local time)").fill("09:00")
    page.get_by_role("button", name="Create course").click()
    expect(page.locator("main")).to_contain_text("The first session cannot be in the past")
    assert TreatmentCourse.objects.filter(patient=patient).count() == 1
    assert timezone.localdate(decision.signed_at) > yesterday


def test_dosing_waits_until_allergies_are_recorded(page: Page, demo: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    patient = _patient(allergies_recorded=False)
    log_in(page, demo, "nurse")
    expect_not_recorded = page.locator("[data-allergy-status=not_recorded]")
    _check_in_and_prechecks(page, demo, patient)
    expect(expect_not_recorded).to_be_visible()
    _vitals(page, (128, 82))
    expect(page.locator("#vitals-table")).to_contain_text("128/82")
    page.reload()
    expect(page.locator("#blockers")).to_contain_text("Allergies are not recorded")
    expect(page.locator("#dosing")).to_have_count(0)  # no start button while blocked
    assert _session(patient).status == SessionStatus.CHECKED_IN

    session_url = page.url
    page.goto(f"{demo}/patients/{patient.pk}/history/")
    page.get_by_role("button", name="No known drug allergies: verified with the patient").click()
    page.goto(session_url)
    expect(page.locator("[data-allergy-status=nkda]")).to_be_visible()
    expect(page.locator("#blockers")).to_have_text("Everything is ready: dosing may start.")


def test_a_long_unbroken_note_stays_inside_its_card(page: Page, demo: str) -> None:
    from ketaclinic.charting import services

    patient = _patient()
    nurse = User.objects.get(username="nurse")
    course = TreatmentCourse.objects.get(patient=patient)
    session = services.session_check_in(
        actor=nurse, planned=course.planned_sessions.first(), chair=None
    )
    services.session_stop_early(actor=nurse, session=session, reason="Left " + "x" * 400)
    log_in(page, demo, "nurse")
    page.set_viewport_size({"width": 1024, "height": 800})
    page.goto(f"{demo}/patients/{patient.pk}/sessions/{session.pk}/")
    note = page.locator("#note")
    note.get_by_label("Your comment (assessment and plan)").fill("https://" + "y" * 300)
    note.get_by_label("Your password (signature)").fill(DEMO_PASSWORD)
    note.get_by_role("button", name="Sign note").click()
    body = page.locator(".note-body")
    expect(body).to_contain_text("yyyy")
    overflow = body.evaluate("e => e.scrollWidth - e.clientWidth")
    card = page.locator("#note").evaluate("e => e.scrollWidth - e.clientWidth")
    assert overflow <= 1 and card <= 1, (overflow, card)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
