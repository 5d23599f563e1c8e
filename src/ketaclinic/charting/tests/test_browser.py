"""Real Chromium: a whole IV session, from check-in to a signed note with an addendum."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect

from ketaclinic.accounts.models import User
from ketaclinic.charting.models import SessionNote, TreatmentSession
from ketaclinic.charting.tests.conftest import presession_screening
from ketaclinic.conftest import log_in, make_course
from ketaclinic.operations.demo_constants import DEMO_PASSWORD
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import allergy_status
from ketaclinic.patients.services import patient_nkda_verify
from ketaclinic.register.models import LedgerEntry

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


# The patient arrives this long before the test's readings begin (they are charted late,
# from the paper flowsheet, but never before check-in).
ARRIVED_MINUTES_AGO = 130


def _patient_with_an_iv_course(arrived: datetime) -> Patient:
    """A demo patient at SLC with an IV course whose first session is on the day they
    arrived, allergies recorded and the pre-dose questionnaires answered before it."""
    patient = (
        Patient.objects.filter(primary_location__short_name="SLC", treatment_courses__isnull=True)
        .order_by("pk")
        .first()
    )
    director = User.objects.get(username="director")
    make_course(
        patient,
        director,
        first_day=timezone.localdate(arrived, timezone=patient.primary_location.tz),
        password=DEMO_PASSWORD,
    )
    if not allergy_status(patient).is_recorded:
        patient_nkda_verify(actor=director, patient=patient)
    presession_screening(patient, at=arrived - timedelta(minutes=20))
    return patient


def _session_of(patient: Patient) -> TreatmentSession:
    return TreatmentSession.objects.get(patient=patient)


class Clock:
    """Times of day for late entries, `minutes` before the test began, in the clinic's zone."""

    def __init__(self, patient: Patient) -> None:
        self.tz = patient.primary_location.tz
        self.start = timezone.now()

    def __call__(self, minutes: int) -> str:
        return timezone.localtime(self.start - timedelta(minutes=minutes), self.tz).strftime(
            "%H:%M"
        )


def _vitals(page: Page, at: str, bp: tuple[int, int], heart_rate: int = 76) -> None:
    form = page.locator("[data-vitals-form]")
    form.get_by_label("Systolic").fill(str(bp[0]))
    form.get_by_label("Diastolic").fill(str(bp[1]))
    form.get_by_label("Heart rate").fill(str(heart_rate))
    form.get_by_label("SpO2").fill("98")
    form.get_by_label("Resp. rate").fill("14")
    form.get_by_label("Time taken").fill(at)
    form.get_by_label("Resp. rate").press("Enter")
    # Saved without a page reload: the row appears and the form is cleared for the next.
    expect(page.locator("#vitals-table")).to_contain_text(f"{bp[0]}/{bp[1]}")
    expect(form.get_by_label("Systolic")).to_have_value("")


def _acknowledge_all(page: Page, action: str) -> None:
    rows = page.locator("#open-alerts .alert-row")
    while rows.count():
        count = rows.count()
        rows.first.get_by_label("Action taken").fill(action)
        rows.first.get_by_role("button", name="Acknowledge").click()
        expect(rows).to_have_count(count - 1)


