"""Real Chromium, issue 17's "Cost and payment": the coordinator prepares an estimate for an
IV induction course, the patient accepts it on a phone-size screen (390 x 844), two
payments are recorded, and the balance and the superbill PDF are right to the cent.

The clock is pinned to a Wednesday morning in Salt Lake City, so the course plans its
sessions from that day whatever day the suite runs."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from ketaclinic.billing.models import EntryKind, Estimate
from ketaclinic.billing.selectors import account_of, account_totals
from ketaclinic.billing.services import fee_change, fee_schedule_copy_defaults
from ketaclinic.billing.tests.pdftext import pdf_text
from ketaclinic.conftest import PASSWORD, make_course
from ketaclinic.patients.models import Diagnosis

WEDNESDAY_MORNING = "2027-01-06T10:00:00-07:00"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.now(WEDNESDAY_MORNING),
]


def usd(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/accounts/login/"))


def test_estimate_accepted_on_a_phone_two_payments_and_the_superbill(
    page: Page, browser: Browser, live_server: Any, clinic: dict[str, Any], artifacts_dir: Path
) -> None:
    base = str(live_server.url)
    slc, patient = clinic["slc"], clinic["patient_slc"]
    fee_schedule_copy_defaults(actor=clinic["director"], location=slc)
    today = timezone.localdate(timezone=slc.tz)
    fee_change(
        actor=clinic["director"],
        location=slc,
        service_key="iv_infusion",
        unit_fee="512.35",
        effective_from=today,
        note="Our 2027 self-pay fee",
    )
    course = make_course(patient, clinic["director"], first_day=today)
    Diagnosis.objects.create(
        patient=patient,
        icd10_code="F33.2",
        description="Major depressive disorder, recurrent, severe",
        is_primary=True,
        recorded_by=clinic["prescriber"],
    )
    sessions = course.planned_sessions.count()
    total = Decimal("450.00") + sessions * Decimal("512.35")

    # The coordinator prepares the estimate and sends it.
    coordinator = clinic["coordinator"].username
    _log_in(page, base, coordinator)
    page.goto(f"{base}/patients/{patient.pk}/billing/")
    expect(page.locator("#balance")).to_have_text("$0.00")
    page.get_by_role("link", name="Prepare an estimate").click()
    page.get_by_label("Include the consultation").check()
    page.get_by_label("Monthly instalments").fill("3")
    page.screenshot(path=str(artifacts_dir / "billing-estimate-new.png"), full_page=True)
    page.get_by_role("button", name="Prepare estimate").click()
    lines = page.locator("#estimate-lines tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(1)).to_contain_text("96365")
    expect(lines.nth(1)).to_contain_text(usd(sessions * Decimal("512.35")))
    expect(page.locator("#estimate-total")).to_have_text(usd(total))
    page.get_by_role("button", name="Send to the patient").click()
    expect(page.locator("#estimate-status")).to_have_text("Sent, awaiting acceptance")
    page.screenshot(path=str(artifacts_dir / "billing-estimate.png"), full_page=True)

    # The patient reads and accepts it on a phone.
    phone = browser.new_context(viewport={"width": 390, "height": 844})
    mobile = phone.new_page()
    _log_in(mobile, base, clinic["patient_user"].username)
    mobile.goto(f"{base}/portal/")
    mobile.screenshot(path=str(artifacts_dir / "billing-portal-home.png"), full_page=True)
    mobile.get_by_role("link", name="Read your estimate").click()
    expect(mobile.locator("#estimate-total")).to_have_text(usd(total))
    accept = mobile.get_by_role("button", name="Accept the estimate")
    box = accept.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 300
    # Nothing sideways to scroll on a phone.
    assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
    mobile.screenshot(path=str(artifacts_dir / "billing-portal-estimate.png"), full_page=True)
    mobile.get_by_label(re.compile("I have read this estimate")).check()
    accept.click()
    expect(mobile.locator(".messages")).to_contain_text("accepted the estimate")
    expect(mobile.locator("#balance")).to_have_text(usd(total))
    mobile.screenshot(path=str(artifacts_dir / "billing-portal-billing.png"), full_page=True)
    estimate = Estimate.objects.get(patient=patient)
    assert estimate.status == Estimate.Status.ACCEPTED and estimate.accepted_at is not None
    phone.close()

    # Two payments; a third above the balance is refused with a message.
    page.goto(f"{base}/patients/{patient.pk}/billing/")
    expect(page.locator("#balance")).to_have_text(usd(total))
    form = page.locator("#payment-form")
    form.get_by_label("Amount received ($)").fill("450.00")
    form.get_by_label("Method").select_option("cash")
    form.get_by_role("button", name="Record payment").click()
    expect(page.locator("#balance")).to_have_text(usd(total - Decimal("450.00")))
    form = page.locator("#payment-form")
    form.get_by_label("Amount received ($)").fill("1,000.10")
    form.get_by_label("Method").select_option("card")
    form.get_by_label("Receipt reference").fill("ch_3PzT9q")
    form.get_by_role("button", name="Record payment").click()
    balance = total - Decimal("1450.10")
    expect(page.locator("#balance")).to_have_text(usd(balance))
    form = page.locator("#payment-form")
    form.get_by_label("Amount received ($)").fill("99999")
    form.get_by_label("Method").select_option("check")
    form.get_by_role("button", name="Record payment").click()
    expect(page.locator(".notice.error")).to_contain_text("more than the balance")
    page.screenshot(path=str(artifacts_dir / "billing-tab.png"), full_page=True)
    account = account_of(patient)
    assert account.entries.filter(kind=EntryKind.PAYMENT).count() == 2
    assert account_totals(account)["balance"] == balance

    # The superbill, to the cent.
    response = page.request.get(f"{base}/patients/{patient.pk}/billing/superbill.pdf")
    assert response.status == 200
    text = pdf_text(response.body())
    assert "SLC Clinic" in text and "F33.2" in text and "Ada Lovelace" in text
    assert "90791" in text and "96365" in text and "$512.35" in text
    assert f"Total charges: ${total:,.2f}" in text
    assert "Total paid: $1,450.10" in text
    assert f"Balance due: ${balance:,.2f}" in text

    for name, path in [("fees", "/billing/fees/"), ("overdue", "/billing/overdue/")]:
        page.goto(f"{base}{path}")
        page.screenshot(path=str(artifacts_dir / f"billing-{name}.png"), full_page=True)
