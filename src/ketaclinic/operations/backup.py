"""Backups that can be trusted: `ketaclinic backup`, `backup verify` and `restore`
(docs/backups.md).

An archive is one gzip-compressed tar file, `ketaclinic-<UTC time>.tar.gz`, holding
`manifest.json` and the database: a copy made with SQLite's online backup API (consistent
while the app goes on writing), or a plain-SQL `pg_dump` taken in the same snapshot as the
manifest's counts. The manifest records the SHA-256 of the database file, every table's row
count, the applied migrations and both chain heads (the audit log's and each location's
controlled-substance ledger), so that a restore can be checked against it. Beside the archive
go its checksum (`.sha256`, the format of `sha256sum -c`), a copy of the manifest and the
secret key in a file of its own (never in the archive, so that the archive can travel
without it). The audit chain's head is also appended to the anchor file (docs/audit.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.db import connections
from django.utils import timezone

from ketaclinic.audit.anchors import RESTORE, Anchor, anchor_save
from ketaclinic.audit.models import AuditAction, AuditChainHead
from ketaclinic.audit.services import audit_record
from ketaclinic.register.models import LedgerChainHead

FORMAT = 1
PREFIX = "ketaclinic-"
SUFFIX = ".tar.gz"
MANIFEST = "manifest.json"
PAYLOADS = {"sqlite": "database.sqlite3", "postgresql": "database.sql"}
ENGINES = {
    "django.db.backends.sqlite3": "sqlite",
    "django.db.backends.postgresql": "postgresql",
}
ARCHIVE_NAME = re.compile(r"^ketaclinic-(\d{8}T\d{6}Z)(?:-\d+)?\.tar\.gz$")
# The tables that tell a clinic's database from a new one.
CLINIC_TABLES = {
    "patients_patient": "patients",
    "accounts_user": "accounts",
    "audit_auditentry": "audit entries",
    "organization_location": "locations",
}


class BackupRefused(Exception):
    """The archive or the request is refused (damaged, wrong database, not confirmed):
    nothing was changed. Exit status 1."""


class BackupCannotRun(Exception):
    """The backup cannot run as set up (no pg_dump, a folder that cannot be written, no
    right to create a scratch database). Exit status 2."""


# --- where the data is --------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """A database to read or write directly (not through Django's connection)."""

    engine: str
    name: str
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = ""

    @classmethod
    def configured(cls, alias: str = "default") -> Database:
        config = settings.DATABASES[alias]
        engine = ENGINES.get(config["ENGINE"])
        if engine is None:
            raise BackupCannotRun(f"Backups support SQLite and PostgreSQL, not {config['ENGINE']}.")
        return cls(
            engine=engine,
            name=str(config["NAME"]),
            host=str(config.get("HOST") or ""),
            port=str(config.get("PORT") or ""),
            user=str(config.get("USER") or ""),
            password=str(config.get("PASSWORD") or ""),
        )

    def renamed(self, name: str) -> Database:
        return Database(self.engine, name, self.host, self.port, self.user, self.password)

    @property
    def label(self) -> str:
        if self.engine == "sqlite":
            return f"the SQLite database {self.name}"
        return f"the PostgreSQL database {self.name!r} on {self.host or 'localhost'}"

    @property
    def url(self) -> str:
        """A DATABASE_URL for this database (for the chain checks run as commands)."""
        if self.engine == "sqlite":
            return f"sqlite:///{self.name}"
        login = quote(self.user, safe="")
        if self.password:
            login += ":" + quote(self.password, safe="")
        host = self.host or "localhost"
        port = f":{self.port}" if self.port else ""
        return f"postgres://{login}@{host}{port}/{quote(self.name, safe='')}"

    def libpq_environment(self) -> dict[str, str]:
        """Environment for pg_dump and psql: the password never on a command line."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        for key, value in (
            ("PGHOST", self.host),
            ("PGPORT", self.port),
            ("PGUSER", self.user),
            ("PGPASSWORD", self.password),
            ("PGDATABASE", self.name),
        ):
            if value:
                env[key] = value
        return env

    @contextlib.contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[Any]:
        if self.engine == "sqlite":
            connection = sqlite3.connect(self.name, timeout=30)
            try:
                yield connection
            finally:
                connection.close()
            return
        try:
            connection = psycopg.connect(
                host=self.host or None,
                port=self.port or None,
                user=self.user or None,
                password=self.password or None,
                dbname=self.name,
                autocommit=autocommit,
                connect_timeout=10,
            )
        except psycopg.OperationalError as error:
            raise BackupCannotRun(f"Cannot reach {self.label} ({_first_line(error)}).") from error
        try:
            yield connection
        finally:
            connection.close()


def _first_line(error: BaseException | str) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _tables(cursor: Any, engine: str) -> list[str]:
    if engine == "sqlite":
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    else:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    return [row[0] for row in cursor.fetchall()]


def database_facts(cursor: Any, engine: str) -> dict[str, Any]:
    """What a backup is checked against: every table's row count, the applied migrations
    and both chain heads, read in one consistent view of the database."""
    tables = _tables(cursor, engine)
    counts = {}
    for table in tables:
        cursor.execute(f"SELECT COUNT(*) FROM {_quote(table)}")  # noqa: S608 - a table name
        counts[table] = int(cursor.fetchone()[0])
    migrations: list[str] = []
    if "django_migrations" in counts:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        migrations = [f"{app}.{name}" for app, name in cursor.fetchall()]
    audit_head = {"sequence": 0, "hash": "0" * 64}
    audit_table = AuditChainHead._meta.db_table
    if counts.get(audit_table):
        cursor.execute(
            f"SELECT last_sequence, last_hash FROM {audit_table} WHERE id = 1"  # noqa: S608
        )
        row = cursor.fetchone()
        if row:
            audit_head = {"sequence": int(row[0]), "hash": str(row[1])}
    ledger_heads = []
    ledger_table = LedgerChainHead._meta.db_table
    if counts.get(ledger_table):
        cursor.execute(
            f"SELECT location_id, last_sequence, last_hash FROM {ledger_table} "  # noqa: S608
            "ORDER BY location_id"
        )
        ledger_heads = [
            {"location_id": int(a), "sequence": int(b), "hash": str(c)}
            for a, b, c in cursor.fetchall()
        ]
    return {
        "tables": counts,
        "migrations": migrations,
        "audit_chain_head": audit_head,
        "ledger_chain_heads": ledger_heads,
    }


def clinic_data(database: Database) -> dict[str, int]:
    """How many patients, accounts, audit entries and locations the database holds (all
    zero for a new database, or one never migrated)."""
    with database.connect() as connection:
        cursor = connection.cursor()
        present = set(_tables(cursor, database.engine))
        found = {}
        for table, what in CLINIC_TABLES.items():
            if table in present:
                cursor.execute(f"SELECT COUNT(*) FROM {_quote(table)}")  # noqa: S608
                found[what] = int(cursor.fetchone()[0])
        if database.engine == "postgresql":
            connection.rollback()
    return {what: n for what, n in found.items() if n}


def secret_key_fingerprint(key: str) -> str:
    """Enough to tell whether two keys are the same, useless to recover either."""
    return hashlib.sha256(b"ketaclinic-backup-key:" + key.encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- making a backup ------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupMade:
    archive: Path
    checksum: Path
    manifest: dict[str, Any]
    secret_key: Path | None
    anchor_file: Path | None
    pruned: list[Path] = field(default_factory=list)


def _snapshot_sqlite(database: Database, work: Path) -> tuple[Path, dict[str, Any]]:
    """SQLite's online backup: a consistent copy while other processes go on writing."""
    if not Path(database.name).exists():
        raise BackupCannotRun(f"There is no database at {database.name}.")
    copy = work / PAYLOADS["sqlite"]
    source = sqlite3.connect(database.name, timeout=30)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
        # One self-contained file: no write-ahead log beside it.
        target.execute("PRAGMA journal_mode=DELETE")
        facts = database_facts(target.cursor(), "sqlite")
    except sqlite3.Error as error:
        raise BackupCannotRun(f"Cannot copy {database.label} ({error}).") from error
    finally:
        target.close()
        source.close()
    return copy, facts


def _pg_tool(name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise BackupCannotRun(
            f"{name} is not installed: PostgreSQL backups need the PostgreSQL client tools "
            "(Debian: apt-get install postgresql-client)."
        )
    return tool


def _snapshot_postgresql(database: Database, work: Path) -> tuple[Path, dict[str, Any]]:
    """pg_dump in the same snapshot as the counts, so the manifest describes the dump."""
    pg_dump = _pg_tool("pg_dump")
    dump = work / PAYLOADS["postgresql"]
    with database.connect() as connection:
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = connection.execute("SELECT pg_export_snapshot()").fetchone()[0]
        facts = database_facts(connection.cursor(), "postgresql")
        result = subprocess.run(  # noqa: S603 - a fixed program and arguments
            [
                pg_dump,
                "--format=plain",
                "--no-owner",
                "--no-privileges",
                f"--snapshot={snapshot}",
                f"--file={dump}",
            ],
            env=database.libpq_environment(),
            capture_output=True,
            text=True,
            check=False,
        )
        connection.rollback()
    if result.returncode != 0:
        raise BackupCannotRun(f"pg_dump failed: {_first_line(result.stderr or 'no output')}")
    return dump, facts


def _archive_path(folder: Path, created: datetime) -> Path:
    stamp = created.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate = folder / f"{PREFIX}{stamp}{SUFFIX}"
    number = 2
    while candidate.exists():
        candidate = folder / f"{PREFIX}{stamp}-{number}{SUFFIX}"
        number += 1
    return candidate


def sidecar(archive: Path, kind: str) -> Path:
    """The files beside an archive: its checksum, the manifest copy and the secret key."""
    if kind == "sha256":
        return archive.with_name(archive.name + ".sha256")
    stem = archive.name.removesuffix(SUFFIX)
    return archive.with_name(f"{stem}.{kind}")


def _version() -> str:
    try:
        return metadata.version("ketaclinic")
    except metadata.PackageNotFoundError:  # pragma: no cover - always installed
        return "unknown"


def backup_create(
    *,
    to: Path | None = None,
    secret_key_to: Path | None = None,
    keep_secret_key: bool = True,
    keep_days: int | None = None,
) -> BackupMade:
    """Write a timestamped, checksummed archive of the whole database into `to`
    (KETACLINIC_BACKUP_DIR by default), safe while the app is running.

    The export is itself audited (who: the system; object `backup`), before the snapshot,
    so the archive holds the entry that records it. With `keep_days`, archives in the same
    folder made more than that many days before this one are deleted afterwards."""
    database = Database.configured()
    folder = Path(to or settings.KETACLINIC_BACKUP_DIR).resolve()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".ketaclinic-backup-", dir=folder))
    except OSError as error:
        raise BackupCannotRun(
            f"Cannot write backups to {folder} ({error.strerror or error})."
        ) from error
    created = timezone.now()
    archive = _archive_path(folder, created)
    audit_record(
        actor=None,
        action=AuditAction.EXPORT,
        object_type="backup",
        object_id=archive.name,
        detail={"folder": str(folder), "engine": database.engine},
    )
    connections.close_all()
    try:
        snapshot = _snapshot_sqlite if database.engine == "sqlite" else _snapshot_postgresql
        payload, facts = snapshot(database, work)
        key_file = sidecar(archive, "secret-key") if keep_secret_key else None
        if key_file is not None and secret_key_to is not None:
            key_file = Path(secret_key_to).resolve() / key_file.name
        manifest = {
            "format": FORMAT,
            "ketaclinic": _version(),
            "created_at": created.astimezone(UTC).isoformat(timespec="seconds"),
            "engine": database.engine,
            "database": Path(database.name).name,
            "payload": {
                "file": payload.name,
                "sha256": _sha256(payload),
                "bytes": payload.stat().st_size,
            },
            **facts,
            "secret_key": {
                "fingerprint": secret_key_fingerprint(settings.SECRET_KEY),
                "file": key_file.name if key_file else None,
            },
        }
        manifest_file = work / MANIFEST
        manifest_file.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        partial = work / archive.name
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            tar.add(manifest_file, arcname=MANIFEST)
            tar.add(payload, arcname=payload.name)
        partial.chmod(0o600)  # every patient's record is in it
        _fsync(partial)
        os.replace(partial, archive)
        checksum = sidecar(archive, "sha256")
        checksum.write_text(f"{_sha256(archive)}  {archive.name}\n")
        sidecar(archive, "manifest.json").write_text(manifest_file.read_text())
        if key_file is not None:
            key_file.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as stream:
                stream.write(settings.SECRET_KEY + "\n")
    except OSError as error:
        raise BackupCannotRun(
            f"Cannot write the backup in {folder} ({error.strerror or error})."
        ) from error
    finally:
        shutil.rmtree(work, ignore_errors=True)
    head = manifest["audit_chain_head"]
    anchor_file = anchor_save(
        Anchor(
            sequence=head["sequence"],
            hash=head["hash"],
            at=manifest["created_at"],
            source=f"backup {archive.name}",
        )
    )
    pruned = []
    if keep_days:
        cutoff = created - timedelta(days=keep_days)
        pruned = backups_prune(folder, older_than=cutoff, keep=archive)
    return BackupMade(archive, checksum, manifest, key_file, anchor_file, pruned)


