"""Real Chromium: the medical director starts a bulk export, watches it run in the background
worker, and downloads a file (screenshots in test-artifacts/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from ketaclinic.conftest import log_in
from ketaclinic.fhir.models import ExportJob
from ketaclinic.fhir.tests.conftest import validate
from ketaclinic.patients.models import Patient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_director_exports_every_patient_and_downloads_the_files(
    page: Page, demo: str, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, demo, "director")
    page.get_by_role("link", name="Exports (FHIR)").click()
    expect(page.get_by_text("No exports yet.")).to_be_visible()
    page.get_by_role("button", name="Export every patient").click()
    row = page.locator("#exports tbody tr").first
    expect(row).to_contain_text("Waiting for the worker")
    expect(row.locator("progress")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "fhir-export-waiting.png"), full_page=True)

    call_command("worker", "--once")  # what `ketaclinic serve` runs beside the web workers
    # The page polls while an export runs: no reload needed.
    expect(row).to_contain_text("Ready to download", timeout=10_000)
    page.screenshot(path=str(artifacts_dir / "fhir-export-done.png"), full_page=True)
    with page.expect_download() as download:
        row.get_by_role("link", name="Patient", exact=True).click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == Patient.objects.count()
    for line in lines:
        validate(json.loads(line))
    assert ExportJob.objects.get().status == "done"
