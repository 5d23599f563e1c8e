"""Therapy pages: the chart's Therapy tab (integration plan, visits, notes), booking a
therapy visit, therapy notes (draft, sign, addenda), psychotherapy notes (their author's
only) and a location's integration window. Thin: parse, call a service or a selector,
render. Every page about a patient is audited (patients.views.patient_page)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import location_asked_for
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import patient_page
from ketaclinic.scheduling.models import Appointment
from ketaclinic.scheduling.selectors import appointment_types_for
from ketaclinic.scheduling.services import BookingRefused
from ketaclinic.therapy import forms, services
from ketaclinic.therapy.models import NoteKind, TherapyNote
from ketaclinic.therapy.rules import (
    INTEGRATION_TYPE_KEY,
    note_fields,
    risk_check_labels,
    therapy_type_keys,
    window_for,
)
from ketaclinic.therapy.selectors import (
    course_integration_plan,
    dissociation_trend,
    dosing_anchor,
    dosing_session_get,
    patient_courses,
    patient_therapy_visits,
    psychotherapy_note_get,
    psychotherapy_notes_for,
    therapy_note_get,
    therapy_notes_for,
)

NOTES_PAGE_SIZE = 30


def _id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@patient_page("therapy.view_notes", "therapy")
def tab(request: HttpRequest, patient: Patient) -> HttpResponse:
    courses = list(patient_courses(patient))
    chosen = _id(request.GET.get("course"))
    course = next((c for c in courses if c.pk == chosen), courses[0] if courses else None)
    now = timezone.now()
    window = window_for(patient.primary_location)
    plan = course_integration_plan(course, now, window) if course else []
    visits = list(patient_therapy_visits(patient)[:20])
    notes = Paginator(therapy_notes_for(request.user, patient), NOTES_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "therapy/tab.html",
        {
            "patient": patient,
            "tab": "therapy",
            "courses": courses,
            "course": course,
            "plan": plan,
            "trend": dissociation_trend(plan),
            "window": window,
            "visits": visits,
            "notes": notes,
            "page": notes,
            "now": now,
            "kinds": NoteKind.choices,
            "zone": patient.primary_location.timezone,
        },
    )


# --- booking -------------------------------------------------------------------------------


def _booking_initial(request: HttpRequest, patient: Patient) -> dict[str, Any]:
    """Starting values: the integration type and a time in the window of the dosing
    session the therapist came from (the next full hour after it opens, or now)."""
    initial: dict[str, Any] = {"telehealth": False}
    if request.user.role == "therapist":
        initial["provider"] = request.user.pk
    keys = therapy_type_keys()
    wanted = request.GET.get("type", "")
    session_id = _id(request.GET.get("after"))
    if session_id is not None:
        wanted = INTEGRATION_TYPE_KEY
        session = dosing_session_get(patient, session_id)
        initial["after_session"] = session.pk
        location = patient.primary_location
        start = max(
            dosing_anchor(session) + timedelta(hours=window_for(location).opens_after_hours),
            timezone.now(),
        )
        local = (start.astimezone(location.tz) + timedelta(days=1)).replace(
            minute=0, second=0, microsecond=0
        )
        initial.update(date=local.date(), time=time(10, 0))
    if wanted in keys:
        from_type = [t for t in appointment_types_for(patient.primary_location) if t.key == wanted]
        if from_type:
            initial["appointment_type"] = from_type[0].pk
    return initial


@patient_page("scheduling.book", "therapy_book")
def book(request: HttpRequest, patient: Patient) -> HttpResponse:
    location = patient.primary_location
    form = forms.TherapyVisitForm(
        request.POST if request.method == "POST" else None,
        location=location,
        initial=_booking_initial(request, patient) if request.method == "GET" else None,
    )
    refusals: list[str] = []
    after = None
    session_id = (
        form.data.get("after_session") if form.is_bound else form.initial.get("after_session")
    )
    if session_id:
        after = dosing_session_get(patient, int(session_id)) if str(session_id).isdigit() else None
        if after is None:
            raise Http404("No such dosing session")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            appointment = services.therapy_visit_book(
                actor=request.user,
                patient=patient,
                appointment_type=data["appointment_type"],
                starts_at=data["starts_at"],
                provider=data["provider"],
                telehealth=data.get("telehealth", False),
                after_session=after,
                note=data.get("note", ""),
            )
        except BookingRefused as refused:
            refusals = list(refused.messages)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            local = appointment.starts_at.astimezone(location.tz)
            messages.success(
                request,
                f"Booked: {appointment.appointment_type.name} for {patient.display_name} on "
                f"{local:%a %b} {local.day} at {local:%H:%M}"
                + (
                    " (video)."
                    if appointment.telehealth
                    else f" ({appointment.resource.name})."
                    if appointment.resource
                    else "."
                ),
            )
            return redirect("therapy:tab", patient.pk)
    window = window_for(location)
    context = {
        "patient": patient,
        "tab": "therapy",
        "form": form,
        "refusals": refusals,
        "after": after,
        "window": window,
        "window_opens": window.opens(dosing_anchor(after)) if after else None,
        "window_closes": window.closes(dosing_anchor(after)) if after else None,
        "zone": location.timezone,
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "therapy/book.html", context, status=status)


# --- therapy notes ---------------------------------------------------------------------------


def _appointment_of(patient: Patient, appointment_id: int | None) -> Appointment | None:
    if appointment_id is None:
        return None
    appointment = patient_therapy_visits(patient).filter(pk=appointment_id).first()
    if appointment is None:
        raise Http404("No such therapy visit")
    return appointment


@patient_page("therapy.write_notes", "therapy_note_new")
def note_new(request: HttpRequest, patient: Patient) -> HttpResponse:
    params = request.POST if request.method == "POST" else request.GET
    appointment = _appointment_of(patient, _id(params.get("appointment")))
    kind = params.get("kind", "")
    if appointment is not None and not kind:
        kind = therapy_type_keys().get(appointment.appointment_type.key, "")
    if kind not in NoteKind.values:
        kind = NoteKind.INTEGRATION
    dosing = None
    if _id(params.get("dosing_session")) is not None:
        dosing = dosing_session_get(patient, int(params["dosing_session"]))
    initial: dict[str, Any] = {
        "session_date": timezone.localdate(timezone=patient.primary_location.tz)
    }
    if appointment is not None:
        initial["session_date"] = appointment.starts_at.astimezone(
            patient.primary_location.tz
        ).date()
    form = forms.TherapyNoteForm(
        request.POST if request.method == "POST" else None, kind=kind, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        try:
            note = services.therapy_note_create(
                actor=request.user,
                patient=patient,
                kind=kind,
                session_date=form.cleaned_data["session_date"],
                answers=form.answers(),
                risk_check=form.cleaned_data["risk_check"],
                appointment=appointment,
                dosing_session=dosing,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Draft saved. Sign it when it is complete.")
            return redirect("therapy:note", patient.pk, note.pk)
    return render(
        request,
        "therapy/note_form.html",
        {
            "patient": patient,
            "tab": "therapy",
            "form": form,
            "kind": kind,
            "kind_label": NoteKind(kind).label,
            "kinds": NoteKind.choices,
            "appointment": appointment,
            "dosing": dosing,
        },
        status=400 if request.method == "POST" else 200,
    )


def _note_context(
    request: HttpRequest, patient: Patient, note: TherapyNote, **extra: Any
) -> dict[str, Any]:
    labels = risk_check_labels()
    return {
        "patient": patient,
        "tab": "therapy",
        "note": note,
        "fields": [
            (label, note.answers.get(name, "")) for name, label, _ in note_fields(note.kind)
        ],
        "risk_label": labels.get(note.risk_check, note.risk_check),
        "addenda": list(note.addenda.all()),
        "is_author": note.author_id == request.user.pk,
        "edit_form": extra.pop("edit_form", None)
        or forms.TherapyNoteForm(
            kind=note.kind,
            with_date=False,
            initial={**note.answers, "risk_check": note.risk_check},
        ),
        "password_form": extra.pop("password_form", None) or forms.PasswordForm(),
        "addendum_form": extra.pop("addendum_form", None) or forms.AddendumForm(),
        **extra,
    }


@patient_page("therapy.view_notes", "therapy_note")
def note(request: HttpRequest, patient: Patient, therapy_note_id: int) -> HttpResponse:
    """A therapy note; its author changes a draft here (POST)."""
    current = therapy_note_get(request.user, patient, therapy_note_id)
    if request.method == "POST":
        form = forms.TherapyNoteForm(request.POST, kind=current.kind, with_date=False)
        if form.is_valid():
            try:
                services.therapy_note_update(
                    actor=request.user,
                    note=current,
                    answers=form.answers(),
                    risk_check=form.cleaned_data["risk_check"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "Draft saved.")
                return redirect("therapy:note", patient.pk, current.pk)
        return render(
            request,
            "therapy/note.html",
            _note_context(request, patient, current, edit_form=form),
            status=400,
        )
    return render(request, "therapy/note.html", _note_context(request, patient, current))


def _note_action(
    request: HttpRequest,
    patient: Patient,
    therapy_note_id: int,
    form_class: type[Any],
    context_key: str,
    act: Callable[[TherapyNote, dict[str, Any]], object],
    done: str,
) -> HttpResponse:
    """Sign or amend a note: the form, the service, back to the note (or the note page
    again with the form's errors, nothing saved)."""
    current = therapy_note_get(request.user, patient, therapy_note_id)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            act(current, form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, done)
            return redirect("therapy:note", patient.pk, current.pk)
    return render(
        request,
        "therapy/note.html",
        _note_context(request, patient, current, **{context_key: form}),
        status=400,
    )


@patient_page("therapy.write_notes", "therapy_note_sign")
@require_POST
def note_sign(request: HttpRequest, patient: Patient, therapy_note_id: int) -> HttpResponse:
    return _note_action(
        request,
        patient,
        therapy_note_id,
        forms.PasswordForm,
        "password_form",
        lambda note, data: services.therapy_note_sign(
            actor=request.user, note=note, password=data["password"]
        ),
        "Note signed. It can no longer be edited, only added to.",
    )


@patient_page("therapy.write_notes", "therapy_note_addendum")
@require_POST
def note_addendum(request: HttpRequest, patient: Patient, therapy_note_id: int) -> HttpResponse:
    return _note_action(
        request,
        patient,
        therapy_note_id,
        forms.AddendumForm,
        "addendum_form",
        lambda note, data: services.therapy_note_addendum_add(
            actor=request.user, note=note, body=data["body"]
        ),
        "Addendum added.",
    )


# --- psychotherapy notes -------------------------------------------------------------------


@patient_page("therapy.psychotherapy_notes", "psychotherapy_notes")
def psychotherapy_notes(request: HttpRequest, patient: Patient) -> HttpResponse:
    """The reader's own psychotherapy notes about the patient, and a new one (POST)."""
    form = forms.PsychotherapyNoteForm(
        request.POST if request.method == "POST" else None,
        initial={"session_date": timezone.localdate(timezone=patient.primary_location.tz)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.psychotherapy_note_add(
                actor=request.user,
                patient=patient,
                session_date=form.cleaned_data["session_date"],
                body=form.cleaned_data["body"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Psychotherapy note saved. Only you can read it.")
            return redirect("therapy:psychotherapy_notes", patient.pk)
    return render(
        request,
        "therapy/psychotherapy_notes.html",
        {
            "patient": patient,
            "tab": "therapy",
            "form": form,
            "notes": list(psychotherapy_notes_for(request.user, patient)[:100]),
        },
        status=400 if request.method == "POST" else 200,
    )


@patient_page("therapy.psychotherapy_notes", "psychotherapy_note")
def psychotherapy_note(
    request: HttpRequest, patient: Patient, psychotherapy_note_id: int
) -> HttpResponse:
    current = psychotherapy_note_get(request.user, patient, psychotherapy_note_id)
    return render(
        request,
        "therapy/psychotherapy_note.html",
        {"patient": patient, "tab": "therapy", "note": current},
    )


# --- settings --------------------------------------------------------------------------------


@capability_required("therapy.configure")
def settings_view(request: HttpRequest) -> HttpResponse:
    """Each location's integration window (a director's)."""
    location, locations = location_asked_for(request)
    if location is None:
        raise Http404("No location")
    window = window_for(location)
    form = forms.TherapySettingsForm(
        request.POST if request.method == "POST" else None,
        initial={
            "integration_opens_after_hours": window.opens_after_hours,
            "integration_closes_after_hours": window.closes_after_hours,
            "source": window.source[:300],
        },
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.therapy_settings_update(
                actor=request.user,
                location=location,
                opens_after_hours=data["integration_opens_after_hours"],
                closes_after_hours=data["integration_closes_after_hours"],
                source=data["source"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Integration window saved for {location.name}.")
            return redirect(f"{request.path}?location={location.pk}")
    return render(
        request,
        "therapy/settings.html",
        {"form": form, "location": location, "locations": locations, "window": window},
        status=400 if request.method == "POST" else 200,
    )
