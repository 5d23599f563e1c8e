"""Calendar pages (day, week, provider), booking, one appointment and its changes, a
course's series booking, and the provider's ICS feed. Thin: parse, call a service or a
selector, render."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.models import User
from ketaclinic.accounts.selectors import chosen_location_id, locations_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import AuditEvent, audit_record, audit_record_events
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import patient_page
from ketaclinic.plugins import panels_shown, render_page_panels
from ketaclinic.scheduling import services
from ketaclinic.scheduling.calendar import feed
from ketaclinic.scheduling.calendar.forms import (
    BookingForm,
    CancelForm,
    FeedResetForm,
    NoShowForm,
    RescheduleForm,
    SeriesForm,
)
from ketaclinic.scheduling.calendar.selectors import (
    calendar_day,
    calendar_location,
    calendar_provider,
    calendar_provider_week,
    calendar_week,
    feed_appointments,
    monday_of,
    shown_patient_ids,
)
from ketaclinic.scheduling.models import Appointment, AppointmentStatus, CalendarFeed
from ketaclinic.scheduling.requests.selectors import requests_visible_to
from ketaclinic.scheduling.selectors import course_sessions_to_book
from ketaclinic.scheduling.telehealth import video_link
from ketaclinic.treatment.models import PlannedSession

NAV = {"nav_section": "calendar"}


def _audit_calendar(user: User, page: str, appointments: list[Appointment], **detail: Any) -> None:
    """One entry per calendar page naming every patient it shows."""
    audit_record_events(
        actor=user,
        events=[
            AuditEvent(
                action=AuditAction.VIEW,
                object_type="calendar",
                detail={
                    "page": page,
                    **{k: v.isoformat() if isinstance(v, date) else v for k, v in detail.items()},
                    "patient_ids": shown_patient_ids(appointments),
                },
            )
        ],
    )


def _posted(request: HttpRequest) -> Any:
    """The POST data, also when empty (an empty POST must still bind, and fail, the form)."""
    return request.POST if request.method == "POST" else None


def _default_location(request: HttpRequest) -> Location | None:
    """The location picked in the switcher, else the user's first."""
    chosen = chosen_location_id(request)
    locations = locations_for(request.user)
    return (locations.filter(pk=chosen) if chosen else locations).first()


def _today(location: Location) -> date:
    return timezone.localdate(timezone=location.tz)


@capability_required("scheduling.view_calendar")
def calendar_home(request: HttpRequest) -> HttpResponse:
    location = _default_location(request)
    if location is None:
        return render(request, "scheduling/calendar_no_location.html", NAV)
    return redirect("scheduling:calendar_day", location.pk, _today(location))


@capability_required("scheduling.view_calendar")
def calendar_day_view(request: HttpRequest, location_id: int, day: date) -> HttpResponse:
    location = calendar_location(request.user, location_id)
    calendar = calendar_day(request.user, location, day)
    _audit_calendar(request.user, "day", calendar.appointments, location_id=location.pk, date=day)
    context = {
        **NAV,
        "calendar": calendar,
        "location": location,
        "day": day,
        "today": _today(location),
        "prev_url": reverse("scheduling:calendar_day", args=[location.pk, day - timedelta(1)]),
        "next_url": reverse("scheduling:calendar_day", args=[location.pk, day + timedelta(1)]),
        "today_url": reverse("scheduling:calendar_day", args=[location.pk, _today(location)]),
        "toggle_url": reverse("scheduling:calendar_week", args=[location.pk, monday_of(day)]),
        "can_book": request.user.can("scheduling.book"),
    }
    return render(request, "scheduling/calendar_day.html", context)


@capability_required("scheduling.view_calendar")
def calendar_week_view(request: HttpRequest, location_id: int, day: date) -> HttpResponse:
    location = calendar_location(request.user, location_id)
    monday = monday_of(day)
    days = calendar_week(request.user, location, monday)
    shown = [a for d in days for a in d.appointments]
    _audit_calendar(request.user, "week", shown, location_id=location.pk, date=monday)
    today = _today(location)
    context = {
        **NAV,
        "days": days,
        "location": location,
        "monday": monday,
        "sunday": monday + timedelta(6),
        "today": today,
        "prev_url": reverse("scheduling:calendar_week", args=[location.pk, monday - timedelta(7)]),
        "next_url": reverse("scheduling:calendar_week", args=[location.pk, monday + timedelta(7)]),
        "today_url": reverse("scheduling:calendar_week", args=[location.pk, today]),
        # Back to the day view: today when this week holds it, else the Monday.
        "toggle_url": reverse(
            "scheduling:calendar_day",
            args=[location.pk, today if monday_of(today) == monday else monday],
        ),
    }
    return render(request, "scheduling/calendar_week.html", context)


