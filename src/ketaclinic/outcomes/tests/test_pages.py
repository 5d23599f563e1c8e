"""The outcomes pages through Django's test client: what they show and name, who may see
what, the exports with their audit entries and suppressed small cells, the definitions,
the measurement gaps, the chart tab, and query counts that do not grow with patients."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.models import TreatmentSession
from ketaclinic.measures.models import SelfReportRequest
from ketaclinic.outcomes import exports, selectors, services
from ketaclinic.outcomes.models import OutcomeDefinitionVersion
from ketaclinic.outcomes.raw_sql import summary_counts_sql
from ketaclinic.outcomes.tests.conftest import (
    NON_RESPONDER,
    NOW,
    RESPONDER,
    dose,
    timepoint_row,
)

pytestmark = [pytest.mark.django_db, pytest.mark.now(NOW)]


def _page(client: Client, user: Any, url: str = "/outcomes/") -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_page_shows_rates_missing_data_and_the_definitions_used(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    dosed_course(clinic["slc"], director, RESPONDER, last="One")
    dosed_course(clinic["slc"], director, NON_RESPONDER, last="Two")
    dosed_course(clinic["boise"], director, [(-2, 18)], last="Three")  # no follow-up
    html = _page(client, director)
    assert "Outcome definitions v1 (as shipped with ketaclinic)" in html
    assert 'data-instrument="phq9">Patient Health Questionnaire-9 (PHQ-9) &lt; 5' in html
    assert "1 of 3 courses have no follow-up score" in html
    assert "0 of 3 courses have no baseline score" in html
    # End of induction: 3 due (the course without follow-up is missing), 2 assessed, 1
    # responder: ITT 1/3, completers 1/2.
    eoi = timepoint_row(html, "eoi")
    assert eoi.startswith("End of induction 3 2 1 of 3 1/3 · 33% (0.06\u20130.79) 1/2 · 50%")
    week4 = timepoint_row(html, "w4")
    assert "1/3 · 33%" in week4 and "1/2 · 50%" in week4  # remission at week 4 (4 < 5)
    for chart in ("spaghetti", "rates", "kaplan-meier"):
        assert f'data-chart="{chart}"' in html
    assert 'data-benchmark="mcinnes-2022-orka1"' in html
    assert "Checked against the abstract" in html
    assert "From clinical-reference.md, unverified against the paper" in html
    assert 'data-benchmark-line="ORKA-1 (McInnes 2022) response 53.6%"' in html
    entry = AuditEntry.objects.filter(object_type="outcomes_cohort").last()
    assert entry.actor_id == director.pk and entry.action == "view"
    assert len(entry.detail["patient_ids"]) == 3 and entry.detail["courses"] == 3


def test_filters_narrow_the_cohort(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    dosed_course(clinic["slc"], director, RESPONDER, last="One")
    dosed_course(clinic["boise"], director, NON_RESPONDER, last="Two")
    dosed_course(clinic["boise"], director, RESPONDER, last="Three", protocol_key="esketamine-trd")
    boise = clinic["boise"].pk
    html = _page(client, director, f"/outcomes/?location={boise}&route=iv_ketamine")
    assert "<strong>1 course</strong>" in html
    assert timepoint_row(html, "eoi").startswith("End of induction 1 1 0 of 1 0/1")
    html = _page(client, director, "/outcomes/?route=esketamine")
    assert "<strong>1 course</strong>" in html and 'data-benchmark="escape-trd-2023"' in html
    assert 'data-benchmark="mcinnes-2022-orka1"' not in html  # another route's study
    assert "<strong>0 courses</strong>" in _page(
        client, director, "/outcomes/?start_from=2026-04-01"
    )
    assert "<strong>3 courses</strong>" in _page(client, director, "/outcomes/?age_band=45-54")
    assert "<strong>0 courses</strong>" in _page(client, director, "/outcomes/?diagnosis=F33")
    assert "<strong>0 courses</strong>" in _page(client, director, "/outcomes/?sex=male")


def test_a_prescriber_sees_only_their_locations(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director, prescriber = clinic["director"], clinic["prescriber"]  # prescriber: SLC
    own = dosed_course(clinic["slc"], director, RESPONDER, last="Mine")
    other = dosed_course(clinic["boise"], director, NON_RESPONDER, last="Elsewhere")
    html = _page(client, prescriber)
    assert "<strong>1 course</strong>" in html and "Elsewhere" not in html
    # Asking for the other location is refused by the form and shows nothing of it.
    html = _page(client, prescriber, f"/outcomes/?location={clinic['boise'].pk}")
    assert "<strong>1 course</strong>" in html
    assert AuditEntry.objects.filter(object_type="outcomes_cohort").last().detail[
        "patient_ids"
    ] == [own.patient_id]
    rows = list(csv.reader(io.StringIO(client.get("/outcomes/summary.csv").content.decode())))
    assert any(r and r[0].startswith("# Courses <11") for r in rows)
    export = AuditEntry.objects.filter(object_type="outcomes_export").last()
    assert export.detail["courses"] == 1
    patients = client.get("/outcomes/patients.csv")
    assert patients.status_code == 200
    assert AuditEntry.objects.filter(object_type="outcomes_export").last().detail[
        "patient_ids"
    ] == [own.patient_id]
    assert (
        other.patient_id
        not in json.dumps(
            [e.detail for e in AuditEntry.objects.filter(actor_id=prescriber.pk)]
        ).split("patient_ids")[-1:]
    )


@pytest.mark.parametrize("who", ["coordinator", "nurse", "admin", "patient_user"])
def test_other_roles_are_refused(client: Client, clinic: dict[str, Any], who: str) -> None:
    client.force_login(clinic[who])
    for url in (
        "/outcomes/",
        "/outcomes/summary.csv",
        "/outcomes/report.pdf",
        "/outcomes/patients.csv",
        "/outcomes/definitions/",
    ):
        assert client.get(url).status_code == 403, (who, url)
    assert not AuditEntry.objects.filter(object_type__startswith="outcomes").exists()


def test_anonymous_users_are_sent_to_log_in(client: Client, clinic: dict[str, Any]) -> None:
    for url in ("/outcomes/", "/outcomes/report.pdf", "/outcomes/gaps/"):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_exports_are_audited_and_suppress_small_cells(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    for n in range(12):
        dosed_course(clinic["slc"], director, RESPONDER if n % 3 else NON_RESPONDER, last=f"P{n}")
    client.force_login(director)
    rows = list(csv.reader(io.StringIO(client.get("/outcomes/summary.csv").content.decode())))
    assert rows[0] == ["# Outcome definitions v1 (as shipped with ketaclinic)"]
    eoi = next(r for r in rows if r and r[0] == "End of induction")
    # 12 due and assessed, 8 responders: the 4 non-responders could be worked out from
    # 12 - 8, so the whole row is suppressed, its denominators too.
    assert eoi[1:] == ["<11"] * 26
    # 22 courses, 11 responders and 11 not: every count is safe, the row is shown whole.
    for n in range(10):
        dosed_course(clinic["slc"], director, RESPONDER if n < 3 else NON_RESPONDER, last=f"Q{n}")
    summary = client.get("/outcomes/summary.csv")
    assert summary["Content-Disposition"].startswith('attachment; filename="outcomes-summary-')
    rows = list(csv.reader(io.StringIO(summary.content.decode())))
    assert [
        "# Courses 22; without baseline 0; without follow-up 0; cells from 1 to 10 suppressed"
    ] in rows
    eoi = next(r for r in rows if r and r[0] == "End of induction")
    assert eoi[1:4] == ["22", "22", "0"]
    assert eoi[4:7] == ["11", "22", "50.0"]
    assert eoi[14:17] == ["0", "22", "0.0"]
    patients = list(csv.reader(io.StringIO(client.get("/outcomes/patients.csv").content.decode())))
    header, body = patients[0], patients[1:]
    assert len(body) == 22 and "patient" in header and "Lovelace" not in str(patients)
    # No name, record number or date; the 22 share every describing column: kept.
    assert {(r[2], r[5], r[6]) for r in body} == {("SLC", "45-54", "female")}
    assert all(re.fullmatch(r"[0-9a-f]{12}", r[0]) for r in body)
    assert not any(re.search(r"\d{4}-\d{2}-\d{2}", ",".join(r)) for r in body)
    pdf = client.get("/outcomes/report.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.content)) == 1  # one page
    kinds = [e.detail["kind"] for e in AuditEntry.objects.filter(action="export")]
    assert kinds == ["summary_csv", "summary_csv", "patients_csv", "summary_pdf"]
    patients_entry = AuditEntry.objects.get(action="export", detail__kind="patients_csv")
    assert len(patients_entry.detail["patient_ids"]) == 22


def test_a_small_cohort_exports_no_patient_rows(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    dosed_course(clinic["slc"], director, RESPONDER, last="Only")
    client.force_login(director)
    text = client.get("/outcomes/patients.csv").content.decode()
    assert "suppressed: fewer than 11 courses in this cohort" in text
    assert text.count("\n") == 2
    summary = client.get("/outcomes/summary.csv").content.decode()
    assert "End of induction,<11,<11,<11" in summary


def test_changing_the_remission_cutoff_changes_the_rates_and_the_page_names_it(
    client: Client, clinic: dict[str, Any], dosed_course: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    director = clinic["director"]
    dosed_course(clinic["slc"], director, [(-2, 20), (12, 8), (28, 7), (56, 6)], last="A")
    dosed_course(clinic["slc"], director, [(-2, 20), (12, 9), (28, 9), (56, 9)], last="B")
    before = _page(client, director)
    assert "0/2 · 0%" in timepoint_row(before, "w4")  # PHQ-9 < 5: nobody remits
    (tmp_path / "phq9.json").write_text(
        json.dumps({"remission": {"operator": "<=", "value": 9, "source": "Clinic policy 2026-11"}})
    )
    monkeypatch.setenv("KETACLINIC_INSTRUMENT_OVERRIDES", str(tmp_path))
    after = _page(client, director)
    week4 = timepoint_row(after, "w4")
    assert week4.count("2/2 · 100%") == 4  # response and remission, completers and ITT
    assert "Patient Health Questionnaire-9 (PHQ-9) &lt;= 9" in after
    assert "Clinic policy 2026-11" in after
    csv_text = client.get("/outcomes/summary.csv").content.decode()
    assert "remission <= 9 (Clinic policy 2026-11)" in csv_text


def test_the_director_saves_a_new_definition_version_and_pages_name_it(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    dosed_course(clinic["slc"], director, [(-2, 20), (12, 11), (28, 11)], last="A")
    assert "0/1 · 0%" in timepoint_row(_page(client, director), "eoi")
    form = {
        "baseline_window_days": 14,
        "response_fall_percent": "40",
        "end_of_induction_window_days": 14,
        "timepoint_weeks": "4, 8, 12, 26",
        "timepoint_window_days": 7,
        "relapse_consecutive_measures": 2,
        "relapse_on_rescue_course": "on",
        "follow_up_max_days": 365,
        "follow_up_overdue_days": 14,
        "change_note": "Count a 40% fall as response, as our payer asks.",
        "based_on_version": 1,
    }
    client.force_login(clinic["prescriber"])
    assert client.post("/outcomes/definitions/", form).status_code == 403
    client.force_login(director)
    assert client.post("/outcomes/definitions/", {**form, "change_note": ""}).status_code == 200
    assert not OutcomeDefinitionVersion.objects.exists()
    response = client.post("/outcomes/definitions/", form)
    assert response.status_code == 302
    saved = OutcomeDefinitionVersion.objects.get()
    assert saved.version == 2 and saved.data["response"]["fall_percent"] == 40
    assert saved.data["response"]["source"].startswith("Clinic setting by Test Medical director")
    assert saved.data["baseline"]["source"].startswith("The last score within 14 days")
    html = _page(client, director)
    assert "Outcome definitions v2 (saved by Test Medical director" in html
    assert "Count a 40% fall as response" in html
    assert "1/1 · 100%" in timepoint_row(html, "eoi")  # 11 of 20 is a 45% fall
    assert AuditEntry.objects.filter(object_type="outcome_definition", action="create").exists()
    with pytest.raises(PermissionError):
        saved.save()
    # A second director's form, opened on version 1 before this save, changes nothing.
    stale = client.post("/outcomes/definitions/", {**form, "response_fall_percent": "30"})
    assert stale.status_code == 200
    assert "Someone saved version 2 of the definitions while you were editing" in (
        stale.content.decode()
    )
    assert OutcomeDefinitionVersion.objects.get().data["response"]["fall_percent"] == 40


def test_two_definition_saves_at_the_same_moment_keep_one(
    clinic: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both saves read version 1 as the latest; the database's unique version number
    refuses the second with the same message, and nothing of it is kept."""
    first = services.definition_in_use()
    services.definition_save(
        actor=clinic["director"],
        data=first.definition.as_data(),
        change_note="First",
        based_on_version=1,
    )
    monkeypatch.setattr(services, "definition_in_use", lambda: first)
    with pytest.raises(ValidationError, match="Someone saved version 2"):
        services.definition_save(
            actor=clinic["director"],
            data=first.definition.as_data(),
            change_note="Second",
            based_on_version=1,
        )
    assert list(OutcomeDefinitionVersion.objects.values_list("change_note", flat=True)) == ["First"]
    assert AuditEntry.objects.filter(object_type="outcome_definition").count() == 1


