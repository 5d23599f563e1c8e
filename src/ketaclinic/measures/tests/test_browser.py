"""Real Chromium: a patient answers on a phone, the nurse acts on the alert, trends draw."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ketaclinic.accounts.models import User
from ketaclinic.audit.models import AuditEntry
from ketaclinic.conftest import log_in
from ketaclinic.measures.models import SafetyAlert, SelfReportRequest
from ketaclinic.measures.services import self_report_request_create
from ketaclinic.patients.models import Patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _link(base: str, patient: Patient, **kwargs: Any) -> tuple[SelfReportRequest, str]:
    nurse = User.objects.get(username="nurse")
    request, token = self_report_request_create(
        actor=nurse, patient=patient, instrument_keys=["phq9"], context="between_sessions", **kwargs
    )
    return request, f"{base}/q/{token}/"


def test_phone_phq9_with_item_9_raises_an_alert_the_nurse_acknowledges(
    page: Page, demo: str, artifacts_dir: Path, browser: Any
) -> None:
    patient = Patient.objects.filter(primary_location__short_name="SLC").order_by("pk").last()
    _request, link = _link(demo, patient)
    page.set_viewport_size(PHONE)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Hello {patient.called_name}")
    questions = page.locator("fieldset.question")
    expect(questions).to_have_count(9)
    # Readable at 200% zoom: half the CSS width, and still nothing runs off the side.
    page.set_viewport_size({"width": PHONE["width"] // 2, "height": PHONE["height"] // 2})
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] // 2
    page.set_viewport_size(PHONE)

    # Cannot send with questions unanswered: the first missing one is pointed out.
    page.get_by_role("button", name="Send my answers").click()
    expect(page.locator("[data-progress-text]")).to_contain_text("Please answer every question")
    assert not patient.assessment_responses.filter(
        instrument_key="phq9",
        completed_by_patient=True,
        completed_at__gte=timezone.now() - timedelta(minutes=5),
    ).exists()

    # Answer items 1-8 with "Several days", item 9 with "Several days" (1).
    for index in range(9):
        questions.nth(index).get_by_text("Several days").click()
    expect(page.locator("[data-progress-text]")).to_have_text("9 of 9 answered")
    expect(page.locator("fieldset.question.has-error")).to_have_count(0)
    # Every choice is a large touch target.
    assert questions.nth(0).locator("label.choice").first.bounding_box()["height"] >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=artifacts_dir / "phq9-phone.png", full_page=True)

    # A dropped connection loses nothing: reload, and the answers are still there.
    page.reload()
    expect(page.locator("[data-progress-text]")).to_have_text("9 of 9 answered")

    page.get_by_role("button", name="Send my answers").click()
    crisis = page.get_by_role("alert")
    expect(crisis).to_contain_text("Call 988")
    expect(crisis).to_contain_text("Text 988")
    expect(crisis).to_contain_text(patient.primary_location.phone)
    # The call and text buttons must be readable: text colour differs from the button's.
    colours = page.evaluate("""() => [...document.querySelectorAll('.crisis a.button')].map(
        (a) => [getComputedStyle(a).color, getComputedStyle(a).backgroundColor])""")
    assert len(colours) == 2 and all(text != back for text, back in colours)
    page.screenshot(path=artifacts_dir / "phq9-crisis.png", full_page=True)
    alert = SafetyAlert.objects.get(patient=patient, acknowledged_at__isnull=True)

    # The used link is refused with a clear page.
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")

    # The nurse at the patient's location sees it on the worklist and acknowledges it.
    nurse_page = browser.new_page(viewport={"width": 1280, "height": 900})
    log_in(nurse_page, demo, "nurse")
    expect(nurse_page.locator(".chart-head, main")).to_contain_text("Safety alerts")
    nurse_page.get_by_role("link", name="Safety alerts").first.click()
    row = nurse_page.locator("tr", has_text=patient.mrn)
    expect(row).to_contain_text("Suicidal ideation reported")
    nurse_page.screenshot(path=artifacts_dir / "alert-worklist.png", full_page=True)
    row.get_by_role("link", name="Review and acknowledge").click()
    # Nothing is acknowledged without an action and a note.
    nurse_page.get_by_role("button", name="Acknowledge alert").click()
    expect(nurse_page.locator(".errorlist").first).to_be_visible()
    nurse_page.get_by_label("Spoke with the patient; safety plan reviewed").check()
    nurse_page.get_by_label("What was done, and the follow-up plan").fill(
        "Called at 10:05. Passive ideation, no plan or intent. Safety plan reviewed."
    )
    nurse_page.get_by_role("button", name="Acknowledge alert").click()
    expect(nurse_page.locator(".messages")).to_contain_text("Alert acknowledged")
    # Gone from the open list, shown under "Recently acknowledged".
    expect(
        nurse_page.locator("tr", has_text=patient.mrn).get_by_role(
            "link", name="Review and acknowledge"
        )
    ).to_have_count(0)
    expect(nurse_page.locator("main")).to_contain_text("Recently acknowledged")

    alert.refresh_from_db()
    assert alert.acknowledged_by.username == "nurse"
    assert alert.action == "spoke_with_patient" and "Safety plan" in alert.action_note
    assert AuditEntry.objects.filter(
        object_type="safety_alert", object_id=str(alert.pk), action="update"
    ).exists()


def test_an_expired_link_is_refused(page: Page, demo: str) -> None:
    patient = Patient.objects.order_by("pk").first()
    request, link = _link(demo, patient)
    SelfReportRequest.objects.filter(pk=request.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    page.set_viewport_size(PHONE)
    response = page.goto(link)
    assert response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")
    page.goto(f"{demo}/q/not-a-real-token/")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")


def test_trend_chart_draws_bands_baseline_response_and_remission(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    patient = Patient.objects.filter(assessment_responses__instrument_key="phq9").first()
    page.set_viewport_size({"width": 1280, "height": 1000})
    log_in(page, demo, "director")
    page.goto(f"{demo}/patients/{patient.pk}/scores/")
    chart = page.locator("svg[data-chart=phq9]")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.band")).to_have_count(5)
    for line in ("line-baseline", "line-response", "line-remission"):
        expect(chart.locator(f"line.{line}")).to_have_count(1)
    points = chart.locator("circle.score-point")
    assert points.count() == patient.assessment_responses.filter(instrument_key="phq9").count()
    box = chart.bounding_box()
    assert box["width"] > 600 and box["height"] > 150
    # The numbers are there as a table too.
    page.get_by_text("Item answers (table)").first.click()
    expect(page.locator("details.item-table table").first).to_be_visible()
    chart.screenshot(path=artifacts_dir / "trend-phq9.png")
    page.screenshot(path=artifacts_dir / "scores-tab.png", full_page=True)
