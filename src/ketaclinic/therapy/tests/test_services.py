"""Therapy services and selectors: booking in the integration window through scheduling's
rules, notes signed and never edited, psychotherapy notes their author's alone, query
counts that do not grow with rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ketaclinic.audit.models import AuditEntry
from ketaclinic.charting.models import TreatmentSession
from ketaclinic.clinical.therapy import IntegrationStatus
from ketaclinic.patients.models import CareTeamAssignment
from ketaclinic.scheduling.models import Appointment
from ketaclinic.scheduling.services import BookingRefused, appointment_book
from ketaclinic.therapy import services
from ketaclinic.therapy.models import PsychotherapyNote, TherapyNote, TherapyNoteAddendum
from ketaclinic.therapy.plugins import therapist_home
from ketaclinic.therapy.selectors import (
    course_integration_plan,
    open_integration_windows,
    psychotherapy_notes_for,
    therapy_notes_for,
)
from ketaclinic.therapy.tests.conftest import (
    WEDNESDAY,
    give_session,
    integration_type,
    local,
)

pytestmark = [pytest.mark.django_db, pytest.mark.now(WEDNESDAY, tick=False)]

PASSWORD = "correct-horse-battery"
ANSWERS = {
    "experience": "Felt far away, then calm.",
    "themes": "Grief for her father; relief.",
    "goals": "Walk daily; call her sister.",
    "plan": "Integration again after session 2.",
}


def _book(t: dict[str, Any], hhmm: str, *, days: int = 0, **extra: Any) -> Appointment:
    slc = t["slc"]
    day = timezone.localdate(timezone=slc.tz) + timedelta(days=days)
    return services.therapy_visit_book(
        actor=extra.pop("actor", t["therapist"]),
        patient=t["patient_slc"],
        appointment_type=integration_type(slc),
        starts_at=local(slc, day, hhmm),
        provider=t["therapist"],
        after_session=extra.pop("after_session", t["session"]),
        **extra,
    )


def _note(t: dict[str, Any], **overrides: Any) -> TherapyNote:
    arguments = {
        "actor": t["therapist"],
        "patient": t["patient_slc"],
        "kind": "integration",
        "session_date": timezone.localdate(timezone=t["slc"].tz),
        "answers": ANSWERS,
        "risk_check": "none",
        **overrides,
    }
    return services.therapy_note_create(**arguments)


def test_the_plan_shows_the_window_open_then_booked(therapy: dict[str, Any]) -> None:
    course = therapy["course"]
    plan = course_integration_plan(course, timezone.now())
    assert plan[0].row.status is IntegrationStatus.DUE
    assert all(line.row.status is IntegrationStatus.NOT_YET for line in plan[1:])
    appointment = _book(therapy, "14:00")
    assert appointment.provider == therapy["therapist"]
    assert appointment.resource is not None  # a room, as the booking rules require
    plan = course_integration_plan(course, timezone.now())
    assert plan[0].row.status is IntegrationStatus.BOOKED
    assert plan[0].appointment == appointment


def test_a_visit_outside_the_window_is_refused_and_nothing_saved(
    therapy: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError, match="72 hours after dosing"):
        _book(therapy, "14:00", days=2)
    assert not Appointment.objects.exists()


def test_a_visit_outside_working_hours_is_refused_by_the_booking_rules(
    therapy: dict[str, Any],
) -> None:
    with pytest.raises(BookingRefused) as refused:
        _book(therapy, "20:00")
    assert "outside the clinic's opening hours" in " ".join(refused.value.messages)
    assert not Appointment.objects.exists()


def test_video_integration_needs_the_therapists_license_in_the_patients_state(
    therapy: dict[str, Any],
) -> None:
    video = _book(therapy, "17:00", telehealth=True)
    assert video.telehealth and video.resource is None
    patient = therapy["patient_slc"]
    patient.state = "ID"
    patient.save()
    with pytest.raises(BookingRefused, match="licen"):
        _book(therapy, "18:00", telehealth=True)


def test_a_coordinator_books_for_the_therapist_but_a_stranger_cannot(
    therapy: dict[str, Any], make_user: Any
) -> None:
    assert _book(therapy, "15:00", actor=therapy["coordinator"]).booked_by == therapy["coordinator"]
    with pytest.raises(PermissionDenied):
        _book(therapy, "16:00", actor=therapy["nurse_boise"])


def test_only_an_integration_session_goes_after_a_dosing_session(therapy: dict[str, Any]) -> None:
    slc = therapy["slc"]
    prep = next(t for t in therapy["types"].values() if t.key == "therapy-preparation")
    with pytest.raises(ValidationError, match="Only an integration"):
        services.therapy_visit_book(
            actor=therapy["therapist"],
            patient=therapy["patient_slc"],
            appointment_type=prep,
            starts_at=local(slc, timezone.localdate(timezone=slc.tz), "14:00"),
            provider=therapy["therapist"],
            after_session=therapy["session"],
        )
    consult = therapy["types"]["consultation"]
    with pytest.raises(ValidationError, match="not a therapy visit"):
        services.therapy_visit_book(
            actor=therapy["therapist"],
            patient=therapy["patient_slc"],
            appointment_type=consult,
            starts_at=local(slc, timezone.localdate(timezone=slc.tz), "14:00"),
            provider=therapy["therapist"],
        )


def test_a_location_sets_its_own_window(therapy: dict[str, Any]) -> None:
    services.therapy_settings_update(
        actor=therapy["director"],
        location=therapy["slc"],
        opens_after_hours=0,
        closes_after_hours=24 * 5,
        source="Medical director, 2027-01",
    )
    assert _book(therapy, "14:00", days=2).pk
    with pytest.raises(ValidationError, match="not usable"):
        services.therapy_settings_update(
            actor=therapy["director"],
            location=therapy["slc"],
            opens_after_hours=10,
            closes_after_hours=5,
            source="x",
        )
    with pytest.raises(PermissionDenied):
        services.therapy_settings_update(
            actor=therapy["therapist"],
            location=therapy["slc"],
            opens_after_hours=0,
            closes_after_hours=48,
            source="x",
        )


# --- notes ---------------------------------------------------------------------------------


def test_empty_required_fields_are_named_and_nothing_is_saved(therapy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as error:
        _note(therapy, answers={**ANSWERS, "themes": "  "}, risk_check="")
    message = " ".join(error.value.messages)
    assert "Themes and insights" in message and "Risk check" in message
    assert not TherapyNote.objects.exists()


def test_a_note_is_drafted_signed_with_the_password_then_only_amended(
    therapy: dict[str, Any],
) -> None:
    note = _note(therapy)
    note = services.therapy_note_update(
        actor=therapy["therapist"],
        note=note,
        answers={**ANSWERS, "mood": "Better"},
        risk_check="passive",
    )
    with pytest.raises(ValidationError, match="password is not right"):
        services.therapy_note_sign(actor=therapy["therapist"], note=note, password="wrong")
    assert not TherapyNote.objects.get(pk=note.pk).is_signed
    note = services.therapy_note_sign(actor=therapy["therapist"], note=note, password=PASSWORD)
    assert note.is_signed and note.answers["mood"] == "Better"
    with pytest.raises(ValidationError, match="signed"):
        services.therapy_note_update(
            actor=therapy["therapist"], note=note, answers=ANSWERS, risk_check="none"
        )
    with pytest.raises(ValidationError, match="already signed"):
        services.therapy_note_sign(actor=therapy["therapist"], note=note, password=PASSWORD)
    # Nor through the ORM, nor deleted.
    stored = TherapyNote.objects.get(pk=note.pk)
    stored.answers = {}
    with pytest.raises(PermissionError):
        stored.save()
    with pytest.raises(PermissionError):
        stored.delete()
    addendum = services.therapy_note_addendum_add(
        actor=therapy["therapist"], note=note, body="She called: sleeping better."
    )
    assert TherapyNoteAddendum.objects.get().pk == addendum.pk
    assert TherapyNote.objects.get(pk=note.pk).answers["mood"] == "Better"


def test_addenda_only_on_signed_notes_and_drafts_only_by_their_author(
    therapy: dict[str, Any], make_user: Any
) -> None:
    note = _note(therapy)
    with pytest.raises(ValidationError, match="signed note"):
        services.therapy_note_addendum_add(actor=therapy["therapist"], note=note, body="x")
    colleague = make_user("therapist", [therapy["slc"]])
    CareTeamAssignment.objects.create(
        patient=therapy["patient_slc"], clinician=colleague, assigned_by=therapy["director"]
    )
    with pytest.raises(PermissionDenied):
        services.therapy_note_sign(actor=colleague, note=note, password=PASSWORD)
    # The colleague does not see the draft; the author does.
    assert not therapy_notes_for(colleague, therapy["patient_slc"]).exists()
    assert therapy_notes_for(therapy["therapist"], therapy["patient_slc"]).count() == 1


def test_nurses_and_prescribers_write_no_therapy_notes(therapy: dict[str, Any]) -> None:
    for actor in (therapy["nurse"], therapy["prescriber"], therapy["director"]):
        with pytest.raises(PermissionDenied):
            _note(therapy, actor=actor)
    assert not TherapyNote.objects.exists()


def test_a_note_for_a_future_session_is_refused(therapy: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="taken place"):
        _note(therapy, session_date=timezone.localdate() + timedelta(days=2))


# --- psychotherapy notes -----------------------------------------------------------------


def test_psychotherapy_notes_are_their_authors_alone(
    therapy: dict[str, Any], make_user: Any
) -> None:
    patient = therapy["patient_slc"]
    note = services.psychotherapy_note_add(
        actor=therapy["therapist"],
        patient=patient,
        session_date=timezone.localdate(),
        body="Process notes.",
    )
    colleague = make_user("therapist", [therapy["slc"]])
    CareTeamAssignment.objects.create(
        patient=patient, clinician=colleague, assigned_by=therapy["director"]
    )
    assert list(psychotherapy_notes_for(therapy["therapist"], patient)) == [note]
    assert not psychotherapy_notes_for(colleague, patient).exists()
    assert not psychotherapy_notes_for(therapy["director"], patient).exists()
    with pytest.raises(PermissionDenied):
        services.psychotherapy_note_add(
            actor=therapy["director"], patient=patient, session_date=timezone.localdate(), body="x"
        )
    with pytest.raises(ValidationError, match="Write the note"):
        services.psychotherapy_note_add(
            actor=therapy["therapist"], patient=patient, session_date=timezone.localdate(), body=" "
        )
    assert PsychotherapyNote.objects.count() == 1
    # The audit log says a note was written, never what it says.
    entry = AuditEntry.objects.filter(object_type="psychotherapy_note").get()
    assert "Process" not in str(entry.detail)


# --- query counts --------------------------------------------------------------------------


def _count(fn: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        fn()
    return len(queries)


def test_the_plan_and_lists_do_not_grow_with_rows(therapy: dict[str, Any]) -> None:
    course, patient, therapist = therapy["course"], therapy["patient_slc"], therapy["therapist"]
    _note(therapy)

    def read() -> None:
        list(course_integration_plan(course, timezone.now()))
        list(therapy_notes_for(therapist, patient))
        therapist_home(therapist, None)

    few = _count(read)
    planned = list(course.planned_sessions.order_by("number"))
    yesterday = timezone.now() - timedelta(days=1)
    give_session(planned[1], ended_at=yesterday + timedelta(hours=3))
    for _ in range(5):
        _note(therapy)
    _book(therapy, "14:00")
    _book(therapy, "15:00", after_session=None)
    assert _count(read) <= few


def test_the_home_panel_lists_open_windows_visits_and_drafts(therapy: dict[str, Any]) -> None:
    therapist = therapy["therapist"]
    windows = open_integration_windows(therapist, timezone.now())
    assert [w.session for w in windows] == [therapy["session"]]
    _book(therapy, "14:00")
    _note(therapy)
    content = therapist_home(therapist, None)
    assert not content.context["windows"]
    assert len(content.context["visits"]) == 1 and len(content.context["drafts"]) == 1
    assert content.shown["patient_ids"] == {therapy["patient_slc"].pk}


def test_the_plan_shows_each_sessions_peak_dissociation(therapy: dict[str, Any]) -> None:
    from ketaclinic.charting.models import SessionScore

    session = therapy["session"]
    for instrument, score, struck in [
        ("cadss6", 9, False),
        ("cadss", 30, False),
        ("cadss", 60, True),
    ]:
        SessionScore.objects.create(
            session=session,
            instrument=instrument,
            score=score,
            taken_at=session.dosing_ended_at,
            recorded_by=therapy["nurse"],
            struck_at=timezone.now() if struck else None,
        )
    plan = course_integration_plan(therapy["course"], timezone.now())
    assert plan[0].dissociation == ("CADSS", 30)
    assert plan[1].dissociation is None


def test_in_session_support_is_booked_beside_the_patients_chair_visit(
    therapy: dict[str, Any],
) -> None:
    """The therapist sits with the patient through their infusion: the support visit
    overlaps the patient's own chair booking, which the booking rules allow for a type
    that accompanies (scheduling AppointmentType.accompanies); any other visit of the
    patient at that time is still a double booking."""
    slc, patient, therapist = therapy["slc"], therapy["patient_slc"], therapy["therapist"]
    second = therapy["course"].planned_sessions.order_by("number")[1]
    chair_visit = appointment_book(
        actor=therapy["coordinator"],
        patient=patient,
        appointment_type=therapy["types"]["iv-infusion"],
        location=slc,
        starts_at=second.starts_at,
    )
    support = services.therapy_visit_book(
        actor=therapist,
        patient=patient,
        appointment_type=therapy["types"]["therapy-in-session"],
        starts_at=chair_visit.starts_at,
        provider=therapist,
    )
    assert support.starts_at == chair_visit.starts_at and support.resource_id is None
    with pytest.raises(BookingRefused, match="already has a visit"):
        services.therapy_visit_book(
            actor=therapist,
            patient=patient,
            appointment_type=therapy["types"]["therapy-preparation"],
            starts_at=chair_visit.starts_at,
            provider=therapy["prescriber"],
        )
    assert Appointment.objects.filter(patient=patient, status="booked").count() == 2


def test_the_peaks_of_two_sessions_draw_the_dissociation_trend(
    therapy: dict[str, Any], client: Any
) -> None:
    from ketaclinic.charting.models import SessionScore
    from ketaclinic.therapy.selectors import dissociation_trend

    first = therapy["session"]
    second = give_session(
        therapy["course"].planned_sessions.order_by("number")[1],
        ended_at=timezone.now() - timedelta(hours=1),
    )
    SessionScore.objects.create(
        session=first, instrument="cadss", score=30, taken_at=first.dosing_ended_at,
        recorded_by=therapy["nurse"],
    )  # fmt: skip
    plan = course_integration_plan(therapy["course"], timezone.now())
    assert dissociation_trend(plan) is None  # one point is no trend
    SessionScore.objects.create(
        session=second, instrument="cadss", score=12, taken_at=second.dosing_ended_at,
        recorded_by=therapy["nurse"],
    )  # fmt: skip
    trend = dissociation_trend(course_integration_plan(therapy["course"], timezone.now()))
    assert trend is not None and [p.total for p in trend.chart.points] == [30, 12]
    client.force_login(therapy["therapist"])
    page = client.get(f"/patients/{therapy['patient_slc'].pk}/therapy/").content.decode()
    assert 'id="dissociation-trend"' in page and 'data-chart="cadss"' in page


def test_a_window_is_listed_to_its_last_minute(therapy: dict[str, Any]) -> None:
    """The window counts from the end of dosing: a session that began 72 h 16 min ago and
    ended 71 h 36 min ago still has 24 minutes to go."""
    therapist = therapy["therapist"]
    planned = list(therapy["course"].planned_sessions.order_by("number"))
    TreatmentSession.objects.filter(pk=therapy["session"].pk).update(
        dosing_started_at=timezone.now() - timedelta(days=30),
        dosing_ended_at=timezone.now() - timedelta(days=30),
    )
    late = give_session(planned[1], ended_at=timezone.now() - timedelta(hours=71, minutes=36))
    assert [w.session for w in open_integration_windows(therapist, timezone.now())] == [late]


def test_bulk_writes_cannot_change_a_signed_note_or_any_record_kept_for_good(
    therapy: dict[str, Any],
) -> None:
    note = _note(therapy)
    TherapyNote.objects.filter(pk=note.pk).update(answers={**note.answers})  # a draft: fine
    services.therapy_note_sign(actor=therapy["therapist"], note=note, password=PASSWORD)
    with pytest.raises(PermissionError, match="never edited"):
        TherapyNote.objects.filter(pk=note.pk).update(answers={})
    for queryset in (
        TherapyNote.objects.all(),
        TherapyNoteAddendum.objects.all(),
        PsychotherapyNote.objects.all(),
    ):
        with pytest.raises(PermissionError):
            queryset.delete()
    with pytest.raises(PermissionError):
        PsychotherapyNote.objects.update(body="x")


def test_a_therapist_never_books_or_gives_a_treatment_session(therapy: dict[str, Any]) -> None:
    from ketaclinic.scheduling.services import appointment_cancel

    slc, patient, therapist = therapy["slc"], therapy["patient_slc"], therapy["therapist"]
    second = therapy["course"].planned_sessions.order_by("number")[1]
    infusion = therapy["types"]["iv-infusion"]
    with pytest.raises(PermissionDenied, match="do not book or change treatment"):
        appointment_book(
            actor=therapist, patient=patient, appointment_type=infusion, location=slc,
            starts_at=second.starts_at,
        )  # fmt: skip
    with pytest.raises(ValidationError, match="does not give treatment"):
        appointment_book(
            actor=therapy["coordinator"], patient=patient, appointment_type=infusion,
            location=slc, starts_at=second.starts_at, provider=therapist,
        )  # fmt: skip
    booked = appointment_book(
        actor=therapy["coordinator"], patient=patient, appointment_type=infusion, location=slc,
        starts_at=second.starts_at,
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        appointment_cancel(actor=therapist, appointment=booked, reason="Not mine to cancel")
    booked.refresh_from_db()
    assert booked.status == "booked"