def backups_prune(folder: Path, *, older_than: datetime, keep: Path) -> list[Path]:
    """Delete the archives in `folder` made before `older_than` (by the time in their name),
    with their checksum, manifest and secret-key files; never `keep`."""
    removed = []
    for archive in sorted(folder.glob(f"{PREFIX}*{SUFFIX}")):
        match = ARCHIVE_NAME.match(archive.name)
        if not match or archive == keep:
            continue
        made = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if made >= older_than:
            continue
        for path in (
            archive,
            sidecar(archive, "sha256"),
            sidecar(archive, "manifest.json"),
            sidecar(archive, "secret-key"),
        ):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        removed.append(archive)
    return removed


# --- reading an archive ---------------------------------------------------------------------


@dataclass(frozen=True)
class OpenedArchive:
    archive: Path
    manifest: dict[str, Any]
    payload: Path  # extracted into a temporary folder, checked against the manifest
    checked_sidecar: bool

    @property
    def engine(self) -> str:
        return str(self.manifest["engine"])

    def describe(self) -> str:
        tables = self.manifest.get("tables", {})
        head = self.manifest["audit_chain_head"]
        return (
            f"the backup of {self.manifest['created_at']} ({self.engine}, "
            f"{tables.get('patients_patient', 0)} patients, {head['sequence']} audit entries)"
        )