def test_a_whole_iv_session_in_the_browser(page: Page, demo: str, artifacts_dir: Path) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    arrived = timezone.now() - timedelta(minutes=ARRIVED_MINUTES_AGO)
    patient = _patient_with_an_iv_course(arrived)
    at = Clock(patient)

    # The check-in, as it happened when the patient arrived (the server's clock); the nurse
    # then charts the session from the paper flowsheet, logging in again now.
    with time_machine.travel(arrived, tick=True):
        log_in(page, demo, "nurse")
        page.goto(f"{demo}/patients/{patient.pk}/sessions/")
        first = page.locator("#sessions tbody tr").first
        first.get_by_label("Chair").select_option("4")
        first.get_by_role("button", name="Check in").click()
        expect(page.locator("#session-status")).to_have_text("Checked in")
    log_in(page, demo, "nurse")
    page.goto(f"{demo}/patients/{patient.pk}/sessions/{_session_of(patient).pk}/")

    prechecks = page.locator("#prechecks")
    prechecks.get_by_label("Today's weight (kg)").fill("72")
    prechecks.get_by_label("Food and drink today").fill("Light breakfast 07:00")
    prechecks.get_by_label("Escort or ride home: name").fill("Charles Babbage")
    prechecks.get_by_label("Escort phone").fill("801-555-0142")
    prechecks.get_by_label("Medication changes since last session").fill("none")
    prechecks.get_by_role("button", name="Save pre-checks").click()
    expect(page.locator("#blockers")).to_contain_text("Take the pre-dose vital signs")

    page.evaluate("window.notReloaded = true")
    _vitals(page, at(120), (128, 82), heart_rate=72)
    assert page.evaluate("window.notReloaded === true")
    page.reload()
    expect(page.locator("#blockers")).to_have_text("Everything is ready: dosing may start.")

    # The demo's register holds ketamine at SLC: the draw comes from a container.
    dosing = page.locator("#dosing")
    expect(dosing.get_by_label("Container (from the register)")).to_be_visible()
    dosing.get_by_label("Volume drawn (mL)").fill("0.8")
    dosing.get_by_label("Time (late entry)").fill(at(115))
    dosing.get_by_role("button", name="Start infusion").click()
    expect(page.locator("#session-status")).to_have_text("Dosing")

    for minutes in (105, 95):
        _vitals(page, at(minutes), (136, 86))
    _vitals(page, at(85), (185, 115), heart_rate=96)
    critical = page.locator("[data-alert-kind=critical_bp_repeated]")
    expect(critical).to_have_count(0)
    _vitals(page, at(80), (185, 115), heart_rate=98)
    expect(critical).to_contain_text("185/115")
    page.screenshot(path=artifacts_dir / "session-alert.png", full_page=True)

    board = page.context.new_page()
    board.set_viewport_size({"width": 1600, "height": 900})
    board.goto(f"{demo}/board/")
    row = board.locator(
        f"#board-rows tr[data-session='{TreatmentSession.objects.get(patient=patient).pk}']"
    )
    expect(row).to_contain_text("185/115")
    expect(row).to_have_class(re.compile("attention"))
    board.screenshot(path=artifacts_dir / "chair-board.png", full_page=True)

    critical.get_by_label("Action taken").fill("Infusion slowed; Dr Lee informed")
    critical.get_by_role("button", name="Acknowledge").click()
    expect(critical).to_have_count(0)
    expect(page.locator(".alert-log")).to_contain_text("Infusion slowed; Dr Lee informed")
    # The board follows: the acknowledged alert leaves the row at its next refresh.
    expect(row).not_to_contain_text("185/115", timeout=15_000)
    board.close()

    page.reload()
    page.locator("#dosing").get_by_label("Time (late entry)").fill(at(75))
    page.locator("#dosing").get_by_role("button", name="Stop infusion").click()
    expect(page.locator("#session-status")).to_have_text("Monitoring")
    page.locator("#discharge-button").click()
    expect(page.locator(".messages .error")).to_contain_text("Discharge is not yet safe")

    for minutes in (70, 55, 40, 25, 10):
        _vitals(page, at(minutes), (130, 84), heart_rate=74)
    page.reload()
    scores = page.locator("#scores-entry")
    scores.get_by_label("Instrument").select_option("moaas")
    scores.get_by_label("Score").fill("5")
    scores.get_by_label("Time taken").fill(at(10))
    scores.get_by_role("button", name="Record score").click()
    discharge = page.locator("#discharge")
    discharge.get_by_label("Sedation, dissociation and breathing back to normal").check()
    discharge.get_by_label("Escort or ride is here").check()
    discharge.get_by_label("Discharge instructions given").check()
    discharge.get_by_role("button", name="Save confirmations").click()
    _acknowledge_all(page, "Late entries charted from the paper flowsheet")
    expect(page.locator("#readiness")).to_contain_text("Ready")
    page.screenshot(path=artifacts_dir / "session-chart.png", full_page=True)
    page.locator("#discharge-button").click()
    expect(page.locator("#session-status")).to_have_text("Discharged")

    # The note waits for the draw to be accounted for: given, and the rest wasted before a
    # witness who enters their own password here.
    draw = LedgerEntry.objects.get(session__patient=patient, kind="draw")
    given = (Decimal("36") / draw.container.product.strength_mg_per_ml).quantize(Decimal("0.01"))
    account = page.locator("#register-draws form")
    # The pump ran the whole 40 minutes: the form offers the dose's volume and the rest.
    assert Decimal(account.get_by_label("Given (mL)").input_value()) == given
    assert Decimal(account.get_by_label("Wasted (mL)").input_value()) == draw.amount_ml - given
    account.get_by_label("Given (mL)").fill(str(given))
    account.get_by_label("Wasted (mL)").fill(str(draw.amount_ml - given))
    account.get_by_label("Witness", exact=True).select_option(label="Priya Raman, MD")
    account.get_by_label("Witness's password").fill(DEMO_PASSWORD)
    account.get_by_role("button", name="Record given and wasted").click()
    expect(page.locator("#register-draws")).to_contain_text("Accounted for")

    note = page.locator("#note")
    note.get_by_label("Your comment (assessment and plan)").fill("Tolerated well after BP rise.")
    note.get_by_label("Your password (signature)").fill(DEMO_PASSWORD)
    note.get_by_role("button", name="Sign note").click()
    expect(page.locator("#session-status")).to_have_text("Note signed")
    expect(page.locator(".note-body")).to_contain_text("185/115")
    signed = SessionNote.objects.get(session__patient=patient)

    # Editing is refused: signing again (the only write path for a note's text) says so.
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    session = TreatmentSession.objects.get(patient=patient)
    refused = page.request.post(
        f"{demo}/patients/{patient.pk}/sessions/{session.pk}/sign/",
        form={"csrfmiddlewaretoken": token, "password": DEMO_PASSWORD, "comment": "rewritten"},
    )
    assert "already signed" in refused.text()
    assert SessionNote.objects.get(pk=signed.pk).body == signed.body

    page.get_by_label("Addendum").fill("Phoned the next morning: slept well, no headache.")
    page.get_by_role("button", name="Add addendum").click()
    expect(page.locator(".addendum")).to_contain_text("slept well")
    page.screenshot(path=artifacts_dir / "session-signed.png", full_page=True)