@capability_required("scheduling.view_calendar")
def calendar_provider_view(request: HttpRequest, provider_id: int, day: date) -> HttpResponse:
    provider = calendar_provider(request.user, provider_id)
    monday = monday_of(day)
    days = calendar_provider_week(request.user, provider, monday)
    shown = [a for d in days for a in d.appointments]
    _audit_calendar(request.user, "provider", shown, provider_id=provider.pk, date=monday)
    today = timezone.localdate()
    context = {
        **NAV,
        "days": days,
        "provider": provider,
        "monday": monday,
        "sunday": monday + timedelta(6),
        "today": today,
        "prev_url": reverse(
            "scheduling:calendar_provider", args=[provider.pk, monday - timedelta(7)]
        ),
        "next_url": reverse(
            "scheduling:calendar_provider", args=[provider.pk, monday + timedelta(7)]
        ),
        "today_url": reverse("scheduling:calendar_provider", args=[provider.pk, today]),
    }
    return render(request, "scheduling/calendar_provider.html", context)


# Booking ----------------------------------------------------------------------------------


def _id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _booking_initial(user: User, params: Any) -> dict[str, Any]:
    """The booking form's starting values from the calendar's link (every one optional)."""
    initial: dict[str, Any] = {
        "patient": _id(params.get("patient")),
        "appointment_type": params.get("type", ""),
        "resource": _id(params.get("resource")),
        "provider": _id(params.get("provider")),
        "telehealth": params.get("telehealth") == "1",
        "request": _id(params.get("request")),
    }
    try:
        start = datetime.strptime(params.get("start", ""), "%Y-%m-%dT%H:%M")
    except ValueError:
        pass
    else:
        initial.update(date=start.date(), time=start.time())
    if initial["request"] and not initial["patient"]:
        linked = requests_visible_to(user).filter(pk=initial["request"]).first()
        if linked is not None:
            initial["patient"] = linked.patient_id
            initial["telehealth"] = initial["telehealth"] or linked.wants_telehealth
    return {k: v for k, v in initial.items() if v not in (None, "")}


@capability_required("scheduling.book")
def book(request: HttpRequest) -> HttpResponse:
    params = request.POST if request.method == "POST" else request.GET
    location_id = _id(params.get("location"))
    if location_id is None:
        location = _default_location(request)
        if location is None:
            return render(request, "scheduling/calendar_no_location.html", NAV)
    else:
        location = calendar_location(request.user, location_id)
    form = BookingForm(
        _posted(request),
        user=request.user,
        location=location,
        initial=_booking_initial(request.user, request.GET),
    )
    refusals: list[str] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            appointment = services.appointment_book(
                actor=request.user,
                patient=data["patient"],
                appointment_type=data["appointment_type"],
                location=location,
                starts_at=data["starts_at"],
                provider=data.get("provider"),
                resource=data.get("resource"),
                telehealth=data.get("telehealth", False),
                note=data.get("note", ""),
                from_request=data.get("request"),
            )
        except services.BookingRefused as refused:
            refusals = list(refused.messages)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            local = appointment.starts_at.astimezone(location.tz)
            messages.success(
                request,
                f"Booked: {appointment.appointment_type.name} for "
                f"{appointment.patient.display_name} on {local:%a %b} {local.day} at "
                f"{local:%H:%M}"
                + (f" ({appointment.resource.name})." if appointment.resource else "."),
            )
            return redirect("scheduling:appointment", appointment.patient_id, appointment.pk)
    elif request.method == "GET" and form.known_patient is not None:
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            patient_id=form.known_patient.pk,
            object_type="patient",
            object_id=form.known_patient.pk,
            detail={"page": "book"},
        )
    return render(
        request,
        "scheduling/booking_form.html",
        {
            **NAV,
            "form": form,
            "location": location,
            "refusals": refusals,
            "day_url": _booking_day_url(form, location),
        },
    )


