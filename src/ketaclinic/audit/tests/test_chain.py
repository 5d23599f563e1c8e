import threading
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import connection, connections

from ketaclinic.audit import triggers
from ketaclinic.audit.models import AuditAction, AuditEntry
from ketaclinic.audit.services import audit_record, audit_verify_chain


@pytest.fixture
def database_administrator() -> Iterator[None]:
    """Someone with administrator rights on the database: the append-only triggers dropped
    for the test (and put back), so that stored entries can be changed under the app."""
    triggers.remove(connection)
    yield
    triggers.install(connection)


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


def _verify_exit(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        call_command("audit", "verify")
    except SystemExit as exit_:
        return int(exit_.code or 0), capsys.readouterr().err
    return 0, capsys.readouterr().out


@pytest.mark.django_db
def test_intact_chain_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    _entries(5)
    status, output = _verify_exit(capsys)
    assert status == 0
    assert "5 entries verified" in output


@pytest.mark.django_db
def test_altered_entry_is_named(
    capsys: pytest.CaptureFixture[str], database_administrator: None
) -> None:
    _entries(5)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET object_id = '999' WHERE sequence = 3")
    status, output = _verify_exit(capsys)
    assert status == 1
    assert "#3" in output and "altered" in output


@pytest.mark.django_db
def test_altered_detail_is_named(
    capsys: pytest.CaptureFixture[str], database_administrator: None
) -> None:
    _entries(4)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditentry SET detail = %s WHERE sequence = 2", ['{"page": "other"}']
        )
    status, output = _verify_exit(capsys)
    assert status == 1 and "#2" in output


@pytest.mark.django_db
def test_deleted_entry_is_named(
    capsys: pytest.CaptureFixture[str], database_administrator: None
) -> None:
    _entries(5)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE sequence = 2")
    status, output = _verify_exit(capsys)
    assert status == 1
    assert "#2 is missing" in output


@pytest.mark.django_db
def test_deleted_last_entry_is_named(
    capsys: pytest.CaptureFixture[str], database_administrator: None
) -> None:
    _entries(5)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE sequence = 5")
    status, output = _verify_exit(capsys)
    assert status == 1
    assert "#5 is missing" in output


@pytest.mark.django_db
def test_reordered_entries_are_named(
    capsys: pytest.CaptureFixture[str], database_administrator: None
) -> None:
    _entries(5)
    with connection.cursor() as cursor:
        # Swap entries 2 and 4 by renumbering them.
        cursor.execute("UPDATE audit_auditentry SET sequence = -2 WHERE sequence = 2")
        cursor.execute("UPDATE audit_auditentry SET sequence = 2 WHERE sequence = 4")
        cursor.execute("UPDATE audit_auditentry SET sequence = 4 WHERE sequence = -2")
    report = audit_verify_chain()
    assert not report.ok
    assert report.first_bad_sequence == 2


@pytest.mark.django_db
def test_entries_refuse_update_and_delete_through_the_orm() -> None:
    _entries(2)
    entry = AuditEntry.objects.first()
    entry.object_id = "changed"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(sequence=1).update(object_id="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    assert audit_verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_keep_one_unbroken_chain() -> None:
    """Several request threads writing at once must neither fail nor fork the chain."""
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(10):
                audit_record(
                    actor=None,
                    action=AuditAction.VIEW,
                    patient_id=worker,
                    object_type="patient",
                    object_id=i,
                )
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = audit_verify_chain()
    assert report.ok, report.problem
    assert report.entries_checked == 40
