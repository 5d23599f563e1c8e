"""Patients imported from another system's CSV: a file with any bad line changes nothing
and every problem is listed with its line; duplicates are reported, not created twice; a
good file is registered all at once, audited, and only by the medical director."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client

from ketaclinic.audit.models import AuditEntry
from ketaclinic.audit.services import audit_verify_chain
from ketaclinic.patients import services
from ketaclinic.patients.importing import COLUMNS, Problem, header_key, import_check
from ketaclinic.patients.models import MrnSequence, Patient, PatientImport
from ketaclinic.patients.tests.test_registry import _queries

pytestmark = pytest.mark.django_db

HEADER = ["First Name", "Last Name", "DOB", "Sex", "Phone", "State", "Location", "Insurance"]


def csv_text(rows: list[list[str]], header: list[str] = HEADER) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def good_rows(count: int, location: str = "SLC", start: int = 0) -> list[list[str]]:
    return [
        [
            f"Test{n}",
            f"Imported{n:05d}",
            f"{1950 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "F" if n % 2 else "male",
            f"801.555.{n % 10_000:04d}",
            "ut",
            location,
            "Acme Health",
        ]
        for n in range(start, start + count)
    ]


BAD_ROWS = [
    ["Ada", "", "1980-13-01", "Q", "123", "ZZ", "Mars", ""],  # line 2: six problems
    ["Bo", "Li", "02/30/1990", "F", "8015550100", "UT", "SLC", ""],  # line 3: no such date
    ["Cy", "Ko", "2099-01-01", "M", "8015550100", "UT", "SLC", ""],  # line 4: born in the future
    ["Dee", "Ra", "1990-01-01", "F", "8015550100", "UT", "", ""],  # line 5: no location
    ["Eve", "Ng", "1990-01-01", "F", "8015550100", "UT", "SLC", "", "extra"],  # line 6: 9 cells
]


def _state() -> tuple[int, int, int, list[str]]:
    """What an import could change: patients, waiting imports, the MRN counter."""
    counter = MrnSequence.objects.filter(pk=1).values_list("last_number", flat=True).first()
    return (
        Patient.objects.count(),
        PatientImport.objects.count(),
        counter or 0,
        sorted(Patient.objects.values_list("mrn", flat=True)),
    )


def _upload(client: Client, text: str, name: str = "export.csv", **data: Any) -> Any:
    upload = SimpleUploadedFile(name, text.encode(), content_type="text/csv")
    return client.post("/patients/import/", {"file": upload, **data})


def test_every_problem_is_named_by_line_and_column(clinic: dict[str, Any]) -> None:
    text = csv_text([*good_rows(2), *BAD_ROWS])
    check = import_check(text, locations=[clinic["slc"], clinic["boise"]])
    found = {(p.line, p.column) for p in check.problems}
    assert found == {
        (4, "location"),
        (4, "date_of_birth"),
        (4, "last_name"),
        (4, "sex_at_birth"),
        (4, "phone"),
        (4, "state"),
        (5, "date_of_birth"),
        (6, "date_of_birth"),
        (7, "location"),
        (8, ""),
    }
    said = {(p.line, p.column): p.message for p in check.problems}
    assert said[(4, "location")] == "No location \u201cMars\u201d among yours (Boise, SLC)."
    assert "\u201c1980-13-01\u201d is not a date" in said[(4, "date_of_birth")]
    assert said[(4, "last_name")] == "Empty: it is required."
    assert "\u201cQ\u201d is not female, male" in said[(4, "sex_at_birth")]
    assert "\u201cZZ\u201d is not a US state" in said[(4, "state")]
    assert "future" in said[(6, "date_of_birth")]
    assert "9 cells and the header 8" in said[(8, "")]
    assert check.ignored_columns == ["Insurance"]
    assert [line for line, _ in check.new] == [2, 3]
    assert not check.importable


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (["first_name", "last_name", "dob", "sex", "phone"], Problem(1, "state", "")),
        (["first_name", "given_name", "last_name", "dob", "sex", "phone", "state"], None),
        (["first_name", "last_name", "dob", "sex", "phone", "state"], Problem(1, "location", "")),
    ],
)
def test_the_header_is_checked_first(
    clinic: dict[str, Any], header: list[str], problem: Problem | None
) -> None:
    check = import_check(csv_text([], header), locations=[clinic["slc"]])
    assert check.problems, check
    if problem is not None:
        assert (check.problems[0].line, check.problems[0].column) == (1, problem.column)
    else:
        assert "Two columns fill first_name" in check.problems[0].message


def test_headers_match_whatever_their_case_or_spacing() -> None:
    assert header_key(" Date of-Birth ") == "date_of_birth"
    names = [name for c in COLUMNS for name in (c.name, *c.aliases)]
    assert len(names) == len(set(names))  # no header is read as two columns


def test_an_empty_file_and_a_header_alone_are_explained(clinic: dict[str, Any]) -> None:
    assert "empty" in import_check("", locations=[clinic["slc"]]).problems[0].message
    alone = import_check(csv_text([]), locations=[clinic["slc"]])
    assert alone.problems == [Problem(2, "", "The file has no patients below its header line.")]


def test_a_file_with_bad_lines_changes_nothing_and_the_page_lists_every_problem(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["director"])
    before = _state()
    response = _upload(client, csv_text([*good_rows(3), *BAD_ROWS]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Nothing was saved" in page
    assert page.count("data-problem-line=") == 10  # each problem, a row
    for line in (5, 6, 7, 8, 9):
        assert f'data-problem-line="{line}"' in page
    assert "Columns not imported: Insurance." in page
    assert _state() == before


def test_a_good_file_is_registered_at_once_audited_and_forgotten(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["director"])
    entries = AuditEntry.objects.count()
    response = _upload(client, csv_text(good_rows(30)))
    staged = PatientImport.objects.get()
    assert response.status_code == 302 and response.url == f"/patients/import/{staged.pk}/"
    assert Patient.objects.count() == 2  # the clinic's two; nothing yet
    review = client.get(response.url).content.decode()
    assert "30 new patients" in review and "Import 30 patients" in review
    done = client.post(f"/patients/import/{staged.pk}/run/", follow=True)
    assert "Imported 30 patient(s) from export.csv." in done.content.decode()
    imported = Patient.objects.filter(legal_last_name__startswith="Imported").order_by("pk")
    assert imported.count() == 30
    first = imported.first()
    assert first is not None
    assert (first.legal_first_name, first.date_of_birth, first.sex_at_birth) == (
        "Test0",
        date(1950, 1, 1),
        "male",
    )
    assert (first.phone, first.state, first.primary_location) == (
        "(801) 555-0000",
        "UT",
        clinic["slc"],
    )
    assert first.last_name_key == "imported00000" and first.mrn.startswith("KC-")
    assert len({p.mrn for p in imported}) == 30
    staged.refresh_from_db()
    assert (staged.status, staged.content, staged.imported) == ("imported", "", 30)
    created = AuditEntry.objects.filter(action="create", object_type="patient")
    assert set(created.values_list("patient_id", flat=True)) == {p.pk for p in imported}
    assert AuditEntry.objects.count() > entries + 30
    assert audit_verify_chain().ok
    # The patients are found like any other.
    found = client.get("/patients/", {"q": "imported00007"}).context["page"]
    assert [p.legal_first_name for p in found] == ["Test7"]


def test_duplicates_in_the_file_and_the_registry_are_reported_not_created(
    client: Client, clinic: dict[str, Any], make_patient: Any
) -> None:
    registered = make_patient(
        clinic["boise"], "Test1", "Imported00001", date_of_birth=date(1951, 2, 2)
    )
    rows = good_rows(4)
    rows.append(list(rows[0]))  # line 6 repeats line 2
    rows[0][0] = "TEST0"  # and differs only in case
    client.force_login(clinic["director"])
    staged, check = services.patients_import_check(
        actor=clinic["director"], file_name="dups.csv", text=csv_text(rows)
    )
    assert staged is not None
    assert [(d.line, d.existing, d.earlier_line) for d in check.duplicates] == [
        (3, registered, None),
        (6, None, 2),
    ]
    seen = AuditEntry.objects.filter(action="view", patient_id=registered.pk)
    assert seen.filter(detail__page="import check").exists()
    review = client.get(f"/patients/import/{staged.pk}/").content.decode()
    assert registered.mrn in review and "line 2 of this file" in review
    staged, _ = services.patients_import_run(actor=clinic["director"], import_id=staged.pk)
    assert (staged.imported, staged.duplicates, staged.duplicate_lines) == (3, 2, [3, 6])
    assert Patient.objects.filter(last_name_key="imported00001").count() == 1
    assert Patient.objects.filter(last_name_key="imported00000").count() == 1


def test_a_patient_registered_meanwhile_is_skipped_when_the_import_runs(
    clinic: dict[str, Any], make_patient: Any
) -> None:
    director = clinic["director"]
    staged, _ = services.patients_import_check(
        actor=director, file_name="a.csv", text=csv_text(good_rows(3))
    )
    assert staged is not None
    make_patient(clinic["slc"], "Test2", "Imported00002", date_of_birth=date(1952, 3, 3))
    staged, _ = services.patients_import_run(actor=director, import_id=staged.pk)
    assert (staged.imported, staged.duplicate_lines) == (2, [4])


def test_a_problem_found_when_the_import_runs_refuses_all_of_it(clinic: dict[str, Any]) -> None:
    director = clinic["director"]
    text = csv_text(good_rows(2) + good_rows(2, location="Boise", start=2))
    staged, _ = services.patients_import_check(actor=director, file_name="b.csv", text=text)
    assert staged is not None
    clinic["boise"].is_active = False
    clinic["boise"].save()
    before = _state()
    with pytest.raises(ValidationError, match=r"no longer passes its check \(line 4: No location"):
        services.patients_import_run(actor=director, import_id=staged.pk)
    assert _state() == before


def test_a_failure_while_writing_leaves_nothing_behind(
    clinic: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    director = clinic["director"]
    staged, _ = services.patients_import_check(
        actor=director, file_name="c.csv", text=csv_text(good_rows(services.IMPORT_BATCH + 5))
    )
    assert staged is not None
    before, entries = _state(), AuditEntry.objects.count()
    real = Patient.objects.bulk_create
    calls = []

    def second_batch_fails(batch: list[Patient]) -> list[Patient]:
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        return real(batch)

    monkeypatch.setattr(Patient.objects, "bulk_create", second_batch_fails)
    with pytest.raises(RuntimeError):
        services.patients_import_run(actor=director, import_id=staged.pk)
    assert calls == [services.IMPORT_BATCH, 5]
    assert _state() == before and AuditEntry.objects.count() == entries
    staged.refresh_from_db()
    assert staged.status == "checked" and staged.content


def test_a_file_is_imported_once(client: Client, clinic: dict[str, Any]) -> None:
    director = clinic["director"]
    text = csv_text(good_rows(2))
    staged, _ = services.patients_import_check(actor=director, file_name="d.csv", text=text)
    again, _ = services.patients_import_check(actor=director, file_name="d.csv", text=text)
    assert staged is not None and again == staged  # the same file waits once
    services.patients_import_run(actor=director, import_id=staged.pk)
    before = _state()
    with pytest.raises(ValidationError, match=rf"This file was imported on .* by {director}:"):
        services.patients_import_run(actor=director, import_id=staged.pk)
    client.force_login(director)
    response = client.post(f"/patients/import/{staged.pk}/run/", follow=True)
    assert "This file was imported on" in response.content.decode()
    assert _state() == before


def test_a_discarded_file_is_forgotten_and_cannot_be_imported(
    client: Client, clinic: dict[str, Any]
) -> None:
    director = clinic["director"]
    staged, _ = services.patients_import_check(
        actor=director, file_name="e.csv", text=csv_text(good_rows(2))
    )
    assert staged is not None
    client.force_login(director)
    response = client.post(f"/patients/import/{staged.pk}/discard/", follow=True)
    assert "e.csv was discarded: nothing was imported." in response.content.decode()
    staged.refresh_from_db()
    assert (staged.status, staged.content) == ("discarded", "")
    with pytest.raises(ValidationError, match="was discarded"):
        services.patients_import_run(actor=director, import_id=staged.pk)


def test_only_the_medical_director_may_import(client: Client, clinic: dict[str, Any]) -> None:
    staged, _ = services.patients_import_check(
        actor=clinic["director"], file_name="f.csv", text=csv_text(good_rows(2))
    )
    assert staged is not None
    before = _state()
    for role in ("coordinator", "nurse", "prescriber", "admin", "patient_user"):
        client.force_login(clinic[role])
        assert client.get("/patients/import/").status_code == 403, role
        assert client.get(f"/patients/import/{staged.pk}/").status_code == 403, role
        assert _upload(client, csv_text(good_rows(1))).status_code == 403, role
        for action in ("run", "discard"):
            assert client.post(f"/patients/import/{staged.pk}/{action}/").status_code == 403
        with pytest.raises(PermissionDenied):
            services.patients_import_run(actor=clinic[role], import_id=staged.pk)
    client.logout()
    assert client.get("/patients/import/").status_code == 302
    assert client.post(f"/patients/import/{staged.pk}/run/").status_code == 302
    assert _state() == before
    assert PatientImport.objects.get().status == "checked"


def test_the_page_refuses_a_file_that_is_not_utf8_and_shows_the_columns(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["director"])
    page = client.get("/patients/import/").content.decode()
    assert "No file has been checked yet." in page and "date_of_birth" in page
    upload = SimpleUploadedFile("latin1.csv", "Jos\xe9,N\xfa\xf1ez\n".encode("latin-1"))
    response = client.post("/patients/import/", {"file": upload})
    assert "is not UTF-8 text" in response.content.decode()
    assert PatientImport.objects.count() == 0


def test_the_page_takes_the_location_for_lines_without_one(
    client: Client, clinic: dict[str, Any]
) -> None:
    client.force_login(clinic["director"])
    header = [h for h in HEADER if h != "Location"]
    rows = [[c for i, c in enumerate(row) if i != 6] for row in good_rows(2)]
    response = _upload(client, csv_text(rows, header), location=clinic["boise"].pk)
    staged = PatientImport.objects.get()
    assert response.status_code == 302 and staged.default_location == clinic["boise"]
    services.patients_import_run(actor=clinic["director"], import_id=staged.pk)
    imported = Patient.objects.filter(last_name_key__startswith="imported")
    assert {p.primary_location for p in imported} == {clinic["boise"]}


def test_query_counts_of_the_import_and_patient_pages_do_not_grow_with_imports(
    client: Client, clinic: dict[str, Any]
) -> None:
    director = clinic["director"]

    def imported(count: int, start: int) -> None:
        staged, _ = services.patients_import_check(
            actor=director, file_name=f"{start}.csv", text=csv_text(good_rows(count, start=start))
        )
        assert staged is not None
        services.patients_import_run(actor=director, import_id=staged.pk)

    client.force_login(director)
    urls = ["/patients/import/", "/patients/", "/patients/?q=imported", "/patients/?q=test1"]
    imported(5, 0)
    few = [_queries(client, url) for url in urls]
    for batch in range(1, 30):
        imported(20, 5 + batch * 20)
    assert Patient.objects.count() > 500
    assert [_queries(client, url) for url in urls] == few


def test_the_command_checks_asks_and_imports_with_a_progress_bar(
    clinic: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    director = clinic["director"].username
    bad = tmp_path / "bad.csv"
    bad.write_text(csv_text([*good_rows(2), *BAD_ROWS]))
    before = _state()
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import", "patients", str(bad), "--by", director)
    out = capsys.readouterr().out
    assert "7 patient line(s): 2 new, 0 registered already, 10 problem(s)." in out
    assert "  line 4, location: No location \u201cMars\u201d among yours (Boise, SLC)." in out
    good = tmp_path / "good.csv"
    good.write_text(csv_text(good_rows(10_000)))
    call_command("import", "patients", str(good), "--by", director, "--dry-run")
    assert (
        "Dry run: 10000 patient(s) would be imported; nothing was saved." in capsys.readouterr().out
    )
    # Not confirmed (no terminal to ask at): nothing is imported and the file is not kept.
    with pytest.raises(CommandError, match="Not confirmed: nothing was imported"):
        call_command("import", "patients", str(good), "--by", director)
    assert _state()[:1] == before[:1]
    assert PatientImport.objects.get().status == "discarded"
    call_command("import", "patients", str(good), "--by", director, "--yes")
    captured = capsys.readouterr()
    assert "Imported 10000 patient(s) from good.csv." in captured.out
    assert "Importing: 100%" in captured.err and "10000/10000" in captured.err
    assert Patient.objects.count() == before[0] + 10_000
