"""Therapy pages through Django's test client: who may open what (403 for the wrong role,
404 for a patient one may not see), bad input (400, clear message, nothing saved), every
read audited, and the portal showing therapy visits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from ketaclinic.audit.models import AuditAction, AuditEntry
from ketaclinic.patients.models import CareTeamAssignment
from ketaclinic.scheduling.models import Appointment
from ketaclinic.therapy import services
from ketaclinic.therapy.models import PsychotherapyNote, TherapyNote, TherapyNoteAddendum
from ketaclinic.therapy.tests.conftest import WEDNESDAY, integration_type, local
from ketaclinic.therapy.tests.victims import victim_records

pytestmark = [pytest.mark.django_db, pytest.mark.now(WEDNESDAY)]

ANSWERS = {"experience": "Calm", "themes": "Grief", "goals": "Walk daily", "plan": "Next week"}


def _urls(patient_id: int, note_id: int, private_id: int) -> list[str]:
    base = f"/patients/{patient_id}/therapy/"
    return [
        base,
        base + "book/",
        base + "notes/new/",
        base + f"notes/{note_id}/",
        base + f"notes/{note_id}/sign/",
        base + f"notes/{note_id}/addendum/",
        base + "psychotherapy-notes/",
        base + f"psychotherapy-notes/{private_id}/",
    ]


@pytest.mark.parametrize(
    "intruder", ["coordinator", "nurse", "prescriber", "therapist", "patient_user"]
)
def test_nobody_outside_the_care_team_opens_or_writes_another_locations_patient(
    client: Client, clinic: dict[str, Any], intruder: str
) -> None:
    victim = clinic["patient_boise"]
    ids = victim_records(victim, clinic["director"], clinic)
    urls = _urls(victim.pk, ids["therapy_note_id"], ids["psychotherapy_note_id"])
    client.force_login(clinic[intruder])
    before = AuditEntry.objects.filter(patient_id=victim.pk).count()
    counts = (TherapyNote.objects.count(), TherapyNoteAddendum.objects.count())
    for url in urls:
        for response in (client.get(url), client.post(url, {"body": "x", "password": "x"})):
            assert response.status_code in (403, 404), (intruder, url, response.status_code)
            assert victim.legal_last_name.encode() not in response.content
    assert AuditEntry.objects.filter(patient_id=victim.pk).count() == before
    assert (TherapyNote.objects.count(), TherapyNoteAddendum.objects.count()) == counts
    assert PsychotherapyNote.objects.count() == 1


def test_the_therapist_gets_404_for_a_patient_not_assigned_to_them(
    client: Client, clinic: dict[str, Any], make_patient: Any
) -> None:
    other = make_patient(clinic["slc"], "Mary", "Somerville")
    client.force_login(clinic["therapist"])
    assert client.get(f"/patients/{other.pk}/therapy/").status_code == 404
    assert client.get(f"/patients/{clinic['patient_slc'].pk}/therapy/").status_code == 200
    # Once the assignment ends, the patient is out of sight again.
    assignment = CareTeamAssignment.objects.get(patient=clinic["patient_slc"])
    assignment.ended_at = timezone.now()
    assignment.save()
    assert client.get(f"/patients/{clinic['patient_slc'].pk}/therapy/").status_code == 404


def test_roles(client: Client, therapy: dict[str, Any]) -> None:
    patient = therapy["patient_slc"]
    note = services.therapy_note_create(
        actor=therapy["therapist"],
        patient=patient,
        kind="integration",
        session_date=timezone.localdate(),
        answers=ANSWERS,
        risk_check="none",
    )
    services.therapy_note_sign(
        actor=therapy["therapist"], note=note, password="correct-horse-battery"
    )
    tab = f"/patients/{patient.pk}/therapy/"
    note_url = f"{tab}notes/{note.pk}/"
    for role, expected in [
        ("therapist", 200),
        ("prescriber", 200),
        ("director", 200),
        ("nurse", 403),
        ("coordinator", 403),
        ("admin", 403),
    ]:
        client.force_login(therapy[role])
        assert client.get(tab).status_code == expected, role
        assert client.get(note_url).status_code == expected, role
    # Reading notes is not writing them.
    client.force_login(therapy["prescriber"])
    assert client.get(f"{tab}notes/new/").status_code == 403
    assert client.post(f"{note_url}addendum/", {"body": "x"}).status_code == 403
    assert client.get(f"{tab}psychotherapy-notes/").status_code == 403
    client.force_login(therapy["director"])
    assert client.get(f"{tab}psychotherapy-notes/").status_code == 403
    client.force_login(therapy["therapist"])
    page = client.get(note_url)
    assert b"Add an addendum" in page.content and b"Sign note" not in page.content
    # The read was audited, naming the note.
    assert AuditEntry.objects.filter(
        actor_id=therapy["therapist"].pk,
        action=AuditAction.VIEW,
        patient_id=patient.pk,
        detail__therapy_note_id=note.pk,
    ).exists()


def test_bad_booking_input_is_400_with_a_clear_message_and_nothing_saved(
    client: Client, therapy: dict[str, Any]
) -> None:
    patient, slc = therapy["patient_slc"], therapy["slc"]
    client.force_login(therapy["therapist"])
    url = f"/patients/{patient.pk}/therapy/book/"
    page = client.get(url, {"after": therapy["session"].pk})
    assert page.status_code == 200 and b'id="window"' in page.content
    today = timezone.localdate(timezone=slc.tz)
    base = {
        "appointment_type": integration_type(slc).pk,
        "provider": therapy["therapist"].pk,
        "after_session": therapy["session"].pk,
    }
    cases = [
        ({}, b"This field is required"),
        ({"date": (today + timedelta(days=2)).isoformat(), "time": "14:00"}, b"72 hours"),
        ({"date": today.isoformat(), "time": "20:30"}, b"opening hours"),
    ]
    for extra, message in cases:
        response = client.post(url, {**base, **extra})
        assert response.status_code == 400, extra
        assert message in response.content, extra
    assert not Appointment.objects.exists()
    response = client.post(url, {**base, "date": today.isoformat(), "time": "14:00"})
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert appointment.starts_at == local(slc, today, "14:00")
    tab = client.get(f"/patients/{patient.pk}/therapy/")
    assert b'data-status="booked"' in tab.content


def test_bad_note_input_is_400_and_nothing_saved(client: Client, therapy: dict[str, Any]) -> None:
    patient = therapy["patient_slc"]
    client.force_login(therapy["therapist"])
    url = f"/patients/{patient.pk}/therapy/notes/new/"
    assert client.get(url, {"kind": "preparation"}).status_code == 200
    response = client.post(url, {"kind": "integration", "session_date": timezone.localdate()})
    assert response.status_code == 400
    assert b"This field is required" in response.content
    assert not TherapyNote.objects.exists()
    response = client.post(
        url,
        {
            "kind": "integration",
            "session_date": timezone.localdate(),
            "risk_check": "none",
            **ANSWERS,
        },
    )
    note = TherapyNote.objects.get()
    assert response.status_code == 302 and not note.is_signed
    sign = f"/patients/{patient.pk}/therapy/notes/{note.pk}/sign/"
    response = client.post(sign, {"password": "wrong"})
    assert response.status_code == 400 and b"password is not right" in response.content
    assert client.post(sign, {"password": "correct-horse-battery"}).status_code == 302
    # Signed: a POST to change it is refused and changes nothing.
    note_url = f"/patients/{patient.pk}/therapy/notes/{note.pk}/"
    response = client.post(note_url, {"risk_check": "active", **ANSWERS, "themes": "changed"})
    assert response.status_code == 400
    assert TherapyNote.objects.get().answers["themes"] == "Grief"
    assert client.post(note_url + "addendum/", {"body": ""}).status_code == 400
    assert client.post(note_url + "addendum/", {"body": "Later: better"}).status_code == 302
    assert TherapyNoteAddendum.objects.count() == 1


def test_psychotherapy_notes_are_invisible_to_another_therapist_and_the_director(
    client: Client, therapy: dict[str, Any], make_user: Any
) -> None:
    patient = therapy["patient_slc"]
    client.force_login(therapy["therapist"])
    url = f"/patients/{patient.pk}/therapy/psychotherapy-notes/"
    assert client.post(url, {"session_date": timezone.localdate(), "body": ""}).status_code == 400
    response = client.post(url, {"session_date": timezone.localdate(), "body": "Private process"})
    assert response.status_code == 302
    note = PsychotherapyNote.objects.get()
    detail = f"{url}{note.pk}/"
    assert b"Private process" in client.get(detail).content
    assert AuditEntry.objects.filter(detail__psychotherapy_note_id=note.pk).count() == 1
    # Not on the therapy tab or the chart.
    assert b"Private process" not in client.get(f"/patients/{patient.pk}/therapy/").content
    assert b"Private process" not in client.get(f"/patients/{patient.pk}/").content
    colleague = make_user("therapist", [therapy["slc"]])
    CareTeamAssignment.objects.create(
        patient=patient, clinician=colleague, assigned_by=therapy["director"]
    )
    client.force_login(colleague)
    assert client.get(detail).status_code == 404
    assert b"Private process" not in client.get(url).content
    client.force_login(therapy["director"])
    assert client.get(detail).status_code == 403


def test_the_therapy_tab_is_on_the_chart_for_readers_only(
    client: Client, therapy: dict[str, Any]
) -> None:
    chart = f"/patients/{therapy['patient_slc'].pk}/"
    client.force_login(therapy["prescriber"])
    assert b"/therapy/" in client.get(chart).content
    client.force_login(therapy["nurse"])
    assert b"/therapy/" not in client.get(chart).content


def test_the_patient_sees_a_therapy_visit_in_the_portal(
    client: Client, therapy: dict[str, Any]
) -> None:
    slc = therapy["slc"]
    services.therapy_visit_book(
        actor=therapy["therapist"],
        patient=therapy["patient_slc"],
        appointment_type=integration_type(slc),
        starts_at=local(slc, timezone.localdate(timezone=slc.tz), "17:00"),
        provider=therapy["therapist"],
        telehealth=True,
        after_session=therapy["session"],
    )
    client.force_login(therapy["patient_user"])
    page = client.get("/portal/")
    assert page.status_code == 200
    assert b"Integration session" in page.content
    # The therapy section names the therapist and the visit, never a note.
    section = page.content.split(b'id="portal-therapy"')[1].split(b"</section>")[0]
    assert therapy["therapist"].display_name.encode() in section
    assert b"Integration session" in section
    entry = AuditEntry.objects.filter(actor_id=therapy["patient_user"].pk).last()
    assert entry.detail["therapy_appointment_ids"] and entry.detail["appointment_ids"]


def test_the_therapist_home_shows_the_panel(client: Client, therapy: dict[str, Any]) -> None:
    client.force_login(therapy["therapist"])
    response = client.get("/", follow=True)
    assert response.status_code == 200
    assert b'id="therapy-home"' in response.content
    assert b"Integration to book" in response.content
    assert f"?after={therapy['session'].pk}".encode() in response.content


def test_the_director_sets_the_window(client: Client, therapy: dict[str, Any]) -> None:
    client.force_login(therapy["director"])
    url = "/therapy/settings/"
    assert client.get(url).status_code == 200
    bad = client.post(
        url,
        {
            "location": therapy["slc"].pk,
            "integration_opens_after_hours": 10,
            "integration_closes_after_hours": 5,
            "source": "x",
        },
    )
    assert bad.status_code == 400 and b"not usable" in bad.content
    good = client.post(
        url,
        {
            "location": therapy["slc"].pk,
            "integration_opens_after_hours": 0,
            "integration_closes_after_hours": 96,
            "source": "Medical director",
        },
    )
    assert good.status_code == 302
    # A clinical rule: not the therapist's, nor the administrator's who runs the system.
    for who in ("therapist", "admin"):
        client.force_login(therapy[who])
        assert client.get(url).status_code == 403


def test_the_care_team_card_assigns_and_ends_a_therapist(
    client: Client, clinic: dict[str, Any], make_user: Any
) -> None:
    patient = clinic["patient_slc"]
    colleague = make_user("therapist", [clinic["slc"]])
    chart, url = f"/patients/{patient.pk}/", f"/patients/{patient.pk}/care-team/"
    client.force_login(clinic["coordinator"])
    page = client.get(chart)
    assert b'id="care-team"' in page.content and b"Assign a therapist" in page.content
    assert client.get(url).status_code == 405
    assert client.post(url, {"clinician": colleague.pk}).status_code == 302
    assignment = CareTeamAssignment.objects.get(clinician=colleague, ended_at__isnull=True)
    assert client.post(url, {"clinician": clinic["nurse"].pk}).status_code == 302
    assert not CareTeamAssignment.objects.filter(clinician=clinic["nurse"]).exists()
    assert client.post(url, {"end": assignment.pk}).status_code == 302
    assignment.refresh_from_db()
    assert assignment.ended_at is not None
    # A therapist does not assign; a coordinator of another location cannot see the patient.
    client.force_login(clinic["therapist"])
    assert client.post(url, {"clinician": colleague.pk}).status_code == 403
    assert b"Assign a therapist" not in client.get(chart).content
    client.force_login(clinic["nurse_boise"])
    assert client.post(url, {"clinician": colleague.pk}).status_code == 404
