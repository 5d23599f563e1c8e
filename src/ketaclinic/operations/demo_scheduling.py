"""Demo calendar: providers' working hours and state licenses (some states, not others), a
week of bookings made through the booking services (so every rule holds), open appointment
requests in the coordinator's queue, and a change request from the portal demo patient."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import (
    AppointmentRequest,
    ChangeRequest,
    ContactAttempt,
    OpeningHours,
    ProviderLicense,
    RequestStatus,
    Resource,
    ResourceKind,
    WorkingHours,
)
from ketaclinic.scheduling.selectors import appointment_types_for, course_sessions_to_book
from ketaclinic.scheduling.services import (
    appointment_book,
    appointment_types_seed_defaults,
    course_series_book,
)
from ketaclinic.treatment.models import TreatmentCourse

SCHEDULING_SEED = 7
MON_TO_FRI = range(5)
# username -> {location short name: weekdays worked there, 08:00-17:00 local}
WORKING_DAYS = {
    "prescriber": {"SLC": (0, 2, 4), "Boise": (1, 3)},
    "nurse": {"SLC": MON_TO_FRI},
    "director": {"SLC": MON_TO_FRI},
    "nurse.boise": {"Boise": MON_TO_FRI},
    "nurse.portland": {"Portland": MON_TO_FRI},
    "prescriber.portland": {"Portland": MON_TO_FRI},
}
# username -> (state, license kind, years until expiry; negative: expired)
LICENSES = {
    "prescriber": [("UT", "MD", 2), ("ID", "MD", 1), ("NV", "MD", -1)],
    "director": [(s, "MD", 2) for s in ("UT", "ID", "WA", "OR", "NV", "AZ", "FL")],
    "prescriber.portland": [("OR", "NP", 2)],
    "nurse": [("UT", "RN", 2)],
    "nurse.boise": [("ID", "RN", 2)],
    "nurse.portland": [("OR", "RN", 2)],
}
REQUESTS = [
    # first, last, birth date, state, location short name or None (video), help, status
    ("Rachel", "Moreno", date(1986, 3, 14), "UT", "SLC",
     "Depression for years; two antidepressants did not help. My therapist suggested ketamine.",
     RequestStatus.NEW),
    ("Peter", "Lindqvist", date(1975, 9, 2), "ID", "Boise",
     "Referred by my psychiatrist for esketamine.", RequestStatus.NEW),
    ("Amara", "Diallo", date(1993, 1, 27), "NV", None,
     "I live in Reno and would like a video consultation first.", RequestStatus.NEW),
    ("Gus", "Whitfield", date(1961, 6, 30), "UT", "SLC",
     "Questions about cost and how many sessions.", RequestStatus.CONTACTING),
    ("Lucia", "Ferreira", date(1999, 11, 8), "OR", "Portland",
     "Anxiety and depression since college.", RequestStatus.CONTACTING),
    ("Kenji", "Watanabe", date(1982, 4, 19), "WA", None,
     "Looking for a second opinion by video.", RequestStatus.NEW),
]  # fmt: skip


def _local(location: Location, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=location.tz)


def _weekdays_ahead(today: date, count: int) -> list[date]:
    days: list[date] = []
    day = today
    while len(days) < count:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def _staff() -> dict[str, User]:
    return {u.username: u for u in User.objects.filter(username__in=[*WORKING_DAYS, "admin"])}


def _seed_people(staff: dict[str, User], locations: dict[str, Location], now: datetime) -> None:
    today = timezone.localdate(now, timezone=locations["SLC"].tz)
    WorkingHours.objects.bulk_create(
        WorkingHours(
            provider=staff[username],
            location=locations[short],
            weekday=weekday,
            starts_at=time(8),
            ends_at=time(17),
        )
        for username, places in WORKING_DAYS.items()
        for short, weekdays in places.items()
        for weekday in weekdays
    )
    ProviderLicense.objects.bulk_create(
        ProviderLicense(
            provider=staff[username],
            state=state,
            kind=kind,
            number=f"{state}-{kind}-{1000 + index * 17 + n}",
            expires_on=today + timedelta(days=365 * years),
            recorded_by=staff["admin"],
        )
        for index, (username, licenses) in enumerate(LICENSES.items())
        for n, (state, kind, years) in enumerate(licenses)
    )
    slc = locations["SLC"]
    Resource.objects.create(location=slc, kind=ResourceKind.ROOM, number=2, name="Therapy room")
    OpeningHours.objects.create(location=slc, weekday=5, opens_at=time(8), closes_at=time(13))


def _try_book(**arguments: object) -> bool:
    """Book when the rules allow; the demo only fills free slots, so a refusal is skipped."""
    try:
        appointment_book(**arguments)  # type: ignore[arg-type]
    except ValidationError:
        return False
    return True


def _seed_series(director: User, now: datetime) -> int:
    """Book each course's remaining sessions as a series; a course with nothing left to book
    at `now`, or whose series the rules refuse, is left as it is."""
    booked = 0
    for course in TreatmentCourse.objects.exclude(phase=TreatmentCourse.Phase.ENDED).order_by("pk"):
        if not course_sessions_to_book(course, now).exists():
            continue
        try:
            booked += len(course_series_book(actor=director, course=course))
        except ValidationError:
            continue
    return booked


def _seed_week(
    staff: dict[str, User], locations: dict[str, Location], now: datetime, rng: random.Random
) -> int:
    director = staff["director"]
    booked = _seed_series(director, now)
    with_course = set(TreatmentCourse.objects.values_list("patient_id", flat=True))
    for short in ("SLC", "Boise"):
        location = locations[short]
        days = _weekdays_ahead(timezone.localdate(now, timezone=location.tz), 5)
        types = {t.key: t for t in appointment_types_for(location)}
        patients = list(
            Patient.objects.filter(primary_location=location)
            .exclude(pk__in=with_course)
            .order_by("pk")[3:23]
        )
        providers = [
            u for u in (staff["prescriber"], director) if location.pk in _places(u, locations)
        ]
        for index, patient in enumerate(patients):
            day = days[index % len(days)]
            hour = 9 + (index // len(days)) * 2
            kind = ("consultation", "follow-up", "integration", "consultation")[index % 4]
            for provider in providers:
                if _try_book(
                    actor=director,
                    patient=patient,
                    appointment_type=types[kind],
                    location=location,
                    starts_at=_local(location, day, hour, rng.choice((0, 30))),
                    provider=provider,
                    telehealth=kind == "follow-up" or (kind == "consultation" and index % 3 == 0),
                ):
                    booked += 1
                    break
    return booked


def _places(user: User, locations: dict[str, Location]) -> set[int]:
    return {locations[short].pk for short in WORKING_DAYS.get(user.username, {})}


def _seed_requests(staff: dict[str, User], locations: dict[str, Location], now: datetime) -> None:
    for index, (first, last, born, state, short, help_with, status) in enumerate(REQUESTS):
        request = AppointmentRequest.objects.create(
            first_name=first,
            last_name=last,
            date_of_birth=born,
            phone=f"(801) 555-01{40 + index:02d}",
            email=f"{first.lower()}.{last.lower()}@example.org",
            state=state,
            preferred_location=locations[short] if short else None,
            wants_telehealth=short is None,
            help_with=help_with,
            heard_about=("doctor", "search", "friend", "insurance", "social", "other")[index],
            consent_to_contact=True,
            submitted_at=now - timedelta(hours=5 + 11 * index),
            source_digest="demo",
            status=status,
        )
        if status == RequestStatus.CONTACTING:
            ContactAttempt.objects.create(
                request=request,
                channel=ContactAttempt.Channel.PHONE,
                outcome=ContactAttempt.Outcome.VOICEMAIL,
                note="Left a message with our number.",
                made_by=staff["director"],
                made_at=request.submitted_at + timedelta(hours=3),
            )


def _seed_change_request(
    staff: dict[str, User], locations: dict[str, Location], now: datetime
) -> None:
    """The portal demo patient has a video follow-up in two weekdays and asked to move it."""
    portal = User.objects.filter(username="patient").select_related("patient").first()
    if portal is None:
        return
    patient = portal.patient
    location = patient.primary_location
    day = _weekdays_ahead(timezone.localdate(now, timezone=location.tz), 2)[-1]
    follow_up = next(t for t in appointment_types_for(location) if t.key == "follow-up")
    for hour in (12, 13, 16):
        arguments = {
            "actor": staff["director"],
            "patient": patient,
            "appointment_type": follow_up,
            "location": location,
            "starts_at": _local(location, day, hour),
            "provider": staff["director"],
            "telehealth": True,
        }
        if _try_book(**arguments):
            ChangeRequest.objects.create(
                appointment=patient.appointments.latest("booked_at"),
                message="Could we move this to the afternoon? I have work until 2.",
            )
            return


def seed_scheduling(*, now: datetime) -> int:
    """Seed the demo calendar from `now` on (after the treatment courses and today's
    sessions). Returns how many appointments were booked."""
    appointment_types_seed_defaults()
    staff = _staff()
    locations = {loc.short_name: loc for loc in Location.objects.all()}
    with transaction.atomic():
        _seed_people(staff, locations, now)
        booked = _seed_week(staff, locations, now, random.Random(SCHEDULING_SEED))
        _seed_requests(staff, locations, now)
        _seed_change_request(staff, locations, now)
    return booked
