"""Booking, rescheduling, cancelling and no-shows: every write checks the pure booking rules
(clinical/booking.py) inside one transaction that holds the organization's booking lock, so
two coordinators booking the last free chair at once cannot both succeed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import CARE_TEAM_ROLES, CARING
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.booking import (
    Booking,
    Interval,
    License,
    Refusal,
    Request,
    WeeklyHours,
    check_booking,
    check_series,
)
from ketaclinic.organization.models import Location, Organization
from ketaclinic.patients.models import Patient
from ketaclinic.patients.services import require_patient_access
from ketaclinic.scheduling.models import (
    DEFAULT_OPENING_HOURS,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    OpeningHours,
    ProviderLicense,
    Resource,
    ResourceKind,
    WorkingHours,
)
from ketaclinic.scheduling.selectors import (
    appointment_types_for,
    course_sessions_to_book,
    weekly_hours,
)
from ketaclinic.treatment.models import PlannedSession, TreatmentCourse


class BookingRefused(ValidationError):
    """The booking rules refused; `refusals` keeps each reason (messages name what is wrong)."""

    def __init__(self, refusals: Sequence[Refusal]) -> None:
        self.refusals = list(refusals)
        super().__init__([refusal.message for refusal in self.refusals])


def location_prepare(location: Location) -> None:
    """Give a location its chairs (numbered from its chair count), a consultation room and
    default opening hours when it has none yet, so it can be booked at once."""
    if not location.resources.filter(kind=ResourceKind.CHAIR).exists():
        Resource.objects.bulk_create(
            Resource(location=location, kind=ResourceKind.CHAIR, number=n, name=f"Chair {n}")
            for n in location.chair_numbers
        )
    if not location.resources.filter(kind=ResourceKind.ROOM).exists():
        Resource.objects.create(
            location=location, kind=ResourceKind.ROOM, number=1, name="Consultation room 1"
        )
    if not location.opening_hours.exists():
        OpeningHours.objects.bulk_create(
            OpeningHours(location=location, weekday=day, opens_at=opens, closes_at=closes)
            for day, opens, closes in DEFAULT_OPENING_HOURS
        )


DEFAULT_TYPES_FILE = Path(__file__).resolve().parent / "appointment_types.json"


def appointment_types_seed_defaults() -> int:
    """Create the clinic-wide default appointment types (appointment_types.json) that are
    missing; a clinic's edits to existing ones are kept. Returns how many were created.
    Migration 0002 does the same for a new database."""
    created = 0
    for row in json.loads(DEFAULT_TYPES_FILE.read_text())["types"]:
        fields = {k: v for k, v in row.items() if k != "key"}
        _, made = AppointmentType.objects.get_or_create(
            location=None, key=row["key"], defaults=fields
        )
        created += made
    return created


def _require_location(actor: User, location: Location) -> None:
    if not actor.sees_all_locations and not actor.locations.filter(pk=location.pk).exists():
        raise PermissionDenied("You can only book or change visits at your own locations.")


def lock_bookings(location: Location) -> None:
    """Serialize bookings across the organization (a patient or provider may be booked at
    several locations). On SQLite the IMMEDIATE transaction already holds the write lock."""
    Organization.objects.select_for_update().filter(pk=location.organization_id).first()


def opening_hours_of(location: Location) -> WeeklyHours:
    return weekly_hours(
        location.timezone,
        location.opening_hours.values_list("weekday", "opens_at", "closes_at"),
        location.closed_days.values_list("date", flat=True),
    )


def working_hours_of(provider: User, location: Location) -> WeeklyHours:
    return weekly_hours(
        location.timezone,
        WorkingHours.objects.filter(provider=provider, location=location).values_list(
            "weekday", "starts_at", "ends_at"
        ),
        location.closed_days.values_list("date", flat=True),
    )


def licenses_of(provider: User) -> list[License]:
    return [
        License(lic.state, lic.kind, lic.number, lic.expires_on, lic.is_active)
        for lic in ProviderLicense.objects.filter(provider=provider)
    ]


def _existing(
    *,
    start: datetime,
    end: datetime,
    patient_ids: Iterable[int],
    provider_id: int | None,
    resource_ids: Iterable[int],
    exclude_ids: Iterable[int] = (),
) -> list[Booking]:
    """Live bookings in [start, end) that share a patient, the provider or a resource."""
    who = Q(patient_id__in=list(patient_ids)) | Q(resource_id__in=list(resource_ids))
    if provider_id is not None:
        who |= Q(provider_id=provider_id)
    rows = (
        Appointment.objects.filter(who, status=AppointmentStatus.BOOKED)
        .filter(starts_at__lt=end, ends_at__gt=start)
        .exclude(pk__in=list(exclude_ids))
        .values_list(
            "starts_at",
            "ends_at",
            "patient_id",
            "provider_id",
            "resource_id",
            "appointment_type__accompanies",
        )
    )
    return [Booking(Interval(s, e), p, v, r, a) for s, e, p, v, r, a in rows]


@dataclass(frozen=True)
class _Plan:
    """What one booking needs, checked before it is written."""

    appointment_type: AppointmentType
    location: Location
    patient: Patient
    provider: User | None
    resource: Resource | None
    telehealth: bool


def _require_may_book(actor: User, kind: AppointmentType) -> None:
    """A therapist books, moves and cancels therapy visits, never treatment sessions: those
    are the coordinators' and clinicians' (docs/roles.md)."""
    if actor.role in CARE_TEAM_ROLES and kind.treatment_route:
        raise PermissionDenied(
            f"Therapists do not book or change treatment sessions ({kind.name})."
        )


def _validate_plan(actor: User, plan: _Plan) -> None:
    """Shape errors (not rule refusals): a clear message and nothing saved."""
    kind = plan.appointment_type
    require_patient_access(actor, plan.patient, "scheduling.book")
    _require_may_book(actor, kind)
    _require_location(actor, plan.location)
    if not kind.is_active or kind.location_id not in (None, plan.location.pk):
        raise ValidationError(f"{kind.name} is not booked at {plan.location.name}.")
    if plan.telehealth and not kind.telehealth:
        raise ValidationError(f"{kind.name} cannot be a video visit.")
    if not plan.telehealth and not kind.in_person:
        raise ValidationError(f"{kind.name} is a video visit only: tick 'Video visit'.")
    if kind.needs_provider and plan.provider is None:
        raise ValidationError(f"Choose a provider for the {kind.name.lower()}.")
    if plan.provider is not None:
        if not plan.provider.is_active or plan.provider.role not in CARING:
            raise ValidationError(f"{plan.provider.display_name} does not see patients.")
        if plan.provider.role in CARE_TEAM_ROLES and kind.treatment_route:
            raise ValidationError(
                f"{plan.provider.display_name} is a therapist and does not give treatment: "
                f"choose a clinician for the {kind.name.lower()}, or no provider."
            )
        if (
            not plan.provider.sees_all_locations
            and not plan.provider.locations.filter(pk=plan.location.pk).exists()
        ):
            raise ValidationError(
                f"{plan.provider.display_name} does not work at {plan.location.name}."
            )
    if plan.resource is not None:
        if plan.resource.location_id != plan.location.pk or not plan.resource.is_active:
            raise ValidationError(f"{plan.resource.name} is not in use at {plan.location.name}.")
        if plan.telehealth:
            raise ValidationError("A video visit takes no chair or room.")
        if plan.resource.kind != kind.needs:
            raise ValidationError(f"{kind.name} needs {kind.get_needs_display().lower()}.")


def _needs_resource(plan: _Plan) -> bool:
    return bool(plan.appointment_type.needs) and not plan.telehealth


def _free_resource(plan: _Plan, interval: Interval, taken: Sequence[Booking]) -> Resource | None:
    """The lowest-numbered active chair or room of the right kind free for `interval`; when
    every one is taken, the first (so the rules' refusal says by whom); None when the location
    has none at all."""
    busy = {b.chair_id for b in taken if b.interval.overlaps(interval)}
    candidates = list(
        Resource.objects.filter(
            location=plan.location, kind=plan.appointment_type.needs, is_active=True
        ).order_by("number")
    )
    free = [r for r in candidates if r.pk not in busy]
    return (free or candidates or [None])[0]


def _request(plan: _Plan, interval: Interval, resource: Resource | None) -> Request:
    return Request(
        interval=interval,
        patient_id=plan.patient.pk,
        provider_id=plan.provider.pk if plan.provider else None,
        chair_id=resource.pk if resource else None,
        telehealth=plan.telehealth,
        patient_state=plan.patient.state if plan.telehealth else None,
        chair_label=resource.name if resource else "",
        patient_label=plan.patient.display_name,
        accompanies=plan.appointment_type.accompanies,
    )


def _rules(plan: _Plan) -> dict:
    """The data the pure rules need: hours, working hours, licenses."""
    return {
        "opening_hours": None if plan.telehealth else opening_hours_of(plan.location),
        "working_hours": working_hours_of(plan.provider, plan.location) if plan.provider else None,
        "licenses": licenses_of(plan.provider) if plan.provider and plan.telehealth else (),
        "provider_name": plan.provider.display_name if plan.provider else "The provider",
    }


def _aware(value: datetime) -> datetime:
    if timezone.is_naive(value):
        raise ValidationError("The start time needs a time zone.")
    return value


def _create(
    actor: User,
    plan: _Plan,
    interval: Interval,
    resource: Resource | None,
    **extra: object,
) -> Appointment:
    appointment = Appointment.objects.create(
        location=plan.location,
        appointment_type=plan.appointment_type,
        patient=plan.patient,
        provider=plan.provider,
        resource=resource,
        telehealth=plan.telehealth,
        starts_at=interval.start,
        ends_at=interval.end,
        booked_by=actor,
        **extra,
    )
    audit_record(
        actor=actor,
        action=AuditAction.CREATE,
        patient_id=plan.patient.pk,
        object_type="appointment",
        object_id=appointment.pk,
        detail={
            "type": plan.appointment_type.key,
            "starts_at": interval.start.isoformat(),
            "telehealth": plan.telehealth,
            "provider_id": plan.provider.pk if plan.provider else None,
            "resource": resource.name if resource else None,
        },
    )
    return appointment


def _book_one(
    actor: User,
    plan: _Plan,
    starts_at: datetime,
    *,
    exclude_ids: Iterable[int] = (),
    **extra: object,
) -> Appointment:
    """Check and write one booking; the caller holds the booking lock."""
    start = _aware(starts_at)
    interval = Interval(start, start + timedelta(minutes=plan.appointment_type.duration_minutes))
    resource_ids = (
        list(
            Resource.objects.filter(
                location=plan.location, kind=plan.appointment_type.needs
            ).values_list("pk", flat=True)
        )
        if _needs_resource(plan)
        else []
    )
    existing = _existing(
        start=interval.start,
        end=interval.end,
        patient_ids=[plan.patient.pk],
        provider_id=plan.provider.pk if plan.provider else None,
        resource_ids=resource_ids,
        exclude_ids=exclude_ids,
    )
    resource = plan.resource
    if resource is None and _needs_resource(plan):
        resource = _free_resource(plan, interval, existing)
        if resource is None:
            what = plan.appointment_type.get_needs_display().lower()
            raise ValidationError(f"{plan.location.name} has no {what.removeprefix('a ')}s.")
    refusals = check_booking(
        _request(plan, interval, resource),
        existing=existing,
        now=timezone.now(),
        **_rules(plan),
    )
    if refusals:
        raise BookingRefused(refusals)
    return _create(actor, plan, interval, resource, **extra)


def appointment_book(
    *,
    actor: User,
    patient: Patient,
    appointment_type: AppointmentType,
    location: Location,
    starts_at: datetime,
    provider: User | None = None,
    resource: Resource | None = None,
    telehealth: bool = False,
    note: str = "",
    from_request: object | None = None,
) -> Appointment:
    """Book one visit when every booking rule allows it (clinical/booking.py: hours,
    double booking of chair/room, provider and patient, telehealth licensure in the
    patient's state). With no chair or room given, the lowest-numbered free one is taken.
    Raises BookingRefused naming each problem, or ValidationError for malformed input."""
    plan = _Plan(appointment_type, location, patient, provider, resource, telehealth)
    _validate_plan(actor, plan)
    with transaction.atomic():
        lock_bookings(location)
        return _book_one(actor, plan, starts_at, note=note[:300], from_request=from_request)


def course_series_type(course: TreatmentCourse) -> AppointmentType:
    """The appointment type a course's sessions are booked as (by the protocol's route)."""
    route = course.protocol.route
    for kind in appointment_types_for(course.location):
        if kind.treatment_route == route:
            return kind
    raise ValidationError(
        f"No appointment type at {course.location.name} books {route.replace('_', ' ')} "
        "sessions; a director sets one up in Scheduling settings."
    )


def course_series_book(
    *,
    actor: User,
    course: TreatmentCourse,
    provider: User | None = None,
    resource: Resource | None = None,
) -> list[Appointment]:
    """Book every future planned session of a course that has no booking yet, as one series.

    Each session gets the chair given, or the lowest-numbered chair free at its time. The
    whole series is checked (clinical.booking.check_series) before anything is saved: one
    problem on any date books nothing, and BookingRefused names each date's problem."""
    patient = course.patient
    kind = course_series_type(course)
    plan = _Plan(kind, course.location, patient, provider, resource, False)
    _validate_plan(actor, plan)
    if course.phase == TreatmentCourse.Phase.ENDED:
        raise ValidationError("This course has ended; its sessions cannot be booked.")
    with transaction.atomic():
        lock_bookings(course.location)
        sessions = list(course_sessions_to_book(course, timezone.now()))
        if not sessions:
            raise ValidationError("Every future session of this course is already booked.")
        duration = timedelta(minutes=kind.duration_minutes)
        intervals = [Interval(s.starts_at, s.starts_at + duration) for s in sessions]
        chair_ids = list(
            Resource.objects.filter(location=course.location, kind=kind.needs).values_list(
                "pk", flat=True
            )
        )
        existing = _existing(
            start=intervals[0].start,
            end=intervals[-1].end,
            patient_ids=[patient.pk],
            provider_id=provider.pk if provider else None,
            resource_ids=chair_ids,
        )
        chairs: list[Resource | None] = []
        taken = list(existing)
        for interval in intervals:
            chair = resource or _free_resource(plan, interval, taken)
            chairs.append(chair)
            if chair is not None:
                taken.append(Booking(interval, patient.pk, None, chair.pk))
        if any(chair is None for chair in chairs):
            raise ValidationError(f"{course.location.name} has no treatment chairs set up.")
        problems = check_series(
            [_request(plan, i, c) for i, c in zip(intervals, chairs, strict=True)],
            existing=existing,
            now=timezone.now(),
            **_rules(plan),
        )
        if problems:
            raise BookingRefused(
                [
                    Refusal(r.problem, f"Session {sessions[i].number}: {r.message}", r.when)
                    for i, r in problems
                ]
            )
        return [
            _create(actor, plan, interval, chair, planned_session=session)
            for session, interval, chair in zip(sessions, intervals, chairs, strict=True)
        ]


def _locked_booked(appointment: Appointment) -> Appointment:
    current = Appointment.objects.select_for_update().get(pk=appointment.pk)
    if current.status != AppointmentStatus.BOOKED:
        raise ValidationError(
            f"This appointment is already {current.get_status_display().lower()}."
        )
    return current


def _require_reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(f"Give a reason for the {what}.")
    return reason[:300]


def _close(actor: User, appointment: Appointment, status: str, reason: str) -> None:
    appointment.status = status
    appointment.status_reason = reason
    appointment.status_changed_by = actor
    appointment.status_changed_at = timezone.now()
    appointment.save(
        update_fields=["status", "status_reason", "status_changed_by", "status_changed_at"]
    )
    audit_record(
        actor=actor,
        action=AuditAction.UPDATE,
        patient_id=appointment.patient_id,
        object_type="appointment",
        object_id=appointment.pk,
        detail={"status": status, "reason": reason},
    )


def _session_started(appointment: Appointment) -> bool:
    return (
        appointment.planned_session_id is not None
        and PlannedSession.objects.filter(
            pk=appointment.planned_session_id, treatment_session__isnull=False
        ).exists()
    )


def appointment_reschedule(
    *,
    actor: User,
    appointment: Appointment,
    starts_at: datetime,
    reason: str,
    provider: User | None = None,
    resource: Resource | None = None,
    keep_provider: bool = True,
) -> Appointment:
    """Move a booked visit: a new appointment at the new time (all rules checked again,
    ignoring the visit being moved) and this one marked rescheduled with the reason. A
    course's planned session moves with it, unless the patient has already checked in."""
    reason = _require_reason(reason, "change")
    if provider is None and keep_provider:
        provider = appointment.provider
    plan = _Plan(
        appointment.appointment_type,
        appointment.location,
        appointment.patient,
        provider,
        resource,
        appointment.telehealth,
    )
    _validate_plan(actor, plan)
    with transaction.atomic():
        lock_bookings(appointment.location)
        current = _locked_booked(appointment)
        if _session_started(current):
            raise ValidationError("The patient has already checked in for this session.")
        moved = _book_one(
            actor,
            plan,
            starts_at,
            exclude_ids=[current.pk],
            rescheduled_from=current,
            from_request=current.from_request,
            note=current.note,
        )
        # The new booking takes over the planned session after the old one lets go of it
        # (one live booking per planned session).
        _close(actor, current, AppointmentStatus.RESCHEDULED, reason)
        if current.planned_session_id is not None:
            Appointment.objects.filter(pk=moved.pk).update(
                planned_session_id=current.planned_session_id
            )
            PlannedSession.objects.filter(pk=current.planned_session_id).update(
                starts_at=moved.starts_at
            )
            moved.planned_session_id = current.planned_session_id
    return moved


def appointment_cancel(*, actor: User, appointment: Appointment, reason: str) -> Appointment:
    """Cancel a booked visit, with the reason; the chair, provider and patient are free again.
    A course's planned session stays planned, without a booking."""
    reason = _require_reason(reason, "cancellation")
    require_patient_access(actor, appointment.patient, "scheduling.book")
    _require_may_book(actor, appointment.appointment_type)
    _require_location(actor, appointment.location)
    with transaction.atomic():
        current = _locked_booked(appointment)
        if _session_started(current):
            raise ValidationError("The patient has already checked in for this session.")
        _close(actor, current, AppointmentStatus.CANCELLED, reason)
    return current


def course_bookings_cancel(*, actor: User, course: TreatmentCourse, reason: str) -> int:
    """Cancel the live bookings of a course's planned sessions that were never checked in
    (the course ended: treatment.signals.course_ended). Returns how many."""
    bookings = (
        # Only the appointment rows: PostgreSQL locks no outer-joined side.
        Appointment.objects.select_for_update(of=("self",))
        .filter(planned_session__course=course, status=AppointmentStatus.BOOKED)
        .filter(
            Q(planned_session__treatment_session__isnull=True)
            | Q(planned_session__treatment_session__checked_in_at__isnull=True)
        )
    )
    cancelled = 0
    for appointment in bookings:
        _close(actor, appointment, AppointmentStatus.CANCELLED, f"Course ended: {reason}")
        cancelled += 1
    return cancelled


def appointment_no_show(*, actor: User, appointment: Appointment, note: str = "") -> Appointment:
    """Record that the patient did not come. Only once the visit's start time has passed."""
    require_patient_access(actor, appointment.patient, "scheduling.book")
    _require_may_book(actor, appointment.appointment_type)
    _require_location(actor, appointment.location)
    with transaction.atomic():
        current = _locked_booked(appointment)
        if current.starts_at > timezone.now():
            raise ValidationError(
                "A no-show can be recorded once the visit's start time has passed."
            )
        if _session_started(current):
            raise ValidationError("The patient checked in for this session.")
        _close(actor, current, AppointmentStatus.NO_SHOW, (note or "").strip()[:300])
    return current
