"""Real Chromium, issue 7's walk: a visitor's request, the coordinator converting it, a video
consultation refused for a provider unlicensed in the patient's state and booked with a
licensed one, and an IV induction series booked from a course."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ketaclinic.accounts.models import User
from ketaclinic.conftest import log_in, make_course
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import Appointment, AppointmentRequest, AppointmentStatus
from ketaclinic.scheduling.tests.conftest import next_weekday

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _send_a_request(page: Page, base: str, artifacts: Path) -> None:
    page.goto(f"{base}/visit/request/")
    page.get_by_label("First name").fill("Marie")
    page.get_by_label("Last name").fill("Curie")
    page.get_by_label("Date of birth").fill("1984-11-07")
    page.get_by_label("Phone", exact=True).fill("555-12")
    page.get_by_role("textbox", name=re.compile(r"^Email")).fill("marie@example.org")
    page.get_by_label("State where you live").select_option("WA")
    page.get_by_label("Video visit (telehealth)").check()
    page.get_by_label("What would you like help with?").fill("Depression for ten years.")
    page.get_by_label("You may contact me").check()
    page.get_by_role("button", name="Send my request").click()
    # Refused for the phone number only; everything else typed is still there.
    expect(page.locator(".has-error")).to_contain_text("phone")
    expect(page.get_by_label("First name")).to_have_value("Marie")
    expect(page.get_by_label("Date of birth")).to_have_value("1984-11-07")
    expect(page.get_by_label("State where you live")).to_have_value("WA")
    expect(page.get_by_label("Video visit (telehealth)")).to_be_checked()
    expect(page.get_by_label("What would you like help with?")).to_have_value(
        "Depression for ten years."
    )
    page.screenshot(path=str(artifacts / "request-form-error.png"), full_page=True)
    assert not AppointmentRequest.objects.filter(last_name="Curie").exists()
    page.get_by_label("Phone", exact=True).fill("(801) 555-0177")
    page.get_by_role("button", name="Send my request").click()
    expect(page).to_have_url(re.compile(r"/visit/request/sent/$"))
    expect(page.locator("main")).to_contain_text("988")
    expect(page.locator("main")).not_to_contain_text("Curie")


def _convert(page: Page, base: str) -> None:
    log_in(page, base, "coordinator")
    page.goto(f"{base}/requests/")
    page.get_by_role("link", name=re.compile("Curie")).click()
    page.get_by_role("link", name="Register as a new patient").click()
    expect(page.get_by_label("Legal first name")).to_have_value("Marie")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_role("button", name="Register and book the consultation").click()
    expect(page.get_by_role("heading", name="Book an appointment")).to_be_visible()
    expect(page.get_by_label("Video visit")).to_be_checked()


def _book_video_consultation(page: Page, artifacts: Path) -> None:
    day = next_weekday(2, weeks_ahead=2)  # a Wednesday: both providers work at SLC
    expect(page.get_by_label("Appointment type")).to_have_value("consultation")
    page.get_by_label("Provider").select_option(label="Priya Raman, MD")
    page.get_by_label("Date").fill(day.isoformat())
    page.get_by_label("Time").fill("08:00")
    page.get_by_role("button", name="Book").click()
    refusals = page.locator("#refusals")
    expect(refusals).to_contain_text("Washington (WA)")
    expect(page.get_by_label("Date")).to_have_value(day.isoformat())
    page.screenshot(path=str(artifacts / "booking-refused-license.png"), full_page=True)
    assert not Appointment.objects.filter(patient__legal_last_name="Curie").exists()
    page.get_by_label("Provider").select_option(label="Helen Marsh, MD")
    page.get_by_role("button", name="Book").click()
    expect(page.locator(".messages")).to_contain_text("Booked: Consultation")
    booked = Appointment.objects.get(patient__legal_last_name="Curie")
    assert booked.telehealth and booked.provider.username == "director"
    assert booked.from_request.last_name == "Curie"


def _book_series(page: Page, base: str, artifacts: Path) -> None:
    patient = (
        Patient.objects.filter(primary_location__short_name="SLC", treatment_courses__isnull=True)
        .exclude(legal_last_name="Curie")
        .order_by("pk")
        .first()
    )
    course = make_course(
        patient,
        User.objects.get(username="director"),
        first_day=next_weekday(0, weeks_ahead=2),
        password=DEMO_PASSWORD,
    )
    page.goto(f"{base}/patients/{patient.pk}/courses/{course.pk}/")
    page.get_by_role("link", name="Book sessions").click()
    page.get_by_role("button", name=re.compile(r"Book \d+ sessions")).click()
    expect(page.locator(".messages")).to_contain_text("sessions booked")
    planned = course.planned_sessions.count()
    assert (
        Appointment.objects.filter(
            planned_session__course=course, status=AppointmentStatus.BOOKED
        ).count()
        == planned
    )
    page.screenshot(path=str(artifacts / "series-booked.png"), full_page=True)
    first = course.planned_sessions.order_by("number").first()
    local = timezone.localtime(first.starts_at, patient.primary_location.tz).date()
    location = patient.primary_location.pk
    page.goto(f"{base}/calendar/{location}/{local.isoformat()}/")
    expect(page.locator("main")).to_contain_text(patient.legal_last_name)
    page.screenshot(path=str(artifacts / "calendar-day.png"), full_page=True)
    page.goto(f"{base}/calendar/{location}/week/{(local + timedelta(days=7)).isoformat()}/")
    page.screenshot(path=str(artifacts / "calendar-week.png"), full_page=True)
    # The demo's own coming week, as the coordinator meets it on Monday.
    monday = next_weekday(0, weeks_ahead=0)
    page.goto(f"{base}/calendar/{location}/{monday.isoformat()}/")
    page.screenshot(path=str(artifacts / "calendar-demo-day.png"), full_page=True)


def test_from_a_request_to_a_booked_induction_series(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    _send_a_request(page, demo, artifacts_dir)
    _convert(page, demo)
    _book_video_consultation(page, artifacts_dir)
    _book_series(page, demo, artifacts_dir)