def _damaged(archive: Path, why: str) -> BackupRefused:
    return BackupRefused(f"{archive.name} is damaged or not a ketaclinic backup: {why}.")


@contextlib.contextmanager
def archive_open(archive: Path) -> Iterator[OpenedArchive]:
    """Open and check an archive: its `.sha256` beside it (when there), the gzip and tar
    structure, the manifest, and the database inside against the manifest's checksum.
    Refused with one clear line when anything does not match."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupRefused(f"No backup archive at {archive}.")
    checksum_file = sidecar(archive, "sha256")
    checked = False
    if checksum_file.is_file():
        expected = checksum_file.read_text().split()[:1]
        if not expected or expected[0] != _sha256(archive):
            raise _damaged(archive, f"its checksum does not match {checksum_file.name}")
        checked = True
    work = Path(tempfile.mkdtemp(prefix="ketaclinic-restore-"))
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = {member.name: member for member in tar.getmembers()}
                if MANIFEST not in members:
                    raise _damaged(archive, "it has no manifest.json")
                manifest_stream = tar.extractfile(members[MANIFEST])
                if manifest_stream is None:
                    raise _damaged(archive, "its manifest is not a file")
                try:
                    manifest = json.loads(manifest_stream.read())
                except (json.JSONDecodeError, UnicodeDecodeError) as error:
                    raise _damaged(archive, "its manifest is not valid JSON") from error
                if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                    raise _damaged(archive, f"its manifest is not format {FORMAT}")
                engine = manifest.get("engine")
                payload_name = PAYLOADS.get(str(engine))
                expected_payload = manifest.get("payload", {})
                if payload_name is None or expected_payload.get("file") != payload_name:
                    raise _damaged(archive, "its manifest names no database file")
                unexpected = set(members) - {MANIFEST, payload_name}
                if unexpected or payload_name not in members:
                    raise _damaged(archive, "it does not hold exactly a manifest and a database")
                source = tar.extractfile(members[payload_name])
                if source is None:
                    raise _damaged(archive, "its database is not a file")
                payload = work / payload_name
                digest = hashlib.sha256()
                with payload.open("wb") as target:
                    for block in iter(lambda: source.read(1 << 20), b""):
                        digest.update(block)
                        target.write(block)
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise _damaged(archive, _first_line(error) or "it cannot be read") from error
        if digest.hexdigest() != expected_payload.get("sha256"):
            raise _damaged(
                archive, "the database inside does not match the checksum in its manifest"
            )
        yield OpenedArchive(archive, manifest, payload, checked)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- putting a backup into a database -------------------------------------------------------


def _load_sqlite(payload: Path, database: Database) -> None:
    source = sqlite3.connect(payload)
    try:
        problem = source.execute("PRAGMA integrity_check").fetchone()[0]
        if problem != "ok":
            raise BackupRefused(f"The database in the archive is damaged ({problem}).")
        Path(database.name).parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(database.name, timeout=30)
        try:
            # The backup API replaces the whole target in one step, under its write lock.
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
    except sqlite3.Error as error:
        raise BackupCannotRun(f"Cannot write {database.label} ({error}).") from error
    finally:
        source.close()


def _load_postgresql(payload: Path, database: Database) -> None:
    """The dump replaces the public schema in one transaction: all of it, or nothing."""
    psql = _pg_tool("psql")
    script = payload.with_name("restore.sql")
    with script.open("w") as out, payload.open() as dump:
        out.write(
            "SET client_min_messages = warning;\n"
            "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"
        )
        shutil.copyfileobj(dump, out)
    result = subprocess.run(  # noqa: S603 - a fixed program and arguments
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", str(script)],
        env=database.libpq_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupRefused(
            f"The restore failed and was rolled back, nothing was changed "
            f"(psql: {_first_line(result.stderr or 'no output')})."
        )


def _load(opened: OpenedArchive, database: Database) -> None:
    connections.close_all()
    if database.engine == "sqlite":
        _load_sqlite(opened.payload, database)
    else:
        _load_postgresql(opened.payload, database)


def _compare(opened: OpenedArchive, database: Database) -> list[str]:
    """Where the database differs from the archive's manifest (nothing when it matches)."""
    with database.connect() as connection:
        facts = database_facts(connection.cursor(), database.engine)
        if database.engine == "postgresql":
            connection.rollback()
    problems = []
    expected = opened.manifest["tables"]
    for table in sorted(set(expected) | set(facts["tables"])):
        want, got = expected.get(table), facts["tables"].get(table)
        if want != got:
            problems.append(f"table {table} has {got} rows, the manifest says {want}")
    for key in ("audit_chain_head", "ledger_chain_heads", "migrations"):
        if facts[key] != opened.manifest[key]:
            problems.append(f"the {key.replace('_', ' ')} differ from the manifest")
    return problems


