"""Real Chromium against a live server with the demo clinic: what people actually do."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ketaclinic.conftest import log_in
from ketaclinic.patients.models import Patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HOMES = {
    "coordinator": ("/coordinator/", "Coordinator desk"),
    "nurse": ("/nurse/", "Nursing station"),
    "prescriber": ("/prescriber/", "Prescriber workspace"),
    "director": ("/director/", "Medical director"),
    "admin": ("/administration/", "Administration"),
    "patient": ("/portal/", "Hello,"),
}


@pytest.mark.parametrize("username", list(HOMES))
def test_each_demo_account_logs_in_and_lands_on_its_home(
    page: Page, demo: str, username: str, artifacts_dir: Path
) -> None:
    log_in(page, demo, username)
    path, heading = HOMES[username]
    expect(page).to_have_url(f"{demo}{path}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    page.screenshot(path=artifacts_dir / f"home-{username}.png", full_page=True)


def test_coordinator_searches_and_registers_a_patient(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 860})
    log_in(page, demo, "coordinator")
    # "/" jumps to the search box from anywhere, then live results appear as you type.
    page.keyboard.press("/")
    expect(page.locator("#patient-search")).to_be_focused()
    page.get_by_role("link", name="Patients", exact=True).click()
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_be_visible()
    slc_patient = Patient.objects.filter(primary_location__short_name="SLC").first()
    page.get_by_label("Search by name, MRN or date of birth").fill(slc_patient.legal_last_name[:4])
    expect(page.locator("#results")).to_contain_text(slc_patient.legal_last_name)
    page.get_by_label("Search by name, MRN or date of birth").fill("")
    expect(rows.first).to_be_visible()
    page.screenshot(path=artifacts_dir / "patient-list.png")

    page.get_by_role("link", name="+ Register a patient").click()
    page.get_by_label("Legal first name").fill("Rosa")
    page.get_by_label("Legal last name").fill("Delgado")
    page.get_by_label("Date of birth").fill("1979-11-30")
    page.get_by_label("Sex at birth").select_option("female")
    page.get_by_label("Phone", exact=True).fill("555-12")
    page.get_by_label("State of residence").select_option("UT")
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing has been saved")
    expect(page.locator(".field.has-error")).to_contain_text("10-digit US phone")
    # What was typed is kept; only the phone needs fixing.
    expect(page.get_by_label("Legal last name")).to_have_value("Delgado")
    assert not Patient.objects.filter(legal_last_name="Delgado").exists()
    page.screenshot(path=artifacts_dir / "register-error.png", full_page=True)

    page.get_by_label("Phone", exact=True).fill("801 555 0177")
    page.get_by_role("button", name="Register patient").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Delgado, Rosa")
    expect(page.locator(".chart-head")).to_contain_text("KC-")
    page.screenshot(path=artifacts_dir / "chart-new-patient.png", full_page=True)


def test_director_opens_a_chart_and_its_access_history(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    patient = Patient.objects.order_by("pk").first()
    log_in(page, demo, "director")
    page.goto(f"{demo}/patients/{patient.pk}/history/")
    expect(
        page.get_by_role("heading", name="Medications and antidepressant trials")
    ).to_be_visible()
    page.screenshot(path=artifacts_dir / "chart-history.png", full_page=True)
    page.get_by_role("link", name="Access history").click()
    expect(page.locator("main table")).to_contain_text("director")
    page.screenshot(path=artifacts_dir / "chart-access-history.png", full_page=True)


def test_patient_portal_on_a_phone(page: Page, demo: str, artifacts_dir: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, demo, "patient")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello,")
    expect(page.locator(".crisis")).to_contain_text("988")
    # Nothing is wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    logout = page.get_by_role("button", name="Log out")
    assert logout.bounding_box()["height"] >= 44  # large touch target
    page.screenshot(path=artifacts_dir / "portal-phone.png", full_page=True)
    page.goto(f"{demo}/patients/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("cannot open")