def test_a_bad_definition_is_refused_with_its_reason(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["director"])
    response = client.post(
        "/outcomes/definitions/",
        {
            "baseline_window_days": 14,
            "response_fall_percent": "50",
            "end_of_induction_window_days": 14,
            "timepoint_weeks": "4, 8, 52",
            "timepoint_window_days": 7,
            "relapse_consecutive_measures": 2,
            "follow_up_max_days": 100,
            "follow_up_overdue_days": 14,
            "change_note": "Longer follow-up",
            "based_on_version": 1,
        },
    )
    assert response.status_code == 200
    assert "must reach the last timepoint" in response.content.decode()
    assert not OutcomeDefinitionVersion.objects.exists()


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def test_query_counts_do_not_grow_with_patients(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    client.force_login(director)
    urls = ["/outcomes/", "/outcomes/summary.csv", "/outcomes/patients.csv", "/outcomes/gaps/"]

    def counts() -> tuple[list[int], list[int]]:
        """Each page computed from nothing (a new process), then each reusing what it kept."""
        fresh = []
        for url in urls:
            selectors.outcomes_cache_clear()
            fresh.append(_queries(client, url))
        return fresh, [_queries(client, url) for url in urls]

    dosed_course(clinic["slc"], director, RESPONDER, last="A")
    dosed_course(clinic["boise"], director, NON_RESPONDER, last="B")
    few = counts()
    for n in range(18):
        dosed_course(clinic["slc" if n % 2 else "boise"], director, RESPONDER, last=f"M{n}")
    assert counts() == few


def test_measurement_gaps_list_with_one_click_to_send_the_link(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    from ketaclinic.treatment.models import TreatmentCourse

    director = clinic["director"]
    no_baseline = dosed_course(clinic["slc"], director, [(3, 18)], last="Nobase")
    no_eoi = dosed_course(clinic["slc"], director, [(-1, 18)], last="Noeoi")
    fine = dosed_course(clinic["slc"], director, [(-1, 18), (12, 9)], last="Fine")
    TreatmentCourse.objects.filter(pk=fine.pk).update(phase="ended")
    html = _page(client, clinic["nurse"], "/outcomes/gaps/")
    assert "Nobase" in html and "No baseline" in html
    assert "Noeoi" in html and "No end-of-induction measure" in html
    assert "Fine" not in html
    assert f'action="/patients/{no_baseline.patient_id}/scores/send/"' in html
    entry = AuditEntry.objects.filter(object_type="measurement_gaps").last()
    assert sorted(entry.detail["patient_ids"]) == sorted(
        [no_baseline.patient_id, no_eoi.patient_id]
    )
    response = client.post(
        f"/patients/{no_baseline.patient_id}/scores/send/",
        {"instrument_keys": "phq9", "context": "baseline", "valid_hours": 72},
    )
    assert response.status_code == 200
    assert SelfReportRequest.objects.filter(patient_id=no_baseline.patient_id).exists()
    # Another location's nurse sees none of them.
    assert "Nobase" not in _page(client, clinic["nurse_boise"], "/outcomes/gaps/")


def test_the_chart_tab_summarises_each_course(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    director = clinic["director"]
    course = dosed_course(
        clinic["slc"],
        director,
        [(-2, 20), (12, 8), (28, 4), (60, 12), (67, 14)],
        last="Relapser",
    )
    html = _page(client, clinic["nurse"], f"/patients/{course.patient_id}/outcomes/")
    assert 'data-status="Relapsed"' in html
    assert "Relapsed " in html and "2 scores in a row above the response threshold" in html
    facts = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Baseline 20" in facts and "Best 4" in facts and "Latest 14" in facts
    assert "Change -30%" in facts
    assert html.count("<title>Session ") == 6  # every session marked on the trend
    assert 'data-chart="course-trend"' in html
    assert AuditEntry.objects.filter(patient_id=course.patient_id, detail__page="outcomes").exists()
    # One score above the threshold after a response: a flag, not yet a relapse.
    other = dosed_course(clinic["slc"], director, [(-2, 20), (12, 8), (60, 12)], last="Risk")
    html = _page(client, director, f"/patients/{other.patient_id}/outcomes/")
    assert "1 more above the threshold would be a relapse" in html
    assert 'data-status="Responded earlier, not at the latest score"' in html


def test_the_definitions_page_names_the_remission_cutoffs_and_their_source(
    client: Client, clinic: dict[str, Any]
) -> None:
    html = _page(client, clinic["prescriber"], "/outcomes/definitions/")
    assert "Montgomery" in html and "&lt;= 10" in html
    assert "KETACLINIC_INSTRUMENT_OVERRIDES" in html
    assert "Save as a new version" not in html  # prescribers read, the director edits
    assert "Save as a new version" in _page(client, clinic["director"], "/outcomes/definitions/")


def test_no_dose_no_outcome(client: Client, clinic: dict[str, Any]) -> None:
    from ketaclinic.conftest import make_course
    from ketaclinic.outcomes.tests.conftest import FIRST_DAY

    course = make_course(clinic["patient_slc"], clinic["director"], first_day=FIRST_DAY)
    html = _page(client, clinic["director"])
    assert "<strong>0 courses</strong>" in html and "1 more planned, not started" in html
    tab = _page(client, clinic["director"], f"/patients/{course.patient_id}/outcomes/")
    assert "outcomes begin with the first dose" in tab
    assert timedelta(0) == timedelta(0)


def test_the_deidentified_file_generalises_small_combinations_step_by_step() -> None:
    """Rows: course, patient, location, route, protocol, age band, sex."""

    def rows(*groups: tuple[int, str, str, str]) -> list[list[str]]:
        return [
            ["c", "p", location, "iv_ketamine", "iv v1", band, sex]
            for count, location, band, sex in groups
            for _ in range(count)
        ]

    # Two small age-and-sex groups together make 11: blanking age band and sex is enough.
    mixed = rows(
        (11, "SLC", "45-54", "female"), (6, "SLC", "25-34", "male"), (5, "SLC", "35-44", "male")
    )
    exports._generalise(mixed)
    kept = [r for r in mixed if r[5] != "suppressed"]
    assert len(kept) == 11 and {r[5] for r in kept} == {"45-54"}
    assert all(r[2] == "SLC" and r[4] == "iv v1" for r in mixed)
    # One course at another location stands out until nothing describes it any more.
    alone = rows((11, "SLC", "45-54", "female"), (1, "BOI", "45-54", "female"))
    exports._generalise(alone)
    assert alone[-1][2:] == ["suppressed"] * 5
    assert all(r[2:] == ["SLC", "iv_ketamine", "iv v1", "45-54", "female"] for r in alone[:11])


def test_the_raw_sql_aggregate_agrees_with_the_page(
    clinic: dict[str, Any], dosed_course: Any
) -> None:
    """The benchmark's yardstick (outcomes/raw_sql.py) is a second, independent computation
    of the summary's counts: responders, remitters, no baseline, no follow-up, computed
    afresh and reused."""
    director = clinic["director"]
    for n, scores in enumerate(
        (
            RESPONDER,
            NON_RESPONDER,
            [(-2, 20), (12, 3), (28, 2), (56, 4)],  # remits
            [(3, 18)],  # no baseline
            [(-1, 18)],  # no follow-up
            [(-3, 22), (30, 10), (90, 21), (190, 20)],  # responds late, then relapses
        )
    ):
        dosed_course(clinic["slc" if n % 2 else "boise"], director, scores, last=f"S{n}")
    selectors.outcomes_cache_clear()
    for _ in ("computed", "reused"):
        now = timezone.now()
        report = selectors.outcomes_report(director, selectors.CohortFilters(), now=now)
        page = {
            p.key: (p.due, p.assessed, p.response_completers.count, p.remission_completers.count)
            for p in report.summary.timepoints
        }
        assert summary_counts_sql(now=now) == page
        assert sum(due for due, *_ in page.values()) > 0


def test_the_start_date_filter_reads_each_location_s_own_calendar(
    clinic: dict[str, Any], dosed_course: Any, make_location: Any
) -> None:
    """A first dose at 22:00 on March 1 in Honolulu is already March 2 in Denver (the
    server's zone): the course started on March 1, where it was given."""
    honolulu = make_location("HNL", "HI", "Pacific/Honolulu")
    course = dosed_course(honolulu, clinic["director"], RESPONDER, last="Kahale")
    first = TreatmentSession.objects.filter(course=course).order_by("dosing_started_at").first()
    first.dosing_started_at = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    first.save(update_fields=["dosing_started_at"])

    def courses(**filters: Any) -> list[int]:
        report = selectors.outcomes_report(clinic["director"], selectors.CohortFilters(**filters))
        return [row.course_id for row in report.cohort.rows]

    assert courses(start_to=date(2026, 3, 1)) == [course.pk]
    assert courses(start_from=date(2026, 3, 2)) == []


def test_measurement_gaps_are_all_listed_a_page_at_a_time(
    client: Client, clinic: dict[str, Any], dosed_course: Any, settings: Any
) -> None:
    settings.KETACLINIC_PAGE_SIZE = 2
    for name in ("Gapone", "Gaptwo", "Gapthree"):
        dosed_course(clinic["slc"], clinic["director"], [(3, 18)], last=name)
    first = _page(client, clinic["nurse"], "/outcomes/gaps/")
    assert "1\u20132 of 3" in first and "Gapone" in first and "Gapthree" not in first
    second = _page(client, clinic["nurse"], "/outcomes/gaps/?page=2")
    assert "3\u20133 of 3" in second and "Gapthree" in second
    entry = AuditEntry.objects.filter(object_type="measurement_gaps").last()
    assert len(entry.detail["patient_ids"]) == 1  # what the page showed


def test_measurement_gaps_follow_new_data_and_do_not_grow_with_sessions(
    client: Client, clinic: dict[str, Any], dosed_course: Any
) -> None:
    """The gaps page reuses each patient's data and outcomes kept by the outcomes page's
    cache (by stamp token): a new score shows at once, and the query count stays the same
    with more sessions per course."""
    from ketaclinic.outcomes.tests.conftest import record_score

    director = clinic["director"]
    course = dosed_course(clinic["slc"], director, [(3, 18)], sessions=2, last="Nobase")
    client.force_login(clinic["nurse"])
    selectors.outcomes_cache_clear()
    assert "Nobase" in client.get("/outcomes/gaps/").content.decode()

    def counts() -> tuple[int, int]:
        """Read from nothing (a new process), then reusing what was kept."""
        selectors.outcomes_cache_clear()
        return _queries(client, "/outcomes/gaps/"), _queries(client, "/outcomes/gaps/")

    few = counts()
    assert few[1] < few[0]  # the second reads no patient data
    assert len(dose(course, start=2)) >= 3
    assert counts() == few
    first = TreatmentSession.objects.filter(course=course).order_by("dosing_started_at").first()
    record_score(course.patient, "phq9", 19, first.dosing_started_at - timedelta(days=2))
    html = client.get("/outcomes/gaps/").content.decode()
    assert "No baseline" not in html