@dataclass(frozen=True)
class Restored:
    archive: Path
    manifest: dict[str, Any]
    replaced: dict[str, int]
    secret_key_matches: bool
    secret_key_installed: Path | None


def backup_restore(
    archive: Path, *, confirm: Callable[[str], bool], secret_key_file: Path | None = None
) -> Restored:
    """Restore an archive into the configured database after `confirm(question)` says yes.

    The archive is checked completely first. A database that already holds data is named
    with what it holds and replaced only when confirmed; when refused, nothing is changed.
    Afterwards the restored database is compared with the manifest (every table's row
    count, both chain heads) and the restore is written to the anchor file, so that anchors
    saved after the backup are not taken for a rewritten log."""
    database = Database.configured()
    with archive_open(archive) as opened:
        if opened.engine != database.engine:
            raise BackupRefused(
                f"{archive.name} is a backup of a {opened.engine} database, but DATABASE_URL "
                f"points to {database.label}; nothing was changed."
            )
        held = clinic_data(database)
        if held:
            what = ", ".join(f"{n} {name}" for name, n in held.items())
            question = (
                f"{database.label[0].upper()}{database.label[1:]} already holds data ({what}). "
                "Restoring REPLACES ALL OF IT "
                f"with {opened.describe()}. Replace it? [y/N] "
            )
        else:
            question = f"Restore {opened.describe()} into {database.label}? [y/N] "
        if not confirm(question):
            raise BackupRefused("Not confirmed: nothing was changed.")
        _load(opened, database)
        problems = _compare(opened, database)
        if problems:
            raise BackupRefused(
                f"The restored database does not match its manifest: {problems[0]}."
            )
        head = opened.manifest["audit_chain_head"]
        anchor_save(
            Anchor(
                sequence=head["sequence"],
                hash=head["hash"],
                at=timezone.now().astimezone(UTC).isoformat(timespec="seconds"),
                source=f"restore of {archive.name}",
                kind=RESTORE,
            )
        )
        installed = _secret_key_install(secret_key_file) if secret_key_file else None
        current = secret_key_fingerprint(_current_secret_key(installed))
        return Restored(
            archive=archive,
            manifest=opened.manifest,
            replaced=held,
            secret_key_matches=current == opened.manifest["secret_key"]["fingerprint"],
            secret_key_installed=installed,
        )


