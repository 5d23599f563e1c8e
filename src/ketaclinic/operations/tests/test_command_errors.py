"""Every `ketaclinic` command's error paths, run as the real console script: an expected
condition ends in a clear message and a non-zero exit status, never a traceback."""

# ruff: noqa: E501 - one case a line reads best as a table

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ketaclinic.cli import HELP

BIN = Path(sys.executable).parent / "ketaclinic"
UNREACHABLE_DATABASE = "postgres://nobody@127.0.0.1:1/ketaclinic"


@dataclass(frozen=True)
class Case:
    command: str  # the first word, as listed by `ketaclinic --help`
    args: tuple[str, ...]
    database: str  # "new" (never migrated), "migrated" or "seeded"
    status: int
    says: str  # a fragment of what the user reads
    env: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return " ".join(self.args) + (f" [{self.database}]" if self.database != "new" else "")


CASES = [
    Case("demo", ("demo", "--patients", "0"), "new", 1, "--patients must be at least 1"),
    Case("demo", ("demo", "--sessions", "0"), "new", 1, "--sessions must be at least 1"),
    Case("demo", ("demo", "--locations", "2"), "new", 1, "--locations must be from 3 to 24"),
    Case("demo", ("demo", "--locations", "99"), "new", 1, "--locations must be from 3 to 24"),
    Case("demo", ("demo", "--patients", "2"), "seeded", 1, "already has an organization"),
    Case("demo", ("demo",), "new", 2, "Cannot use the database", {"DATABASE_URL": UNREACHABLE_DATABASE}),
    Case("migrate", ("migrate", "--no-input"), "new", 2, "Cannot use the database", {"DATABASE_URL": UNREACHABLE_DATABASE}),
    Case("migrate", ("migrate",), "new", 2, "DATABASE_URL is not a database address", {"DATABASE_URL": "nosuch://x"}),
    Case("serve", ("serve",), "new", 1, "run `ketaclinic migrate` first"),
    Case("serve", ("serve", "--port", "abc"), "new", 2, "invalid int value"),
    Case("serve", ("serve", "--port", "70000"), "migrated", 1, "--port must be from 1 to 65535"),
    Case("serve", ("serve", "--port", "{busy_port}"), "migrated", 1, "Cannot listen on"),
    Case("createuser", ("createuser", "--role", "nurse", "--username", "n1", "--location", "SLC"), "new", 2, "run `ketaclinic migrate` first"),
    Case("createuser", ("createuser", "--role", "surgeon", "--username", "s1"), "migrated", 2, "invalid choice"),
    Case("createuser", ("createuser", "--role", "nurse", "--username", "n2", "--location", "Mars"), "migrated", 1, "No location 'Mars'"),
    Case("createuser", ("createuser", "--role", "admin", "--username", "a1"), "migrated", 1, "No password given"),
    Case("audit", ("audit", "verify"), "new", 2, "run `ketaclinic migrate` first"),
    Case("audit", ("audit",), "migrated", 2, "required: ACTION"),
    Case("ledger", ("ledger", "verify"), "new", 2, "run `ketaclinic migrate` first"),
    Case("ledger", ("ledger", "verify"), "migrated", 2, "Cannot use the database", {"DATABASE_URL": UNREACHABLE_DATABASE}),
    Case("reminders", ("reminders", "send"), "new", 2, "run `ketaclinic migrate` first"),
    Case("reminders", ("reminders", "send", "--dry-run"), "new", 2, "run `ketaclinic migrate` first"),
    Case("reminders", ("reminders", "sned"), "migrated", 2, "invalid choice"),
    Case("score", ("score", "phq9", "1", "2"), "new", 2, "phq9 needs 9 answers, got 2"),
    Case("score", ("score", "phq10", "1"), "new", 2, "phq10"),
    Case("score", ("score", "phq9", "--csv", "/nonexistent/answers.csv"), "new", 2, "answers.csv"),
    Case("dose", ("dose", "iv-ketamine"), "new", 2, "weight"),
    Case("dose", ("dose", "iv-ketamine", "--weight-kg", "-5", "--mg-per-kg", "0.5", "--minutes", "40"), "new", 2, "weight"),
    Case("dose", ("dose", "esketamine", "--dose-mg", "30"), "new", 2, "28"),
    Case("pk", ("pk", "--model", "nosuch", "--weight-kg", "70", "--mg-per-kg", "0.5", "--minutes", "40"), "new", 2, "nosuch"),
    Case("pk", ("pk", "--model", "domino", "--weight-kg", "0", "--mg-per-kg", "0.5", "--minutes", "40"), "new", 2, "weight"),
    Case("check", ("check",), "new", 2, "KETACLINIC_ENV must be 'local' or 'production'", {"KETACLINIC_ENV": "staging"}),
    Case("nosuch", ("nosuch",), "new", 1, "Unknown command: 'nosuch'"),
    Case("unlock", ("unlock", "admin"), "new", 2, "run `ketaclinic migrate` first"),
    Case("unlock", ("unlock",), "migrated", 2, "Name the account to unlock"),
    Case("unlock", ("unlock", "nosuch"), "migrated", 1, "There is no account named 'nosuch'"),
    Case("unlock", ("unlock", "admin"), "new", 2, "Cannot use the database", {"DATABASE_URL": UNREACHABLE_DATABASE}),
    Case("backup", ("backup",), "new", 2, "run `ketaclinic migrate` first"),
    Case("backup", ("backup",), "new", 2, "Cannot use the database", {"DATABASE_URL": UNREACHABLE_DATABASE}),
    Case("backup", ("backup", "--keep-days", "0"), "migrated", 2, "--keep-days must be at least 1"),
    Case("backup", ("backup", "--to", "/etc/hostname/backups"), "migrated", 2, "Cannot write backups to /etc/hostname/backups"),
    Case("backup", ("backup", "nosuch"), "migrated", 2, "invalid choice: 'nosuch'"),
    Case("backup", ("backup", "verify"), "migrated", 2, "Name the archive"),
    Case("backup", ("backup", "verify", "/nonexistent/backup.tar.gz"), "migrated", 1, "No backup archive at /nonexistent/backup.tar.gz"),
    Case("backup", ("backup", "verify", "{damaged}"), "migrated", 1, "is damaged or not a ketaclinic backup"),
    Case("restore", ("restore",), "new", 2, "required: archive"),
    Case("restore", ("restore", "/nonexistent/backup.tar.gz"), "new", 1, "No backup archive at /nonexistent/backup.tar.gz"),
    Case("restore", ("restore", "--yes", "{damaged}"), "new", 1, "is damaged or not a ketaclinic backup"),
    Case("restore", ("restore", "{archive}"), "seeded", 1, "Not confirmed: nothing was changed"),
    Case("restore", ("restore", "--yes", "{archive}"), "new", 1, "is a backup of a sqlite database, but DATABASE_URL points to the PostgreSQL database", {"DATABASE_URL": UNREACHABLE_DATABASE}),
    Case("audit", ("audit", "anchor"), "new", 2, "run `ketaclinic migrate` first"),
    Case("audit", ("audit", "verify", "--anchor", "/nonexistent/anchors.jsonl"), "migrated", 2, "Cannot check the anchors"),
    Case("requests", ("requests", "purge"), "new", 2, "run `ketaclinic migrate` first"),
    Case("requests", ("requests",), "migrated", 2, "required: ACTION"),
    Case("import", ("import",), "migrated", 2, "required: WHAT"),
    Case("import", ("import", "patients", "{archive}", "--by", "director"), "new", 2, "run `ketaclinic migrate` first"),
    Case("import", ("import", "patients", "/nonexistent/patients.csv", "--by", "director"), "migrated", 1, "Cannot read /nonexistent/patients.csv"),
    Case("import", ("import", "patients", "{archive}", "--by", "nosuch"), "migrated", 1, "There is no active account named 'nosuch'"),
    Case("import", ("import", "patients", "{archive}", "--by", "director", "--location", "Mars"), "seeded", 1, "No location 'Mars'"),
    Case("import", ("import", "patients", "{archive}", "--by", "director"), "seeded", 1, "is not UTF-8 text"),
    Case("import", ("import", "patients", "{archive}", "--by", "nurse"), "seeded", 1, "'nurse' may not import patients"),
    Case("worker", ("worker", "--once"), "new", 2, "run `ketaclinic migrate` first"),
    Case("worker", ("worker", "--poll-seconds", "soon"), "new", 2, "invalid float value"),
    Case("fhir", ("fhir",), "migrated", 2, "required: WHAT"),
    Case("fhir", ("fhir", "client", "list"), "new", 2, "run `ketaclinic migrate` first"),
    Case("fhir", ("fhir", "client", "add", "Registry", "--account", "nosuch", "--scope", "system/*.read"), "migrated", 1, "No account 'nosuch'"),
    Case("fhir", ("fhir", "client", "add", "Registry", "--account", "director", "--scope", "patient/*.read"), "seeded", 1, "Not a system scope: patient/*.read"),
    Case("fhir", ("fhir", "import", "/nonexistent/bundle.json", "--by", "director", "--location", "SLC"), "seeded", 1, "Cannot read /nonexistent/bundle.json"),
    Case("fhir", ("fhir", "import", "{archive}", "--by", "director", "--location", "SLC"), "seeded", 1, "Nothing was imported: The file is not JSON"),
    Case("fhir", ("fhir", "import", "{archive}", "--by", "director", "--location", "Mars"), "seeded", 1, "No location with the short name 'Mars'"),
    Case("fhir", ("fhir", "import", "{archive}", "--by", "nurse", "--location", "SLC"), "seeded", 1, "may not import FHIR Bundles"),
]  # fmt: skip


