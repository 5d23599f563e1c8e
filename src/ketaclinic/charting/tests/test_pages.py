"""Who may open the session pages, and what they are shown."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.tests.conftest import vitals


@pytest.mark.django_db
def test_patients_and_admins_reach_no_session_page(clinic: dict[str, Any], iv_session: Any) -> None:
    own = f"/patients/{iv_session.patient_id}/sessions/{iv_session.pk}/"
    for user in ("patient_user", "admin"):
        client = Client()
        client.force_login(clinic[user])
        for url in ("/board/", "/board/rows/", "/rems/", own, own + "live/", own + "rems/"):
            assert client.get(url).status_code in (403, 404), (user, url)
        assert client.post(own + "vitals/", {"systolic": 120, "diastolic": 80}).status_code in (
            403,
            404,
        )
    assert iv_session.vital_signs.count() == 0


@pytest.mark.django_db
def test_the_board_shows_only_the_users_locations_and_is_audited(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    vitals(clinic["nurse"], iv_session, 5, (150, 95))
    boise = Client()
    boise.force_login(clinic["nurse_boise"])
    page = boise.get(f"/board/?location={clinic['slc'].pk}").content.decode()
    assert "Boise" in page and "Lovelace" not in page
    slc = Client()
    slc.force_login(clinic["nurse"])
    page = slc.get("/board/").content.decode()
    assert "Lovelace" in page and "Checked in" in page
    entry = AuditEntry.objects.filter(
        actor_id=clinic["nurse"].pk, object_type="treatment_session", action="view"
    ).last()
    assert entry.patient_id == iv_session.patient_id and entry.detail["page"] == "chair_board"


@pytest.mark.django_db
def test_session_pages_render_and_are_audited(clinic: dict[str, Any], iv_session: Any) -> None:
    client = Client()
    client.force_login(clinic["prescriber"])
    base = f"/patients/{iv_session.patient_id}/sessions/"
    assert client.get(base).status_code == 200
    chart = client.get(f"{base}{iv_session.pk}/").content.decode()
    assert "Pre-checks" in chart and "Take the pre-dose vital signs" in chart
    assert "dose (prescriber)" in chart
    instructions = client.get(f"{base}{iv_session.pk}/discharge-instructions/").content.decode()
    assert "988" in instructions and "Do not drive" in instructions
    pages = list(
        AuditEntry.objects.filter(patient_id=iv_session.patient_id, action="view").values_list(
            "detail", flat=True
        )
    )
    assert {"page": "session", "session_id": iv_session.pk} in pages
    assert {"page": "discharge_instructions", "session_id": iv_session.pk} in pages


@pytest.mark.django_db
def test_self_refreshing_views_are_audited_once_per_interval(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    import time_machine
    from django.utils import timezone

    from ketaclinic.charting.views import POLLED_AUDIT_INTERVAL

    client = Client()
    client.force_login(clinic["nurse"])
    live = f"/patients/{iv_session.patient_id}/sessions/{iv_session.pk}/live/"

    def entries(page: str) -> int:
        return AuditEntry.objects.filter(
            actor_id=clinic["nurse"].pk, patient_id=iv_session.patient_id, detail__page=page
        ).count()

    for _ in range(3):
        assert client.get(live).status_code == 200
        assert client.get("/board/rows/").status_code == 200
    assert entries("session_live") == 1 and entries("chair_board") == 1
    later = timezone.now() + POLLED_AUDIT_INTERVAL + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        client.force_login(clinic["nurse"])
        client.get(live)
        client.get("/board/rows/")
    assert entries("session_live") == 2 and entries("chair_board") == 2
    # The chart page itself is recorded every time it is opened.
    chart = live.removesuffix("live/")
    client.get(chart)
    client.get(chart)
    assert entries("session") == 2


@pytest.mark.django_db
def test_the_boards_audit_lookup_reads_recent_entries_by_index(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    """The board looks up the views it already recorded in the interval through the index
    of a person's entries by time, not by walking the whole audit log (at a million
    entries SQLite walked it in sequence order: 120 ms each refresh)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(clinic["nurse"])
    client.get("/board/rows/")
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/board/rows/").status_code == 200
    lookups = [
        q["sql"]
        for q in captured.captured_queries
        if 'FROM "audit_auditentry"' in q["sql"] and "chair_board" in q["sql"]
    ]
    assert len(lookups) == 1, lookups
    assert "ORDER BY" not in lookups[0]
    if connection.vendor == "sqlite":  # a small table: PostgreSQL rightly scans it
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + lookups[0])
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "audit_actor_time" in plan, plan


@pytest.mark.django_db
def test_a_session_left_open_stays_on_the_board_the_next_day(
    clinic: dict[str, Any], iv_session: Any
) -> None:
    """A patient is never dropped off the board: a session still in the chair from an
    earlier day is listed (through the table the database keeps of the sessions in the
    chair), and leaves the list once it ends."""
    import time_machine
    from django.utils import timezone

    from ketaclinic.charting import services
    from ketaclinic.charting.models import SessionInChair

    assert SessionInChair.objects.filter(session_id=iv_session.pk).exists()
    marker = f'data-session="{iv_session.pk}"'
    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        client = Client()
        client.force_login(clinic["nurse"])
        assert marker in client.get("/board/rows/").content.decode()
        services.session_stop_early(
            actor=clinic["nurse"], session=iv_session, reason="the patient chose to leave"
        )
        assert not SessionInChair.objects.filter(session_id=iv_session.pk).exists()
        assert marker not in client.get("/board/rows/").content.decode()