def _current_secret_key(installed: Path | None) -> str:
    if installed is not None:
        return installed.read_text().strip()
    return str(settings.SECRET_KEY)


def _secret_key_install(key_file: Path) -> Path | None:
    """Put the saved key where a local install reads it (var/secret_key). In production the
    key comes from SECRET_KEY in the environment, which only the operator can set."""
    try:
        key = Path(key_file).read_text().strip()
    except OSError as error:
        raise BackupRefused(
            f"Cannot read the secret key file {key_file} ({error.strerror or error})."
        ) from error
    if not key:
        raise BackupRefused(f"The secret key file {key_file} is empty.")
    if os.environ.get("SECRET_KEY"):
        return None
    target = settings.VAR_DIR / "secret_key"
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as stream:
        stream.write(key + "\n")
    return target


# --- verifying an archive -------------------------------------------------------------------


@dataclass(frozen=True)
class Verified:
    archive: Path
    manifest: dict[str, Any]
    checked_sidecar: bool
    chain_reports: list[str]


@contextlib.contextmanager
def _scratch(database: Database, work: Path) -> Iterator[Database]:
    """An empty database of the same kind, deleted afterwards."""
    if database.engine == "sqlite":
        yield Database("sqlite", str(work / "scratch.sqlite3"))
        return
    name = f"{database.name[:40]}_verify_{secrets.token_hex(4)}"
    with database.connect(autocommit=True) as connection:
        try:
            connection.execute(f"CREATE DATABASE {_quote(name)}")
        except psycopg.Error as error:  # no right to create databases, ...
            raise BackupCannotRun(
                f"Cannot create a scratch database to verify into ({_first_line(error)}); "
                "the database user needs the CREATEDB right."
            ) from error
    try:
        yield database.renamed(name)
    finally:
        with database.connect(autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")


def _chain_checks(scratch: Database, manifest_file: Path) -> list[str]:
    """`ketaclinic audit verify` (against the manifest's head as an anchor) and `ketaclinic
    ledger verify`, run as the commands themselves on the scratch database."""
    env = {
        **os.environ,
        "DATABASE_URL": scratch.url,
        "KETACLINIC_AUDIT_ANCHOR_FILE": "",
        "DJANGO_SETTINGS_MODULE": "ketaclinic.settings",
    }
    reports = []
    for args in (["audit", "verify", "--anchor", str(manifest_file)], ["ledger", "verify"]):
        result = subprocess.run(  # noqa: S603 - this same program
            [sys.executable, "-m", "ketaclinic.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        said = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            raise BackupRefused(
                f"`ketaclinic {' '.join(args[:2])}` fails on the restored copy: "
                f"{_first_line(result.stderr or result.stdout)}"
            )
        reports.append(_first_line(said))
    return reports


def backup_verify(archive: Path) -> Verified:
    """Restore the archive into a scratch database of the same kind and check it: every
    table's row count and both chain heads as in the manifest, and both chains verified by
    their own commands. The scratch database is deleted afterwards."""
    database = Database.configured()
    with archive_open(archive) as opened:
        if opened.engine != database.engine:
            raise BackupRefused(
                f"{archive.name} is a backup of a {opened.engine} database; verify it where "
                f"DATABASE_URL points to {opened.engine}."
            )
        work = opened.payload.parent
        manifest_file = work / MANIFEST
        manifest_file.write_text(json.dumps(opened.manifest))
        with _scratch(database, work) as scratch:
            if scratch.engine == "sqlite":
                _load_sqlite(opened.payload, scratch)
            else:
                _load_postgresql(opened.payload, scratch)
            problems = _compare(opened, scratch)
            if problems:
                raise BackupRefused(
                    f"The restored copy does not match its manifest: {problems[0]}."
                )
            reports = _chain_checks(scratch, manifest_file)
        return Verified(archive, opened.manifest, opened.checked_sidecar, reports)