def _booking_day_url(form: BookingForm, location: Location) -> str:
    typed = form.cleaned_data.get("date") if hasattr(form, "cleaned_data") else None
    day = typed or form.initial.get("date") or _today(location)
    return reverse("scheduling:calendar_day", args=[location.pk, day])


# One appointment --------------------------------------------------------------------------


def _appointment_of(patient: Patient, appointment_id: int) -> Appointment:
    """The appointment, which must be this patient's (404 otherwise: no probing by id)."""
    appointment = (
        Appointment.objects.select_related(
            "appointment_type",
            "location",
            "provider",
            "resource",
            "booked_by",
            "status_changed_by",
            "rescheduled_from__status_changed_by",
            "planned_session__course__protocol",
        )
        .filter(pk=appointment_id, patient=patient)
        .first()
    )
    if appointment is None:
        raise Http404("No such appointment")
    appointment.patient = patient
    return appointment


def _appointment_page(
    request: HttpRequest,
    patient: Patient,
    appointment: Appointment,
    reschedule_form: RescheduleForm | None = None,
    refusals: list[str] | None = None,
) -> HttpResponse:
    now = timezone.now()
    can_book = request.user.can("scheduling.book") and appointment.is_booked
    if can_book and reschedule_form is None:
        reschedule_form = RescheduleForm(appointment=appointment)
    context = {
        "patient": patient,
        "appointment": appointment,
        "rescheduled_to": Appointment.objects.filter(rescheduled_from=appointment)
        .select_related("status_changed_by")
        .first(),
        "video": video_link(appointment, now) if appointment.telehealth else None,
        "can_book": can_book,
        "started": appointment.starts_at <= now,
        "reschedule_form": reschedule_form if can_book else None,
        "refusals": refusals or [],
        "day": appointment.starts_at.astimezone(appointment.location.tz).date(),
        "tab": "appointments",
    }
    return render(request, "scheduling/appointment_detail.html", context)


@patient_page("scheduling.view_calendar", "appointment")
def appointment(request: HttpRequest, patient: Patient, appointment_id: int) -> HttpResponse:
    return _appointment_page(request, patient, _appointment_of(patient, appointment_id))


@patient_page("scheduling.book", "appointment_reschedule")
@require_POST
def appointment_reschedule(
    request: HttpRequest, patient: Patient, appointment_id: int
) -> HttpResponse:
    appointment = _appointment_of(patient, appointment_id)
    form = RescheduleForm(request.POST, appointment=appointment)
    refusals: list[str] = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            moved = services.appointment_reschedule(
                actor=request.user,
                appointment=appointment,
                starts_at=data["starts_at"],
                reason=data["reason"],
                provider=data.get("provider"),
                resource=data.get("resource"),
                keep_provider=False,
            )
        except services.BookingRefused as refused:
            refusals = list(refused.messages)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            local = moved.starts_at.astimezone(moved.location.tz)
            messages.success(request, f"Moved to {local:%a %b} {local.day} at {local:%H:%M}.")
            return redirect("scheduling:appointment", patient.pk, moved.pk)
    return _appointment_page(request, patient, appointment, form, refusals)


