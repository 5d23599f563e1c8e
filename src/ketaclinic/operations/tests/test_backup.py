"""`ketaclinic backup`, `backup verify` and `restore`, run as the real commands: the demo
clinic round-trips with every table's row count and both chains identical, a damaged
archive is refused with one clear line, and a database that already holds data is replaced
only when the operator says so.

On the suite's own database engine: SQLite files in temporary folders, or (with a
PostgreSQL DATABASE_URL) databases of their own on that server, dropped afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dj_database_url
import pytest

from ketaclinic.operations.backup import Database, database_facts

BIN = Path(sys.executable).parent / "ketaclinic"


@dataclass
class Clinic:
    """One install: its runtime folder and its database."""

    var_dir: Path
    database: Database

    def run(self, *args: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "KETACLINIC_ENV"}}
        env.update({"KETACLINIC_VAR_DIR": str(self.var_dir), "DATABASE_URL": self.database.url})
        return subprocess.run(
            [BIN, *args],
            env=env,
            input=answer,
            stdin=None if answer is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def facts(self) -> dict[str, Any]:
        with self.database.connect() as connection:
            cursor = connection.cursor()
            facts = database_facts(cursor, self.database.engine)
            cursor.execute("SELECT sequence, entry_hash FROM audit_auditentry ORDER BY sequence")
            facts["audit_chain"] = [tuple(row) for row in cursor.fetchall()]
            cursor.execute(
                "SELECT location_id, sequence, entry_hash FROM register_ledgerentry "
                "ORDER BY location_id, sequence"
            )
            facts["ledger_chains"] = [tuple(row) for row in cursor.fetchall()]
            if self.database.engine == "postgresql":
                connection.rollback()
        return facts


class Installs:
    """Makes empty installs on the suite's database engine, and removes them afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.made: list[Database] = []
        url = os.environ.get("DATABASE_URL", "")
        self.server = dj_database_url.parse(url) if url.startswith("postgres") else None

    def new(self, name: str) -> Clinic:
        var_dir = self.root / name
        var_dir.mkdir()
        if self.server is None:
            return Clinic(var_dir, Database("sqlite", str(var_dir / "ketaclinic.sqlite3")))
        admin = Database(
            "postgresql",
            "postgres",  # the maintenance database, which every server has
            str(self.server.get("HOST") or ""),
            str(self.server.get("PORT") or ""),
            str(self.server.get("USER") or ""),
            str(self.server.get("PASSWORD") or ""),
        )
        database = admin.renamed(f"kc_backup_{name}_{uuid.uuid4().hex[:8]}")
        with admin.connect(autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database.name}"')
        self.made.append(database)
        return Clinic(var_dir, database)

    def remove(self) -> None:
        for database in self.made:
            admin = database.renamed("postgres")
            with admin.connect(autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database.name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def installs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installs]:
    made = Installs(tmp_path_factory.mktemp("installs"))
    yield made
    made.remove()


@pytest.fixture(scope="module")
def source(installs: Installs) -> Clinic:
    """The demo clinic, as a running install would have it."""
    clinic = installs.new("source")
    seeded = clinic.run("demo", "--patients", "3")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    return clinic


