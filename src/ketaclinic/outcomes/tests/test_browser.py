"""Real Chromium: the medical director filters the outcomes by route and location, sees the
summary table, the Kaplan-Meier curve with the number at risk and the benchmark lines, and
downloads the CSV and the PDF (screenshots in test-artifacts/)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ketaclinic.audit.models import AuditEntry
from ketaclinic.conftest import log_in
from ketaclinic.organization.models import Location

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def outcomes_demo(live_server: Any) -> str:
    from ketaclinic.operations.demo import seed_demo

    seed_demo(patients=40)
    return str(live_server.url)


def test_the_director_filters_reads_and_exports_outcomes(
    page: Page, outcomes_demo: str, artifacts_dir: Path
) -> None:
    page.set_viewport_size({"width": 1400, "height": 1000})
    log_in(page, outcomes_demo, "director")
    page.get_by_role("link", name="Outcomes", exact=True).click()
    expect(page.get_by_role("heading", name="Outcomes", exact=True)).to_be_visible()
    expect(page.get_by_text("Outcome definitions v1 (as shipped with ketaclinic)")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "outcomes-all.png"), full_page=True)
    filters = page.get_by_role("form", name="Cohort filters")
    filters.get_by_label("Route").select_option("iv_ketamine")
    slc = Location.objects.get(short_name="SLC")
    filters.get_by_label("Location").select_option(str(slc.pk))
    filters.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(rf"location={slc.pk}&route=iv_ketamine"))
    expect(page.get_by_text("Cohort: Location: SLC; Route: IV ketamine")).to_be_visible()
    table = page.locator("table.summary")
    expect(table.locator("tr[data-timepoint='eoi'] th")).to_have_text("End of induction")
    expect(table.locator("tr[data-timepoint='w26']")).to_be_visible()
    km = page.locator("svg[data-chart='kaplan-meier']")
    expect(km).to_be_visible()
    expect(km.locator(".at-risk text").first).to_be_visible()
    expect(page.locator("table.at-risk-table")).to_contain_text("Day 0")
    expect(page.locator("[data-benchmark-line^='ORKA-1 (McInnes 2022) response']")).to_have_count(1)
    expect(page.locator("tr[data-benchmark='escape-trd-2023']")).to_have_count(0)  # esketamine
    page.screenshot(path=str(artifacts_dir / "outcomes-iv-slc.png"), full_page=True)
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Summary CSV").click()
    csv_path = artifacts_dir / "outcomes-summary.csv"
    csv_download.value.save_as(csv_path)
    text = csv_path.read_text()
    assert text.startswith("# Outcome definitions v1") and "End of induction" in text
    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="PDF report").click()
    pdf_path = artifacts_dir / "outcomes-report.pdf"
    pdf_download.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")
    kinds = set(AuditEntry.objects.filter(action="export").values_list("detail__kind", flat=True))
    assert kinds == {"summary_csv", "summary_pdf"}