def _change_page(
    request: HttpRequest,
    patient: Patient,
    appointment_id: int,
    form_class: type,
    template: str,
    change: Any,
) -> HttpResponse:
    """A confirmation page (GET) and the change itself (POST) for cancel and no-show."""
    appointment = _appointment_of(patient, appointment_id)
    form = form_class(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            change(appointment, form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("scheduling:appointment", patient.pk, appointment.pk)
    return render(
        request,
        template,
        {"patient": patient, "appointment": appointment, "form": form, "now": timezone.now()},
    )


@patient_page("scheduling.book", "appointment_cancel")
def appointment_cancel(request: HttpRequest, patient: Patient, appointment_id: int) -> HttpResponse:
    def cancel(appointment: Appointment, data: dict[str, Any]) -> None:
        services.appointment_cancel(
            actor=request.user, appointment=appointment, reason=data["reason"]
        )
        messages.success(request, "The appointment is cancelled.")

    return _change_page(
        request, patient, appointment_id, CancelForm, "scheduling/appointment_cancel.html", cancel
    )


@patient_page("scheduling.book", "appointment_no_show")
def appointment_no_show(
    request: HttpRequest, patient: Patient, appointment_id: int
) -> HttpResponse:
    def no_show(appointment: Appointment, data: dict[str, Any]) -> None:
        services.appointment_no_show(actor=request.user, appointment=appointment, note=data["note"])
        messages.success(request, "Recorded as a no-show.")

    return _change_page(
        request, patient, appointment_id, NoShowForm, "scheduling/appointment_no_show.html", no_show
    )


# A course's sessions ----------------------------------------------------------------------


@patient_page("scheduling.book", "course_book")
def course_book(request: HttpRequest, patient: Patient, course_id: int) -> HttpResponse:
    course = (
        patient.treatment_courses.select_related("location", "protocol")
        .filter(pk=course_id)
        .first()
    )
    if course is None:
        raise Http404("No such course")
    errors: list[str] = []
    try:
        kind = services.course_series_type(course)
    except ValidationError as error:
        kind = None
        errors = list(error.messages)
    form = SeriesForm(
        _posted(request), location=course.location, kind=kind.needs if kind else "chair"
    )
    if request.method == "POST" and kind is not None and form.is_valid():
        try:
            booked = services.course_series_book(
                actor=request.user,
                course=course,
                provider=form.cleaned_data.get("provider"),
                resource=form.cleaned_data.get("resource"),
            )
        except ValidationError as error:
            # BookingRefused lists every session's problem ("Session N: ...").
            errors = list(error.messages)
        else:
            messages.success(
                request, f"{len(booked)} session{'s' if len(booked) != 1 else ''} booked."
            )
            return redirect("scheduling:course_book", patient.pk, course.pk)
    sessions = list(
        PlannedSession.objects.filter(course=course)
        .select_related("treatment_session")
        .prefetch_related(
            Prefetch(
                "appointments",
                queryset=Appointment.objects.filter(status=AppointmentStatus.BOOKED).select_related(
                    "resource", "provider"
                ),
                to_attr="live",
            )
        )
        .order_by("number")
    )
    now = timezone.now()
    # What other apps say about booking this course (coverage: an approval's end).
    panels = list(
        render_page_panels(
            "course_booking", request, patient=patient, course=course, sessions=sessions
        )
    )
    if shown := panels_shown(panels):
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            patient_id=patient.pk,
            object_type="treatment_course",
            object_id=course.pk,
            detail={"page": "course_book_panels", **shown},
        )
    for session in sessions:
        session.booking = session.live[0] if session.live else None
        session.is_past = session.starts_at < now
        session.local_day = session.starts_at.astimezone(course.location.tz).date()
    context = {
        "patient": patient,
        "course": course,
        "kind": kind,
        "form": form,
        "errors": errors,
        "sessions": sessions,
        "to_book": list(course_sessions_to_book(course, now)),
        "tab": "treatment",
        "panels": panels,
    }
    return render(request, "scheduling/booking_course.html", context)


# The ICS feed -----------------------------------------------------------------------------


@capability_required("scheduling.calendar_feed")
def calendar_feed(request: HttpRequest) -> HttpResponse:
    current = CalendarFeed.objects.filter(provider=request.user).first()
    form = FeedResetForm(_posted(request)) if current else None
    feed_url = ""
    if request.method == "POST" and (form is None or form.is_valid()):
        token = feed.calendar_feed_issue(actor=request.user)
        feed_url = request.build_absolute_uri(reverse("scheduling:calendar_feed_ics", args=[token]))
        current = CalendarFeed.objects.filter(provider=request.user).first()
        form = FeedResetForm()
    response = render(
        request,
        "scheduling/calendar_feed.html",
        {**NAV, "current": current, "form": form, "feed_url": feed_url},
    )
    # The address is a secret shown once: keep it out of caches and the back button.
    response["Cache-Control"] = "no-store"
    return response


def calendar_feed_ics(request: HttpRequest, token: str) -> HttpResponse:
    """No login (calendar apps cannot log in): the unguessable token is the key."""
    current = feed.calendar_feed_find(token)
    if current is None:
        raise Http404("No such calendar")
    appointments = feed_appointments(current.provider, timezone.now())
    body = feed.calendar_ics(
        current.provider,
        appointments,
        lambda a: request.build_absolute_uri(
            reverse("scheduling:appointment", args=[a.patient_id, a.pk])
        ),
    )
    feed.calendar_feed_fetched(feed=current, appointments=appointments)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="ketaclinic.ics"'
    response["Cache-Control"] = "private, no-store"
    return response