def _help_commands() -> set[str]:
    listed = HELP.split("Commands:", 1)[1].split("Any other Django", 1)[0]
    return set(re.findall(r"^  ([a-z]+)", listed, re.MULTILINE))


def test_every_command_in_the_help_has_its_error_paths_tried() -> None:
    assert _help_commands() <= {case.command for case in CASES}


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Three runtime folders: a new database, a migrated one and one with the demo."""
    folders = {name: tmp_path_factory.mktemp(name) for name in ("new", "migrated", "seeded")}
    _ketaclinic(["migrate", "--no-input", "-v0"], folders["migrated"], check=True)
    _ketaclinic(["demo", "--patients", "2"], folders["seeded"], check=True)
    # A good archive of the seeded clinic, and a damaged copy of it, for backup and restore.
    backups = tmp_path_factory.mktemp("backups")
    _ketaclinic(["backup", "--to", str(backups)], folders["seeded"], check=True)
    (archive,) = backups.glob("ketaclinic-*.tar.gz")
    damaged = tmp_path_factory.mktemp("damaged") / archive.name
    damaged.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    folders["archive"], folders["damaged"] = archive, damaged
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        folders["busy_port"] = Path(str(busy.getsockname()[1]))
        yield folders


def _ketaclinic(
    args: list[str], var_dir: Path, extra: dict[str, str] | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KETACLINIC_ENV"}}
    env.update({"KETACLINIC_VAR_DIR": str(var_dir), **(extra or {})})
    env.pop("KETACLINIC_NEW_USER_PASSWORD", None)
    return subprocess.run(
        [BIN, *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=check,
    )


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_an_expected_condition_is_one_clear_line(case: Case, databases: dict[str, Path]) -> None:
    places = {
        "{busy_port}": databases["busy_port"].name,
        "{archive}": str(databases["archive"]),
        "{damaged}": str(databases["damaged"]),
    }
    args = [places.get(a, a) for a in case.args]
    result = _ketaclinic(args, databases[case.database], case.env)
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == case.status, output
    assert case.says in output, output
    if not result.stderr.lstrip().startswith("usage:"):  # argparse adds its usage lines
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        lines = [line for line in lines if "Seeding demo clinic" not in line]  # progress bar
        # One line, and at most a pointer to the help after it.
        assert lines and len(lines) <= 2 and case.says in lines[0], result.stderr


def test_demo_on_a_new_database_sets_it_up_first(tmp_path: Path) -> None:
    result = _ketaclinic(["demo", "--patients", "2"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Setting up the database tables first" in result.stdout
    assert "Demo clinic ready: 2 patients" in result.stdout
    assert _ketaclinic(["audit", "verify"], tmp_path).returncode == 0
