"""The demo's psychotherapy: the SLC therapist's care team (the portal's demo patient and
the first SLC patients with a treatment course), then their sessions and notes."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import Role
from ketaclinic.charting.models import TreatmentSession
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import CareTeamAssignment, Patient
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentStatus,
    AppointmentType,
    LicenseKind,
    ProviderLicense,
    WorkingHours,
)
from ketaclinic.therapy.models import NoteKind, TherapyNote
from ketaclinic.therapy.rules import INTEGRATION_TYPE_KEY
from ketaclinic.therapy.services import SIGNATURE_MEANING, therapy_visit_book

# How many SLC patients with a treatment course the demo therapist cares for.
CARE_TEAM_PATIENTS = 6


def seed_care_team() -> list[Patient]:
    """Assign the SLC therapist to the portal's demo patient and the first SLC patients
    with a treatment course. Returns them."""
    therapist = User.objects.filter(role=Role.THERAPIST, username="therapist").first()
    if therapist is None:
        return []
    director = User.objects.filter(role=Role.MEDICAL_DIRECTOR).order_by("pk").first()
    location_ids = list(therapist.locations.values_list("pk", flat=True))
    portal_patient_ids = list(
        User.objects.filter(username="patient").values_list("patient_id", flat=True)
    )
    treated = list(
        Patient.objects.filter(
            primary_location_id__in=location_ids, treatment_courses__isnull=False
        )
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)[:CARE_TEAM_PATIENTS]
    )
    chosen = list(
        Patient.objects.filter(
            pk__in=set(treated) | set(portal_patient_ids), primary_location_id__in=location_ids
        ).order_by("pk")
    )
    CareTeamAssignment.objects.bulk_create(
        CareTeamAssignment(patient=p, clinician=therapist, assigned_by=director or therapist)
        for p in chosen
    )
    return chosen


# Past integration visits (with signed notes) per care-team patient, and at what local
# time on the day after dosing they took place.
PAST_VISITS_PER_PATIENT = 2
PAST_VISIT_HOUR = 16
# The portal patient's next integration visit: the first free slot on these local hours of
# the next weekdays.
UPCOMING_HOURS = (10, 11, 13, 14, 15)

_ANSWERS = [
    {
        "experience": "Felt heavy, then far away and calm; music helped.",
        "themes": "Grief for her father; noticing she is allowed to rest.",
        "goals": "A short walk each morning; write down one thing that went well.",
        "mood": "Sleeping better since the session.",
        "plan": "Integration session after the next dosing session.",
    },
    {
        "experience": "Some anxiety at the start; grounding with the breath worked.",
        "themes": "Old patterns of self-criticism seen from a distance.",
        "goals": "Practise the breathing exercise daily; call a friend this week.",
        "mood": "Mood a little lighter, energy the same.",
        "plan": "Continue; review the PHQ-9 next visit.",
    },
]


def _therapist() -> User | None:
    return User.objects.filter(role=Role.THERAPIST, username="therapist").first()


def _seed_hours(therapist: User, location: Location, today: date) -> None:
    WorkingHours.objects.bulk_create(
        WorkingHours(
            provider=therapist, location=location, weekday=d, starts_at=time(8), ends_at=time(17)
        )
        for d in range(5)
    )
    ProviderLicense.objects.get_or_create(
        provider=therapist,
        state=location.state,
        kind=LicenseKind.SOCIAL_WORKER,
        number=f"{location.state}-LCSW-4242",
        defaults={
            "expires_on": today + timedelta(days=730),
            "recorded_by": User.objects.filter(role=Role.ADMIN).order_by("pk").first() or therapist,
        },
    )


def _integration_type() -> AppointmentType:
    return AppointmentType.objects.get(location=None, key=INTEGRATION_TYPE_KEY)


def _free_hour(
    therapist: User, patient: Patient, day: date, location: Location, minutes: int
) -> datetime | None:
    """The latest hour of `day` from PAST_VISIT_HOUR back to 09:00 when neither the
    therapist nor the patient has another visit: past visits are written directly, so
    the demo keeps the booking rules' no-double-booking itself."""
    for hour in range(PAST_VISIT_HOUR, 8, -1):
        starts = datetime.combine(day, time(hour), tzinfo=location.tz)
        ends = starts + timedelta(minutes=minutes)
        taken = Appointment.objects.filter(
            Q(provider=therapist) | Q(patient=patient), starts_at__lt=ends, ends_at__gt=starts
        ).exclude(status__in=[AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED])
        if not taken.exists():
            return starts
    return None


