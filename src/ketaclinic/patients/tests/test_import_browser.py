"""Real Chromium: the medical director checks a file with a bad line (nothing saved, the
problem shown with its line), then a corrected one, imports it and finds the patients
(screenshots in test-artifacts/)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from ketaclinic.conftest import log_in
from ketaclinic.patients.models import Patient
from ketaclinic.patients.tests.test_import import csv_text, good_rows

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_director_checks_corrects_and_imports_a_file(
    page: Page, demo: str, artifacts_dir: Path, tmp_path: Path
) -> None:
    rows = good_rows(25)
    rows[6][2] = "1984-02-30"  # line 8
    bad = tmp_path / "export.csv"
    bad.write_text(csv_text(rows))
    before = Patient.objects.count()
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, demo, "director")
    page.goto(f"{demo}/patients/")
    page.get_by_role("link", name="Import patients").click()
    expect(page.get_by_text("No file has been checked yet.")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="Nothing was saved")).to_be_visible()
    problem = page.locator('tr[data-problem-line="8"]')
    expect(problem).to_contain_text("date_of_birth")
    expect(problem).to_contain_text("\u201c1984-02-30\u201d is not a date")
    expect(page.get_by_text("Columns not imported: Insurance.")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "import-problems.png"), full_page=True)
    assert Patient.objects.count() == before

    rows[6][2] = "1984-02-29"
    good = tmp_path / "export-corrected.csv"
    good.write_text(csv_text(rows))
    page.get_by_label("CSV file").set_input_files(str(good))
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_text("25 new patients")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "import-review.png"), full_page=True)
    assert Patient.objects.count() == before
    page.get_by_role("button", name="Import 25 patients").click()
    expect(page.get_by_text("Imported 25 patient(s) from export-corrected.csv.")).to_be_visible()
    expect(page.get_by_role("cell", name="25 imported")).to_be_visible()
    assert Patient.objects.count() == before + 25

    page.goto(f"{demo}/patients/?q=imported00006")
    expect(page.get_by_text("Imported00006, Test6")).to_be_visible()
