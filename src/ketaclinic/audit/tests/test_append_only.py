"""The audit log is insert-only in the database itself, and a chain rewritten as a whole by
someone who dropped the triggers is still caught against the anchors kept outside it
(docs/audit.md: what each layer catches)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from ketaclinic.audit import triggers
from ketaclinic.audit.anchors import (
    Anchor,
    AnchorFileError,
    anchor_current,
    anchor_save,
    anchors_effective,
    anchors_read,
    audit_check_anchors,
)
from ketaclinic.audit.models import AuditAction, AuditChainHead, AuditEntry
from ketaclinic.audit.services import _hash_entry, audit_record, audit_verify_chain

TABLE = AuditEntry._meta.db_table


def _entries(count: int) -> None:
    for i in range(count):
        audit_record(
            actor=None,
            action=AuditAction.VIEW,
            patient_id=i + 1,
            object_type="patient",
            object_id=i + 1,
            detail={"page": "overview"},
        )


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        call_command("audit", "verify", *args)
    except SystemExit as exit_:
        captured = capsys.readouterr()
        return int(exit_.code or 0), captured.err + captured.out
    captured = capsys.readouterr()
    return 0, captured.out + captured.err


@pytest.fixture
def without_triggers() -> Iterator[None]:
    """A database administrator drops the triggers (they are put back after the test)."""
    triggers.remove(connection)
    yield
    triggers.install(connection)


def _rewrite_from(sequence: int, **changes: Any) -> None:
    """What someone with database rights could do: change an entry, then recompute every
    hash from there on and the chain head, so that the chain alone looks intact."""
    previous = (
        AuditEntry.objects.get(sequence=sequence - 1).entry_hash if sequence > 1 else "0" * 64
    )
    with connection.cursor() as cursor:
        for entry in AuditEntry.objects.filter(sequence__gte=sequence).order_by("sequence"):
            if entry.sequence == sequence:
                for name, value in changes.items():
                    setattr(entry, name, value)
            entry.previous_hash = previous
            entry.entry_hash = _hash_entry(entry)
            cursor.execute(
                f"UPDATE {TABLE} SET object_id = %s, previous_hash = %s, entry_hash = %s "
                "WHERE sequence = %s",
                [entry.object_id, entry.previous_hash, entry.entry_hash, entry.sequence],
            )
            previous = entry.entry_hash
    AuditChainHead.objects.filter(pk=1).update(last_hash=previous)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {TABLE} SET object_id = '999' WHERE sequence = 2",
        f"UPDATE {TABLE} SET entry_hash = previous_hash",
        f"DELETE FROM {TABLE} WHERE sequence = 3",
        f"DELETE FROM {TABLE}",
    ],
)
def test_the_database_refuses_to_change_or_remove_an_entry(statement: str) -> None:
    _entries(3)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert AuditEntry.objects.count() == 3
    assert AuditEntry.objects.get(sequence=2).object_id == "2"
    assert audit_verify_chain().ok


@pytest.mark.django_db
def test_postgresql_refuses_to_truncate_the_log() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite's DELETE is refused above")
    _entries(2)
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"TRUNCATE {TABLE}")
    assert AuditEntry.objects.count() == 2


@pytest.mark.django_db
def test_new_entries_are_still_added(capsys: pytest.CaptureFixture[str]) -> None:
    _entries(4)
    status, output = _verify(capsys)
    assert status == 0, output
    assert "4 entries verified" in output and "Append-only triggers: in place" in output


@pytest.mark.django_db
def test_verify_reports_dropped_triggers(
    capsys: pytest.CaptureFixture[str], without_triggers: None
) -> None:
    _entries(2)
    status, output = _verify(capsys)
    assert status == 1
    assert "NOT append-only" in output and "missing" in output


@pytest.mark.django_db
def test_a_whole_chain_rewritten_after_an_anchor_is_caught(
    capsys: pytest.CaptureFixture[str], settings: Any, without_triggers: None
) -> None:
    _entries(6)
    anchor_save(anchor_current(source="test cron"))  # the head at #6, outside the database
    _entries(2)
    _rewrite_from(3, object_id="42")
    # The chain on its own looks intact: every hash was recomputed, and the head with it.
    assert audit_verify_chain().ok
    assert AuditEntry.objects.get(sequence=3).object_id == "42"
    triggers.install(connection)  # even with the triggers put back afterwards
    status, output = _verify(capsys)
    assert status == 1, output
    assert "REWRITTEN" in output and "entry #6 does not match the anchor" in output
    assert "test cron" in output


@pytest.mark.django_db
def test_removing_the_newest_entries_and_the_head_is_caught(
    capsys: pytest.CaptureFixture[str], without_triggers: None
) -> None:
    _entries(5)
    anchor_save(anchor_current(source="test cron"))
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE sequence > 3")
    last = AuditEntry.objects.get(sequence=3).entry_hash
    AuditChainHead.objects.filter(pk=1).update(last_sequence=3, last_hash=last)
    assert audit_verify_chain().ok
    triggers.install(connection)
    status, output = _verify(capsys)
    assert status == 1
    assert "records entry #5, but the chain ends at #3" in output


@pytest.mark.django_db
def test_a_backup_manifest_is_an_anchor_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, settings: Any, without_triggers: None
) -> None:
    settings.KETACLINIC_AUDIT_ANCHOR_FILE = ""  # no anchor file: only the printed manifest
    _entries(4)
    sequence, last_hash = AuditChainHead.objects.values_list("last_sequence", "last_hash").get()
    manifest = tmp_path / "ketaclinic-20261203T020000Z.manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "created_at": "2026-12-03T02:00:00+00:00",
                "audit_chain_head": {"sequence": sequence, "hash": last_hash},
            }
        )
    )
    triggers.install(connection)
    assert _verify(capsys, "--anchor", str(manifest))[0] == 0
    triggers.remove(connection)
    _rewrite_from(1, object_id="7")
    triggers.install(connection)
    status, output = _verify(capsys, "--anchor", str(manifest))
    assert status == 1 and "entry #4 does not match" in output
    assert manifest.name in output


@pytest.mark.django_db
def test_the_anchor_command_appends_the_head(
    capsys: pytest.CaptureFixture[str], settings: Any
) -> None:
    _entries(3)
    call_command("audit", "anchor")
    call_command("audit", "anchor")
    printed = capsys.readouterr().out
    head = AuditChainHead.objects.get()
    assert f"#3 {head.last_hash}" in printed
    lines = Path(settings.KETACLINIC_AUDIT_ANCHOR_FILE).read_text().splitlines()
    assert len(lines) == 2
    saved = json.loads(lines[0])
    assert saved["sequence"] == 3 and saved["hash"] == head.last_hash
    assert Path(settings.KETACLINIC_AUDIT_ANCHOR_FILE).stat().st_mode & 0o077 == 0


def test_a_restore_supersedes_anchors_beyond_the_restored_head() -> None:
    hashes = {n: f"{n:064x}" for n in range(1, 20)}
    saved = [
        Anchor(5, hashes[5], "t1", "cron"),
        Anchor(12, hashes[12], "t2", "cron"),
        Anchor(8, hashes[8], "t3", "restore of a backup", kind="restore"),
        Anchor(10, "f" * 64, "t4", "cron"),
    ]
    assert [(a.sequence, a.source) for a in anchors_effective(saved)] == [
        (5, "cron"),
        (8, "restore of a backup"),
        (10, "cron"),
    ]


@pytest.mark.django_db
def test_an_empty_log_matches_its_genesis_anchor() -> None:
    anchor = anchor_current(source="fresh install")
    assert anchor.sequence == 0 and anchor.hash == "0" * 64
    assert audit_check_anchors([anchor]).ok


def test_an_unreadable_anchor_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "anchors.jsonl"
    broken.write_text('{"sequence": 3, "hash": "abc"}\n')
    with pytest.raises(AnchorFileError, match="line 1"):
        anchors_read(broken)
    with pytest.raises(AnchorFileError, match="cannot read"):
        anchors_read(tmp_path / "missing.jsonl")
