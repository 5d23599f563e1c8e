"""Therapy reads. Query counts do not grow with rows (tests/test_selectors.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404

from ketaclinic.accounts.models import User
from ketaclinic.charting.models import SessionScore, SessionStatus, TreatmentSession
from ketaclinic.clinical.scoring import Instrument, get_instrument
from ketaclinic.clinical.therapy import (
    Dosing,
    IntegrationRow,
    IntegrationStatus,
    IntegrationWindow,
    Visit,
    integration_plan,
)
from ketaclinic.measures.charts import TrendChart, trend_chart
from ketaclinic.patients.models import CareTeamAssignment, Patient
from ketaclinic.patients.selectors import patient_scope
from ketaclinic.scheduling.models import Appointment, AppointmentStatus
from ketaclinic.therapy.models import PsychotherapyNote, TherapyNote
from ketaclinic.therapy.rules import (
    INTEGRATION_TYPE_KEY,
    therapy_type_keys,
    window_for,
    windows_for,
)
from ketaclinic.treatment.models import PlannedSession, TreatmentCourse

NOT_GIVEN = (SessionStatus.CANCELLED,)


def dosing_anchor(session: TreatmentSession) -> datetime:
    """When the integration window starts counting: the end of dosing (else its start,
    else the time the session was scheduled)."""
    return session.dosing_ended_at or session.dosing_started_at or session.scheduled_at


def _dosing(planned: PlannedSession, session: TreatmentSession | None, now: datetime) -> Dosing:
    if session is None:
        # Planned, never checked in: still to come, or (in the past) it did not happen.
        return Dosing(planned.pk, planned.starts_at, given=planned.starts_at > now, pending=True)
    if session.status in NOT_GIVEN or (
        session.status == SessionStatus.STOPPED_EARLY and session.dosing_started_at is None
    ):
        return Dosing(planned.pk, dosing_anchor(session), given=False)
    dosing_over = session.dosing_ended_at is not None or session.status in (
        SessionStatus.DISCHARGED,
        SessionStatus.SIGNED,
        SessionStatus.STOPPED_EARLY,
        SessionStatus.READY,
        SessionStatus.MONITORING,
    )
    return Dosing(planned.pk, dosing_anchor(session), pending=not dosing_over)


@dataclass(frozen=True)
class PlanLine:
    planned: PlannedSession
    session: TreatmentSession | None
    row: IntegrationRow
    appointment: Appointment | None
    # The session's highest dissociation score (CADSS or CADSS-6), for the integration
    # conversation: (instrument label, score), or None when none was charted.
    dissociation: tuple[str, int] | None = None

    @property
    def can_book(self) -> bool:
        return self.row.status in (IntegrationStatus.DUE, IntegrationStatus.NOT_YET) and (
            self.session is not None or self.row.status == IntegrationStatus.NOT_YET
        )


def integration_visits(patient_ids: list[int]) -> QuerySet[Appointment]:
    """Live integration visits (booked, or past and not marked no-show)."""
    return Appointment.objects.filter(
        patient_id__in=patient_ids,
        appointment_type__key=INTEGRATION_TYPE_KEY,
        status=AppointmentStatus.BOOKED,
    ).select_related("provider", "appointment_type")


def course_integration_plan(
    course: TreatmentCourse, now: datetime, window: IntegrationWindow | None = None
) -> list[PlanLine]:
    """Each planned dosing session of the course with its integration visit and status
    (three queries whatever the course's length)."""
    window = window or window_for(course.location)
    planned = list(
        PlannedSession.objects.filter(course=course)
        .select_related("treatment_session")
        .order_by("number")
    )
    sessions = {p.pk: getattr(p, "treatment_session", None) for p in planned}
    visits = {a.pk: a for a in integration_visits([course.patient_id])}
    rows = integration_plan(
        [_dosing(p, sessions[p.pk], now) for p in planned],
        [Visit(a.pk, a.starts_at) for a in visits.values()],
        window,
        now,
    )
    by_key = {p.pk: p for p in planned}
    peaks = peak_dissociation([s.pk for s in sessions.values() if s is not None])
    return [
        PlanLine(
            by_key[r.dosing.key],
            sessions[r.dosing.key],
            r,
            visits.get(r.visit.key) if r.visit else None,
            peaks.get(sessions[r.dosing.key].pk) if sessions[r.dosing.key] else None,
        )
        for r in rows
    ]


DISSOCIATION = {
    SessionScore.Instrument.CADSS: "CADSS",
    SessionScore.Instrument.CADSS6: "CADSS-6",
}


def peak_dissociation(session_ids: list[int]) -> dict[int, tuple[str, int]]:
    """Each session's highest charted (not struck) dissociation score, CADSS preferred over
    CADSS-6 when both were taken (one query)."""
    rows = (
        SessionScore.objects.filter(
            session_id__in=session_ids, instrument__in=list(DISSOCIATION), struck_at__isnull=True
        )
        .values("session_id", "instrument")
        .annotate(peak=Max("score"))
        .order_by("session_id", "instrument")
    )
    peaks: dict[int, tuple[str, int]] = {}
    for row in rows:
        label = DISSOCIATION[row["instrument"]]
        if row["session_id"] not in peaks or label == "CADSS":
            peaks[row["session_id"]] = (label, row["peak"])
    return peaks


def patient_courses(patient: Patient) -> QuerySet[TreatmentCourse]:
    return (
        TreatmentCourse.objects.filter(patient=patient)
        .select_related("protocol", "location")
        .order_by("-created_at", "-pk")
    )


def patient_therapy_visits(patient: Patient) -> QuerySet[Appointment]:
    """The patient's therapy visits, newest first."""
    return (
        Appointment.objects.filter(patient=patient, appointment_type__key__in=therapy_type_keys())
        .select_related("appointment_type", "provider", "resource", "location")
        .order_by("-starts_at", "-pk")
    )


def therapy_notes_for(user: User, patient: Patient) -> QuerySet[TherapyNote]:
    """A patient's therapy notes: signed ones, and the reader's own drafts."""
    return (
        TherapyNote.objects.filter(patient=patient)
        .filter(Q(signed_at__isnull=False) | Q(author_id=user.pk))
        .annotate(addendum_count=Count("addenda"))
        .order_by("-session_date", "-pk")
    )


def therapy_note_get(user: User, patient: Patient, note_id: int) -> TherapyNote:
    """One note of the patient's, or 404 (another patient's, or someone else's draft)."""
    note = (
        therapy_notes_for(user, patient)
        .select_related("appointment__appointment_type", "dosing_session", "author", "location")
        .filter(pk=note_id)
        .first()
    )
    if note is None:
        raise Http404("No such therapy note")
    return note


def psychotherapy_notes_for(user: User, patient: Patient) -> QuerySet[PsychotherapyNote]:
    """The reader's own psychotherapy notes about the patient (nobody else's, ever)."""
    return PsychotherapyNote.objects.filter(patient=patient, author_id=user.pk).order_by(
        "-session_date", "-pk"
    )


def psychotherapy_note_get(user: User, patient: Patient, note_id: int) -> PsychotherapyNote:
    note = psychotherapy_notes_for(user, patient).filter(pk=note_id).first()
    if note is None:
        raise Http404("No such psychotherapy note")
    return note


def dosing_session_get(patient: Patient, session_id: int) -> TreatmentSession:
    session = TreatmentSession.objects.filter(patient=patient, pk=session_id).first()
    if session is None:
        raise Http404("No such dosing session")
    return session


# --- the therapist's home panel ----------------------------------------------------------


def upcoming_therapy_visits(user: User, now: datetime, limit: int = 10) -> list[Appointment]:
    return list(
        Appointment.objects.filter(
            provider=user,
            status=AppointmentStatus.BOOKED,
            ends_at__gt=now,
            appointment_type__key__in=therapy_type_keys(),
        )
        .filter(patient_scope(user, via="patient"))
        .select_related("appointment_type", "patient", "location", "resource")
        .order_by("starts_at", "pk")[:limit]
    )


def unsigned_notes(user: User, limit: int = 10) -> list[TherapyNote]:
    return list(
        TherapyNote.objects.filter(author=user, signed_at__isnull=True)
        .filter(patient_scope(user, via="patient"))
        .select_related("patient")
        .order_by("session_date", "pk")[:limit]
    )


@dataclass(frozen=True)
class OpenWindow:
    session: TreatmentSession
    closes_at: datetime


DOSING_MARGIN = timedelta(days=1)


def open_integration_windows(user: User, now: datetime, limit: int = 10) -> list[OpenWindow]:
    """Dosing sessions of the user's patients whose integration window is open now with no
    integration visit booked in it (four queries whatever the number of patients)."""
    location_ids = set(
        Patient.objects.filter(patient_scope(user)).values_list("primary_location_id", flat=True)
    )
    if not location_ids:
        return []
    windows = windows_for(location_ids)
    longest = max(w.closes_after_hours for w in windows.values())
    # The window counts from the end of dosing; the start is what is indexed, so a day is
    # added for the dosing itself and the plan below keeps only the windows still open.
    since = now - timedelta(hours=longest) - DOSING_MARGIN
    sessions = list(
        TreatmentSession.objects.filter(patient_scope(user, via="patient"))
        .filter(dosing_started_at__isnull=False, dosing_started_at__gte=since)
        .exclude(status__in=NOT_GIVEN)
        .select_related("patient", "location")
        .order_by("dosing_started_at", "pk")
    )
    if not sessions:
        return []
    visits = list(
        integration_visits(sorted({s.patient_id for s in sessions})).values_list(
            "pk", "patient_id", "starts_at"
        )
    )
    result: list[OpenWindow] = []
    for patient_id in sorted({s.patient_id for s in sessions}):
        mine = [s for s in sessions if s.patient_id == patient_id]
        window = windows[mine[0].patient.primary_location_id]
        rows = integration_plan(
            [
                Dosing(
                    s.pk,
                    dosing_anchor(s),
                    pending=s.dosing_ended_at is None and s.status == SessionStatus.DOSING,
                )
                for s in mine
            ],
            [Visit(pk, starts) for pk, pid, starts in visits if pid == patient_id],
            window,
            now,
        )
        by_pk = {s.pk: s for s in mine}
        result.extend(
            OpenWindow(by_pk[r.dosing.key], r.closes_at)
            for r in rows
            if r.status == IntegrationStatus.DUE
        )
    result.sort(key=lambda w: (w.closes_at, w.session.pk))
    return result[:limit]


def portal_therapy(patient: Patient, now: datetime) -> dict[str, Any]:
    """What the patient's portal says about their therapy: who their therapists are and
    their next therapy visit (two queries). Never a note of any kind."""
    team = list(
        CareTeamAssignment.objects.filter(patient=patient, ended_at__isnull=True)
        .select_related("clinician")
        .order_by("assigned_at", "pk")
    )
    next_visit = (
        patient_therapy_visits(patient)
        .filter(status=AppointmentStatus.BOOKED, ends_at__gt=now)
        .order_by("starts_at", "pk")
        .first()
    )
    return {"team": team, "next_visit": next_visit}


@dataclass(frozen=True)
class _PeakScore:
    completed_at: datetime
    total: int


@dataclass(frozen=True)
class DissociationTrend:
    """The course's peak CADSS of each dosing session over time, as the Scores tab draws
    a questionnaire's trend (measures.charts.trend_chart); CADSS has no severity bands
    (clinical-reference.md: report the total)."""

    instrument: Instrument
    chart: TrendChart
    latest: _PeakScore
    baseline: None = None


def dissociation_trend(plan: list[PlanLine]) -> DissociationTrend | None:
    """None until two dosing sessions have a CADSS charted (one point is no trend); the
    CADSS-6 short form is a different scale and is shown in the plan only."""
    scores = [
        _PeakScore(line.session.dosing_ended_at or line.session.scheduled_at, line.dissociation[1])
        for line in plan
        if line.session is not None and line.dissociation and line.dissociation[0] == "CADSS"
    ]
    if len(scores) < 2:
        return None
    scores.sort(key=lambda s: s.completed_at)
    instrument = get_instrument("cadss")
    chart = trend_chart(instrument, scores, None)
    return DissociationTrend(instrument, chart, scores[-1]) if chart else None
