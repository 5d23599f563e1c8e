"""Real Chromium, issue 17's acceptance: a therapist books an integration session after a
dosing session, writes and signs a note; the nurse cannot read it; the patient sees the
appointment in the portal.

The clock is pinned to a Wednesday morning in Salt Lake City (as the chair-safety walk
does), so the window and the clinic's hours are the same whatever day the suite runs."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.accounts.services import user_create
from ketaclinic.conftest import log_in, make_course
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.patients.models import CareTeamAssignment, Patient
from ketaclinic.scheduling.models import Appointment
from ketaclinic.therapy.models import TherapyNote
from ketaclinic.therapy.tests.conftest import give_session, local

WEDNESDAY_MORNING = "2027-01-06T10:00:00-07:00"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.now(WEDNESDAY_MORNING),
]


def _patient_dosed_yesterday() -> Patient:
    """An SLC demo patient with no course yet: a course from yesterday whose first session
    ended yesterday at 11:00, on the demo therapist's care team, with a portal account."""
    patient = (
        Patient.objects.filter(primary_location__short_name="SLC", treatment_courses__isnull=True)
        .order_by("pk")
        .last()
    )
    director = User.objects.get(username="director")
    slc = patient.primary_location
    yesterday = timezone.localdate(timezone=slc.tz) - timedelta(days=1)
    course = make_course(patient, director, first_day=yesterday, password=DEMO_PASSWORD)
    give_session(course.planned_sessions.get(number=1), ended_at=local(slc, yesterday, "11:00"))
    CareTeamAssignment.objects.create(
        patient=patient, clinician=User.objects.get(username="therapist"), assigned_by=director
    )
    user_create(
        username="walk.patient",
        password=DEMO_PASSWORD,
        role=Role.PATIENT,
        first_name=patient.legal_first_name,
        last_name=patient.legal_last_name,
        patient=patient,
        check_password=False,
    )
    return patient


def test_integration_booked_noted_signed_hidden_from_the_nurse_and_shown_to_the_patient(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    patient = _patient_dosed_yesterday()
    slc = patient.primary_location
    today = timezone.localdate(timezone=slc.tz)

    # The therapist's home names the open window; the link books in it.
    log_in(page, demo, "therapist")
    panel = page.locator("#therapy-home")
    expect(panel).to_contain_text("Integration to book")
    page.screenshot(path=str(artifacts_dir / "therapy-home.png"), full_page=True)
    panel.get_by_role("link", name=patient.display_name).first.click()
    expect(page.locator("#window")).to_contain_text("book it between")

    # Outside the 72-hour window: refused, nothing booked.
    page.get_by_label("Date").fill((today + timedelta(days=2)).isoformat())
    page.get_by_label("Time (local)").fill("14:00")
    page.get_by_role("button", name="Book").click()
    expect(page.locator(".notice.error")).to_contain_text("72 hours after dosing")
    assert not Appointment.objects.filter(patient=patient).exists()
    page.screenshot(path=str(artifacts_dir / "therapy-book-refused.png"), full_page=True)

    page.get_by_label("Date").fill(today.isoformat())
    page.get_by_label("Time (local)").fill("14:00")
    page.get_by_role("button", name="Book").click()
    expect(page.locator(".messages")).to_contain_text("Booked: Integration session")
    expect(page.locator("#integration-rows tbody tr").first).to_contain_text("Booked")
    appointment = Appointment.objects.get(patient=patient)
    assert appointment.provider.username == "therapist"
    assert appointment.starts_at == local(slc, today, "14:00")
    page.screenshot(path=str(artifacts_dir / "therapy-tab.png"), full_page=True)

    # The note: empty required fields are refused, then a draft, then signed.
    page.locator("#therapy-notes summary").click()
    page.get_by_role("link", name="Integration session").click()
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator(".notice.error")).to_be_visible()
    assert not TherapyNote.objects.filter(patient=patient).exists()
    form = page.locator("#therapy-note-form")
    form.get_by_label("The patient's account of the dosing session").fill("Calm, far away.")
    form.get_by_label("Themes and insights that came up").fill("Grief; self-kindness.")
    form.get_by_label("Integration goals and steps until the next session").fill("Walk daily.")
    form.get_by_label("No thoughts of suicide or self-harm reported").check()
    form.get_by_label("Plan (next sessions, referrals, homework)").fill("After session 2.")
    page.screenshot(path=str(artifacts_dir / "therapy-note-form.png"), full_page=True)
    form.get_by_role("button", name="Save draft").click()
    expect(page.locator("#note-status")).to_have_text("Draft")
    page.locator("#sign-form").get_by_label("Your password (signature)").fill(DEMO_PASSWORD)
    page.locator("#sign-form").get_by_role("button", name="Sign note").click()
    expect(page.locator("#note-status")).to_have_text("Signed")
    expect(page.locator("#edit-form")).to_have_count(0)
    page.screenshot(path=str(artifacts_dir / "therapy-note-signed.png"), full_page=True)
    note = TherapyNote.objects.get(patient=patient)
    assert note.is_signed
    note_url = page.url

    # The nurse cannot read it.
    page.context.clear_cookies()
    log_in(page, demo, "nurse")
    response = page.goto(note_url)
    assert response is not None and response.status == 403
    expect(page.locator("body")).not_to_contain_text("self-kindness")

    # The patient sees the visit in the portal, on a phone.
    page.context.clear_cookies()
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, demo, "walk.patient")
    page.goto(f"{demo}/portal/")
    expect(page.locator("main")).to_contain_text("Integration session")
    expect(page.locator("main")).to_contain_text(re.compile(r"14:00|2:00"))
    expect(page.locator("main")).not_to_contain_text("self-kindness")
    page.screenshot(path=str(artifacts_dir / "therapy-portal.png"), full_page=True)
