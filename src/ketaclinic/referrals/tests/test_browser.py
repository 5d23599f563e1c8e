"""Real Chromium, issue 17's walk: after a PHQ-9 with item 9 above 0 the nurse acknowledges
the alert and sends a crisis referral in one step; the referral moves through its states;
a stalled referral is listed; the patient sees their own referrals on a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ketaclinic.accounts.models import User
from ketaclinic.conftest import log_in
from ketaclinic.measures.models import SafetyAlert
from ketaclinic.measures.services import response_record
from ketaclinic.patients.models import Patient
from ketaclinic.referrals.models import Referral

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _positive_phq9(patient: Patient) -> SafetyAlert:
    nurse = User.objects.get(username="nurse")
    response_record(
        actor=nurse,
        patient=patient,
        instrument_key="phq9",
        answers=[2, 2, 1, 2, 1, 1, 1, 1, 1],  # item 9 (thoughts of self-harm): several days
        context="between_sessions",
    )
    return SafetyAlert.objects.filter(patient=patient, acknowledged_at__isnull=True).latest("pk")


def _acknowledge_and_refer(page: Page, base: str, alert: SafetyAlert, artifacts: Path) -> Referral:
    log_in(page, base, "nurse")
    page.goto(f"{base}/alerts/{alert.pk}/")
    panel = page.locator("#crisis-referral")
    expect(panel).to_contain_text("Acknowledge and refer to crisis resources")
    # The 988 Lifeline is first and chosen; the location's own crisis line is offered too.
    expect(panel.get_by_role("radio", name=re.compile("^988 Suicide"))).to_be_checked()
    expect(panel).to_contain_text("Wasatch Mobile Crisis Team")
    # Nothing is saved without the note: the alert stays open and there is no referral.
    panel.get_by_role("button", name="Acknowledge and refer").click()
    expect(page.locator("#crisis-referral .errorlist")).to_contain_text("Describe what was done")
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not Referral.objects.filter(from_alert=alert).exists()
    page.locator("#crisis-referral").get_by_label(re.compile("^Crisis referral note")).fill(
        "Called the patient at once; warm hand-off to a 988 counsellor. Safety plan reviewed."
    )
    page.screenshot(path=str(artifacts / "referrals-crisis-form.png"), full_page=True)
    page.get_by_role("button", name="Acknowledge and refer").click()
    expect(page.locator(".messages")).to_contain_text("Alert acknowledged and crisis referral")
    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "nurse" and alert.action == "crisis_services"
    referral = Referral.objects.get(from_alert=alert)
    assert referral.urgency == "crisis" and referral.resource.national
    assert referral.state == "sent"
    return referral


def _move_through_states(page: Page, referral: Referral, artifacts: Path) -> None:
    status = page.locator("#referral-status")
    expect(status).to_contain_text("Sent")
    # A move the rules do not allow is refused with the reason, and nothing changes.
    page.get_by_label("Mark as").select_option("accepted")
    page.get_by_role("button", name="Save status").click()
    expect(page.locator(".notice.error")).to_contain_text(
        "A sent referral cannot be marked accepted"
    )
    for state, label, note in [
        ("contacted", "Contacted", "988 confirmed the hand-off."),
        ("accepted", "Accepted", "Follow-up call scheduled by 988."),
        ("closed", "Closed", "Patient safe; next visit tomorrow."),
    ]:
        page.get_by_label("Mark as").select_option(state)
        page.get_by_label("Note").fill(note)
        page.get_by_role("button", name="Save status").click()
        expect(page.locator(".messages")).to_contain_text(f"Referral marked {label.lower()}")
        expect(status).to_contain_text(label)
        expect(page.locator("#referral-history")).to_contain_text(note)
    expect(page.locator("main")).to_contain_text("Closed: no further changes.")
    page.screenshot(path=str(artifacts / "referrals-referral.png"), full_page=True)
    referral.refresh_from_db()
    assert referral.state == "closed"
    assert [e.to_state for e in referral.events.order_by("at", "id")] == [
        "sent",
        "contacted",
        "accepted",
        "closed",
    ]


def _stalled_is_listed(page: Page, base: str, artifacts: Path) -> None:
    page.goto(f"{base}/referrals/stalled/")
    row = page.locator("#stalled tr", has_text="Red Butte Psychiatry")
    expect(row).to_contain_text("Routine")
    page.screenshot(path=str(artifacts / "referrals-stalled.png"), full_page=True)
    page.goto(base + "/")
    expect(page.locator("main")).to_contain_text("Stalled referrals")
    page.goto(f"{base}/referrals/resources/")
    expect(page.locator("#resources tbody tr").first).to_contain_text("988 Suicide & Crisis")
    page.screenshot(path=str(artifacts / "referrals-resources.png"), full_page=True)


def _keep_the_directory(page: Page, base: str, patient: Patient, artifacts: Path) -> None:
    """The coordinator adds a local crisis number, sees the stall limits, and refers."""
    page.context.clear_cookies()
    log_in(page, base, "coordinator")
    page.goto(f"{base}/referrals/resources/")
    page.get_by_role("link", name="Add a resource").click()
    page.get_by_label("Kind").select_option("crisis_line")
    page.get_by_label("Name").fill("Salt Lake County Warm Line")
    page.get_by_label("Phone").fill("(801) 555-0109")
    page.screenshot(path=str(artifacts / "referrals-resource-form.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Salt Lake County Warm Line is in SLC")
    expect(page.locator("#resources")).to_contain_text("Salt Lake County Warm Line")
    page.get_by_role("link", name="Stall limits").click()
    expect(page.get_by_label(re.compile("^Routine"))).to_have_value("14")
    page.screenshot(path=str(artifacts / "referrals-stall-limits.png"), full_page=True)
    page.goto(f"{base}/patients/{patient.pk}/referrals/new/")
    page.get_by_label("Refer to").select_option(
        label="Red Butte Psychiatry (Psychiatrist) · (801) 555-0103"
    )
    page.get_by_role("button", name="Send referral").click()
    expect(page.locator(".errorlist")).to_contain_text("Give the reason for the referral.")
    page.screenshot(path=str(artifacts / "referrals-new.png"), full_page=True)


def _portal(page: Page, base: str, artifacts: Path) -> None:
    page.context.clear_cookies()
    page.set_viewport_size(PHONE)
    log_in(page, base, "patient")
    section = page.locator("section.ref-portal")
    expect(section).to_contain_text("Your referrals")
    expect(section).to_contain_text("Bonneville Counseling Associates")
    expect(section).to_contain_text("Accepted")
    expect(section).to_contain_text("988 Suicide & Crisis Lifeline")
    # Only this patient's referrals: another patient's (stalled, to Red Butte) is not there.
    own = page.locator("#portal-referrals")
    expect(own.locator(".ref-resource")).to_have_count(
        Referral.objects.filter(patient__portal_user__username="patient").count()
    )
    expect(own).not_to_contain_text("Red Butte Psychiatry")
    call = section.get_by_role("link", name=re.compile("^Call")).first
    assert call.bounding_box()["height"] >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts / "referrals-portal-home.png"), full_page=True)
    section.get_by_role("link", name="All referrals and resources").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Referrals and resources")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts / "referrals-portal.png"), full_page=True)


def test_crisis_referral_in_one_step_then_its_states_and_the_stalled_list(
    page: Page, demo: str, artifacts_dir: Path, browser: Any
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    portal_patient = User.objects.get(username="patient").patient_id
    patient = (
        Patient.objects.filter(primary_location__short_name="SLC")
        .exclude(pk=portal_patient)
        .order_by("pk")
        .last()
    )
    alert = _positive_phq9(patient)
    referral = _acknowledge_and_refer(page, demo, alert, artifacts_dir)
    _move_through_states(page, referral, artifacts_dir)
    page.goto(f"{demo}/patients/{patient.pk}/referrals/")
    expect(page.locator("main")).to_contain_text("988 Suicide & Crisis Lifeline")
    page.screenshot(path=str(artifacts_dir / "referrals-chart-tab.png"), full_page=True)
    _stalled_is_listed(page, demo, artifacts_dir)
    _keep_the_directory(page, demo, patient, artifacts_dir)
    _portal(page, demo, artifacts_dir)
