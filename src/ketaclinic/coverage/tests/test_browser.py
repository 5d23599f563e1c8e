"""Real Chromium: the coordinator drafts a prior authorization for an esketamine course
from the chart, records the payer's approval, and the course's booking page names the
sessions planned after its last day. The clock is pinned to a Monday morning in Salt
Lake City, so the course plans its twice-weekly sessions from today."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ketaclinic.accounts.models import User
from ketaclinic.conftest import log_in, make_course
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.patients.models import Patient

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.now("2027-01-04T09:00:00-07:00"),
]


def test_an_approval_drafted_from_the_chart_warns_when_booking_past_it(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    patient = (
        Patient.objects.filter(primary_location__short_name="SLC", treatment_courses__isnull=True)
        .order_by("pk")
        .first()
    )
    course = make_course(
        patient, User.objects.get(username="director"), "esketamine-trd", password=DEMO_PASSWORD
    )
    tz = course.location.tz
    planned = list(course.planned_sessions.order_by("number"))
    last_covered = planned[3].starts_at.astimezone(tz).date()
    log_in(page, demo, "coordinator")
    page.goto(f"{demo}/patients/{patient.pk}/coverage/")
    expect(page.get_by_text("No prior authorizations")).to_be_visible()
    page.get_by_label("Payer").select_option(label="Bonneville Health Plan")
    page.get_by_label("Member ID").fill("BHP-31337")
    page.get_by_label("Treatment course").select_option(str(course.pk))
    page.get_by_role("button", name="Draft and fill from the chart").click()
    expect(page.locator("#prior-auth-status")).to_have_text("Drafted")
    # The REMS item is met from the course's enrollment, the attested one left to confirm.
    expect(page.locator('[data-item="rems"]')).to_contain_text("Met")
    expect(page.locator('[data-item="oral_antidepressant"]')).to_contain_text("To confirm")
    page.screenshot(path=str(artifacts_dir / "coverage-checklist.png"), full_page=True)
    page.get_by_label("Mark as").select_option("sent")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#prior-auth-status")).to_have_text("Sent to the payer")
    # An approval without the payer's number is refused, and nothing changes.
    page.get_by_label("Mark as").select_option("approved")
    page.get_by_label("Approved until (last day covered)").fill(last_covered.isoformat())
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".errorlist, .notice.error").first).to_contain_text("authorization number")
    expect(page.locator("#prior-auth-status")).to_have_text("Sent to the payer")
    page.get_by_label("Mark as").select_option("approved")
    page.get_by_label("Approved until (last day covered)").fill(last_covered.isoformat())
    page.get_by_label("Payer's authorization number").fill("PA-42")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#prior-auth-status")).to_have_text("Approved")
    expect(page.locator("#prior-auth-history li")).to_have_count(3)

    page.goto(f"{demo}/patients/{patient.pk}/courses/{course.pk}/book-sessions/")
    now = timezone.now()
    after = [
        s.number
        for s in planned
        if s.starts_at >= now and s.starts_at.astimezone(tz).date() > last_covered
    ]
    warning = page.locator("#coverage-expiry")
    expect(warning).to_contain_text(f"{len(after)} planned sessions fall after the approval ends")
    expect(warning).to_contain_text(", ".join(str(n) for n in after))
    page.screenshot(path=str(artifacts_dir / "coverage-booking.png"), full_page=True)