@pytest.fixture(scope="module")
def archive(source: Clinic, installs: Installs) -> Path:
    folder = installs.root / "backups"
    made = source.run("backup", "--to", str(folder))
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Backup written" in made.stdout
    (found,) = folder.glob("ketaclinic-*.tar.gz")
    return found


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stdout + result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_an_archive_holds_the_database_and_a_manifest_and_keeps_the_key_apart(
    archive: Path, source: Clinic
) -> None:
    with tarfile.open(archive) as tar:
        names = sorted(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    payload = "database.sqlite3" if source.database.engine == "sqlite" else "database.sql"
    assert names == sorted(["manifest.json", payload])
    facts = source.facts()
    # The backup's own audit entry (an export) is in the archive it describes.
    assert manifest["tables"] == facts["tables"]
    assert manifest["audit_chain_head"]["sequence"] == facts["audit_chain"][-1][0]
    assert manifest["audit_chain_head"]["hash"] == facts["audit_chain"][-1][1]
    assert len(manifest["ledger_chain_heads"]) >= 1
    assert archive.stat().st_mode & 0o077 == 0
    checksum = archive.with_name(archive.name + ".sha256").read_text().split()
    assert checksum[1] == archive.name and len(checksum[0]) == 64
    key_file = archive.with_name(archive.name.removesuffix(".tar.gz") + ".secret-key")
    key = key_file.read_text().strip()
    assert key and key_file.stat().st_mode & 0o077 == 0
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            assert key.encode() not in tar.extractfile(member).read()  # type: ignore[union-attr]
    # The head was also written down outside the database, as an anchor.
    anchors = (source.var_dir / "audit-anchors.jsonl").read_text().splitlines()
    assert json.loads(anchors[-1])["hash"] == manifest["audit_chain_head"]["hash"]


def test_backup_verify_restores_into_a_scratch_database_and_checks_both_chains(
    archive: Path, source: Clinic
) -> None:
    verified = source.run("backup", "verify", str(archive))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Backup verified" in verified.stdout and "row counts" in verified.stdout
    assert "Audit chain intact" in verified.stdout and "Ledger intact" in verified.stdout


@pytest.fixture(scope="module")
def restored(archive: Path, installs: Installs) -> tuple[Clinic, subprocess.CompletedProcess[str]]:
    """A new, empty install that the archive was restored into, answering yes."""
    target = installs.new("restored")
    return target, target.run("restore", str(archive), answer="y\n")


def test_the_demo_clinic_round_trips_with_every_count_and_both_chains_identical(
    archive: Path, source: Clinic, restored: tuple[Clinic, Any]
) -> None:
    target, result = restored
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Restore the backup of" in result.stdout  # it asked first, even for an empty one
    before, after = source.facts(), target.facts()
    assert after["tables"] == before["tables"]
    assert after["audit_chain"] == before["audit_chain"]
    assert after["ledger_chains"] == before["ledger_chains"]
    assert after["migrations"] == before["migrations"]
    for check in (("audit", "verify"), ("ledger", "verify")):
        verified = target.run(*check)
        assert verified.returncode == 0, verified.stdout + verified.stderr
    # The restore is written down beside the anchors, so later checks know of it.
    anchors = [
        json.loads(line)
        for line in (target.var_dir / "audit-anchors.jsonl").read_text().splitlines()
    ]
    assert anchors[-1]["kind"] == "restore" and archive.name in anchors[-1]["source"]


def test_restore_into_a_database_with_data_asks_and_changes_nothing_when_refused(
    archive: Path, restored: tuple[Clinic, Any]
) -> None:
    target, _ = restored
    changed = target.run("unlock", "admin")  # an audited change: the data now differs
    assert changed.returncode == 0, changed.stdout + changed.stderr
    before = target.facts()
    for answer in ("n\n", ""):  # no, and no answer at all (end of input)
        refused = target.run("restore", str(archive), answer=answer)
        assert refused.returncode == 1
        assert "already holds data" in refused.stdout and "REPLACES ALL OF IT" in refused.stdout
        assert "nothing was changed" in _one_line(refused)
        assert target.facts() == before
    replaced = target.run("restore", str(archive), answer="yes\n")
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert target.facts()["tables"] == manifest["tables"]
    assert target.facts()["audit_chain"][-1][1] == manifest["audit_chain_head"]["hash"]


def test_a_damaged_archive_is_refused_with_one_clear_line(
    archive: Path, installs: Installs, tmp_path: Path
) -> None:
    target = installs.new("damaged")
    data = archive.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    for damage, content in (
        ("flipped", bytes(flipped)),
        ("truncated", data[: len(data) // 3]),
        ("text", b"just some text\n" * 100),
    ):
        # No .sha256 beside it: the archive's own checks catch it.
        broken = tmp_path / damage / archive.name
        broken.parent.mkdir()
        broken.write_bytes(content)
        result = target.run("restore", "--yes", str(broken))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "is damaged or not a ketaclinic backup" in _one_line(result)
    # `backup verify` refuses it the same way; beside its checksum the whole file is checked
    # first.
    broken = tmp_path / "flipped" / archive.name
    (tmp_path / "flipped" / (archive.name + ".sha256")).write_text(
        archive.with_name(archive.name + ".sha256").read_text()
    )
    result = target.run("backup", "verify", str(broken))
    assert result.returncode == 1
    assert "its checksum does not match" in _one_line(result)
    if target.database.engine == "sqlite":
        assert not Path(target.database.name).exists()  # nothing was written


def test_old_archives_are_pruned_by_the_retention_rule(source: Clinic, tmp_path: Path) -> None:
    folder = tmp_path / "nightly"
    folder.mkdir()
    old = folder / "ketaclinic-20200101T020000Z.tar.gz"
    for suffix in ("", ".sha256"):
        Path(str(old) + suffix).write_text("an old archive")
    old.with_name("ketaclinic-20200101T020000Z.secret-key").write_text("old key")
    kept = folder / "notes.txt"
    kept.write_text("not an archive")
    made = source.run("backup", "--to", str(folder), "--keep-days", "35")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "deleted     ketaclinic-20200101T020000Z.tar.gz" in made.stdout
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("ketaclinic-2020")) == []
    assert kept.exists() and len(list(folder.glob("ketaclinic-*.tar.gz"))) == 1