def _past_visits(therapist: User, patients: list[Patient], now: datetime) -> list[TherapyNote]:
    """For each patient, integration video visits the day after their last dosing sessions
    that are over, each with a signed note. Returns the notes."""
    kind = _integration_type()
    notes: list[TherapyNote] = []
    for index, patient in enumerate(patients):
        location = patient.primary_location
        sessions = list(
            TreatmentSession.objects.filter(
                patient=patient, dosing_ended_at__isnull=False
            ).order_by("-dosing_ended_at", "-pk")[: PAST_VISITS_PER_PATIENT * 2]
        )
        done = 0
        for session in sessions:
            day = timezone.localdate(session.dosing_ended_at, timezone=location.tz) + timedelta(1)
            starts = _free_hour(therapist, patient, day, location, kind.duration_minutes)
            if (
                starts is None
                or starts + timedelta(minutes=kind.duration_minutes) > now
                or done >= PAST_VISITS_PER_PATIENT
            ):
                continue
            appointment = Appointment.objects.create(
                location=location,
                appointment_type=kind,
                patient=patient,
                provider=therapist,
                telehealth=True,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=kind.duration_minutes),
                booked_by=therapist,
                booked_at=starts - timedelta(days=1),
            )
            notes.append(
                TherapyNote.objects.create(
                    patient=patient,
                    location=location,
                    kind=NoteKind.INTEGRATION,
                    session_date=day,
                    appointment=appointment,
                    dosing_session=session,
                    answers=_ANSWERS[(index + done) % len(_ANSWERS)],
                    risk_check="none",
                    author=therapist,
                    author_name=therapist.display_name,
                    created_at=starts + timedelta(hours=1),
                    updated_at=starts + timedelta(hours=1),
                    signed_at=starts + timedelta(hours=1),
                    signature_meaning=SIGNATURE_MEANING,
                )
            )
            done += 1
    return notes


def _upcoming_visit(therapist: User, patient: Patient, now: datetime) -> Appointment | None:
    """The portal patient's next integration visit, booked through the booking rules in
    the first free slot (a video visit in the clinic's hours)."""
    location = patient.primary_location
    today = timezone.localdate(now, timezone=location.tz)
    days = [today + timedelta(days=n) for n in range(1, 10)]
    for day in [d for d in days if d.weekday() < 5][:5]:
        for hour in UPCOMING_HOURS:
            try:
                return therapy_visit_book(
                    actor=therapist,
                    patient=patient,
                    appointment_type=_integration_type(),
                    starts_at=datetime.combine(day, time(hour), tzinfo=location.tz),
                    provider=therapist,
                    telehealth=True,
                    note="Integration after this week's sessions",
                )
            except (ValidationError, PermissionDenied):
                continue
    return None


def seed_therapy(*, now: datetime) -> None:
    """The demo's therapy stories, dated relative to `now`: the therapist's hours and
    license, past integration visits with signed notes for the care team, one upcoming
    integration visit for the portal's patient, and one unsigned draft."""
    patients = seed_care_team()
    therapist = _therapist()
    if therapist is None or not patients:
        return
    location = patients[0].primary_location
    _seed_hours(therapist, location, timezone.localdate(now, timezone=location.tz))
    with transaction.atomic():
        _past_visits(therapist, patients, now)
    portal = next(
        (p for p in patients if User.objects.filter(username="patient", patient=p).exists()),
        patients[0],
    )
    _upcoming_visit(therapist, portal, now)
    # An unsigned draft: the preparation note of the portal patient, written today.
    TherapyNote.objects.create(
        patient=portal,
        location=portal.primary_location,
        kind=NoteKind.PREPARATION,
        session_date=timezone.localdate(now, timezone=portal.primary_location.tz),
        answers={
            "intentions": "To feel like myself again and enjoy time with my kids.",
            "concerns": "Worried about losing control during the infusion.",
            "coping": "Box breathing; holding the stone; asking the nurse to talk.",
            "support": "",
            "plan": "",
        },
        risk_check="none",
        author=therapist,
        author_name=therapist.display_name,
        created_at=now,
        updated_at=now,
    )
