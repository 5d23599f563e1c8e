"""Session charting pages: thin views over charting.services (writes) and selectors (reads)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.models import User
from ketaclinic.accounts.selectors import chosen_location_id, locations_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.charting import forms, services
from ketaclinic.charting.charts import (
    ChartAlert,
    ChartReading,
    ChartThresholds,
    chart_window,
    session_chart_svg,
)
from ketaclinic.charting.models import (
    AdverseEvent,
    Intervention,
    SessionAlert,
    SessionNote,
    SessionScore,
    SessionStatus,
    SideEffect,
    TreatmentSession,
    VitalSign,
)
from ketaclinic.charting.rems_pdf import rems_form_pdf
from ketaclinic.charting.rules import session_rules
from ketaclinic.charting.selectors import (
    board_rows,
    board_sessions,
    dosing_blockers,
    patient_sessions,
    planned_get_for_patient,
    presession_questionnaires,
    rems_form,
    rems_worklist,
    session_chart,
    session_draws,
    session_get_for_user,
    witness_candidates,
)
from ketaclinic.clinical.dosing import esketamine_dose
from ketaclinic.clinical.rems import rems_due_date, rems_form_status
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import patient_page
from ketaclinic.register import services as register
from ketaclinic.register.models import Container, EntryKind, LedgerEntry

# A page that refreshes itself is audited again only after this long (docs/audit.md).
POLLED_AUDIT_INTERVAL = timedelta(minutes=5)
# The sessions tab, a page at a time (a course of induction and maintenance fits on one).
SESSIONS_PAGE_SIZE = 50


def session_page(
    capability: str, page: str, repeat_after: timedelta | None = None
) -> Callable[..., Callable[..., HttpResponse]]:
    """A page about one session of one patient: everything patient_page checks, and the
    session belongs to that patient (404 otherwise)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @patient_page(capability, page, repeat_after=repeat_after)
        @wraps(view)
        def wrapped(
            request: HttpRequest, patient: Patient, session_id: int, **kwargs: Any
        ) -> HttpResponse:
            session = session_get_for_user(request.user, patient, session_id)
            return view(request, patient, session, **kwargs)

        return wrapped

    return decorator


def _chart_url(session: TreatmentSession) -> str:
    return reverse("charting:session", args=[session.patient_id, session.pk])


def _tz(session: TreatmentSession) -> Any:
    return session.location.tz


@patient_page("sessions.view", "sessions")
def tab(request: HttpRequest, patient: Patient) -> HttpResponse:
    page = Paginator(patient_sessions(patient), SESSIONS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "charting/tab.html",
        {"patient": patient, "tab": "sessions", "planned": page, "page": page},
    )


@patient_page("sessions.check_in", "check_in")
@require_POST
def check_in(request: HttpRequest, patient: Patient, planned_id: int) -> HttpResponse:
    planned = planned_get_for_patient(patient, planned_id)
    form = forms.CheckInForm(request.POST)
    chair = form.cleaned_data.get("chair") if form.is_valid() else None
    try:
        session = services.session_check_in(actor=request.user, planned=planned, chair=chair)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("charting:tab", patient.pk)
    messages.success(request, f"{patient.display_name} is checked in.")
    if request.user.can("sessions.record"):
        return redirect(_chart_url(session))
    return redirect("charting:tab", patient.pk)


@patient_page("sessions.check_in", "cancel")
@require_POST
def cancel(request: HttpRequest, patient: Patient, planned_id: int) -> HttpResponse:
    planned = planned_get_for_patient(patient, planned_id)
    form = forms.ReasonForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError("Give the reason for cancelling.")
        services.session_cancel(
            actor=request.user, planned=planned, reason=form.cleaned_data["reason"]
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Session cancelled.")
    return redirect("charting:tab", patient.pk)


def _chart_svg(session: TreatmentSession, chart: Any) -> str:
    t = session_rules(session.course.protocol).thresholds
    # From the first thing charted (late entries can precede check-in) to discharge or now.
    vitals = chart.counted_vitals  # a struck reading is not drawn
    start, end = chart_window(
        [v.taken_at for v in vitals] + [e.at for e in chart.events],
        begin=session.checked_in_at or session.scheduled_at,
        end=session.discharged_at or timezone.now(),
    )
    return session_chart_svg(
        readings=[
            ChartReading(
                at=v.taken_at,
                systolic=v.systolic,
                diastolic=v.diastolic,
                heart_rate=v.heart_rate,
                spo2=v.spo2,
                late=v.is_late,
            )
            for v in vitals
        ],
        start=start,
        end=end,
        dosing_from=session.dosing_started_at,
        dosing_to=session.dosing_ended_at,
        thresholds=ChartThresholds(
            critical_systolic=t.critical_systolic,
            critical_diastolic=t.critical_diastolic,
            heart_rate_high=t.heart_rate_high,
            spo2_floor=t.spo2_floor,
        ),
        alerts=[ChartAlert(at=a.at, label=a.message, open=a.is_open) for a in chart.alerts],
        tz=_tz(session),
    )


def _live_context(request: HttpRequest, session: TreatmentSession) -> dict[str, Any]:
    now = timezone.now()
    if session.is_open:
        services.overdue_alerts_refresh([_with_last_vitals(session)], now)
    chart = session_chart(session, now)
    rules = session_rules(session.course.protocol)
    return {
        "session": session,
        "patient": session.patient,
        "chart": chart,
        "svg": mark_safe(_chart_svg(session, chart)),  # noqa: S308 - escaped by charts.py
        "rules": rules,
        "now": now,
        "vitals_form": forms.VitalsForm(tz=_tz(session)),
        "ack_form": forms.AcknowledgeForm(),
        "note_signed": SessionNote.objects.filter(session=session).exists(),
    }


def _with_last_vitals(session: TreatmentSession) -> TreatmentSession:
    session.open_alert_list = list(session.alerts.filter(acknowledged_at__isnull=True))
    session.last_vitals_at = (
        session.vital_signs.filter(predose=False)
        .order_by("-taken_at")
        .values_list("taken_at", flat=True)
        .first()
    )
    return session


@session_page("sessions.view", "session")
def session_view(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    context = _live_context(request, session)
    rules = context["rules"]
    context.update(
        {
            "tab": "sessions",
            "blockers": dosing_blockers(session)
            if session.status in (SessionStatus.CHECKED_IN, SessionStatus.PRECHECKED)
            else [],
            "prechecks_form": forms.PrechecksForm(
                initial={
                    "weight_kg": session.weight_kg or session.course.weight_kg,
                    "food_and_drink": session.food_and_drink,
                    "escort_name": session.escort_name,
                    "escort_phone": session.escort_phone,
                    "pregnancy_test": session.pregnancy_test
                    or ("negative" if rules.pregnancy_test_each_session else "not_required"),
                    "medication_changes": session.medication_changes,
                }
            ),
            "dose_form": forms.DoseChangeForm(
                initial={"dose_mg": session.dose_mg}, auto_id="dose-%s"
            ),
            "score_form": forms.ScoreForm(tz=_tz(session), auto_id="score-%s"),
            "side_effect_form": forms.SideEffectForm(tz=_tz(session), auto_id="effect-%s"),
            "intervention_form": forms.InterventionForm(tz=_tz(session), auto_id="care-%s"),
            "adverse_form": forms.AdverseEventForm(tz=_tz(session), auto_id="adverse-%s"),
            "confirmations_form": forms.ConfirmationsForm(
                initial={
                    "symptoms_resolved": session.symptoms_resolved,
                    "escort_present": session.escort_present,
                    "instructions_given": session.instructions_given,
                }
            ),
            "override_form": forms.OverrideForm(auto_id="override-%s"),
            "sign_form": forms.SignForm(),
            "password_form": forms.PasswordForm(auto_id="cosign-%s"),
            "addendum_form": forms.AddendumForm(),
            "reason_form": forms.ReasonForm(),
            "note": SessionNote.objects.filter(session=session).first(),
            "questionnaires": presession_questionnaires(session),
            "containers": _containers_with_dose_volume(session, context["chart"].dose)
            if session.dosing_started_at is None
            else [],
            "draws": session_draws(session),
            "witnesses": witness_candidates(session, request.user),
            "statuses": [
                (s.value, s.label)
                for s in SessionStatus
                if s not in (SessionStatus.CANCELLED, SessionStatus.STOPPED_EARLY)
                or s == session.status
            ],
            "device_count": esketamine_dose(
                dose_mg=int(session.dose_mg or session.planned_dose_mg)
            ).devices
            if session.is_esketamine
            else 0,
            "cosign_required": settings.KETACLINIC_NOTE_COSIGNATURE,
            "devices_given": sum(1 for e in context["chart"].events if e.kind == "device"),
            "last_event": context["chart"].events[-1] if context["chart"].events else None,
        }
    )
    if session.is_esketamine:
        day = session.treatment_date
        submission = getattr(session, "rems_submission", None)
        context["rems_status"] = rems_form_status(
            treatment_date=day,
            submitted_on=submission.submitted_on if submission else None,
            today=timezone.localdate(timezone=_tz(session)),
            due_days=rules.rems_form_due_days,
        )
        context["rems_due"] = rems_due_date(day, rules.rems_form_due_days)
        context["rems_submission"] = submission
        context["rems_form_form"] = forms.RemsSubmissionForm(
            initial={"submitted_on": timezone.localdate(timezone=_tz(session))}
        )
    return render(request, "charting/session.html", context)


@session_page("sessions.view", "session_live", repeat_after=POLLED_AUDIT_INTERVAL)
def live(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    """The part of the chart that changes while the patient is in the chair (htmx polls)."""
    return render(request, "charting/_live.html", _live_context(request, session))


def _resubmitted_fields(request: HttpRequest) -> list[tuple[str, str]]:
    """What was posted, to post again with the confirmation (never a password)."""
    return [
        (name, value)
        for name, values in request.POST.lists()
        for value in values
        if name not in ("csrfmiddlewaretoken", "confirm") and "password" not in name
    ]


def _confirm_page(
    request: HttpRequest, session: TreatmentSession, error: services.ConfirmationNeeded
) -> HttpResponse:
    """Nothing is saved yet: the entry is unusual. Show why, and offer to save the same
    entry with the confirmation, or to go back and correct it."""
    return render(
        request,
        "charting/confirm.html",
        {
            "session": session,
            "patient": session.patient,
            "findings": error.findings,
            "fields": _resubmitted_fields(request),
            "action": request.path,
            "back": _chart_url(session),
        },
    )


def _act(
    request: HttpRequest, session: TreatmentSession, action: Callable[[], Any], done: str
) -> HttpResponse:
    try:
        action()
    except services.ConfirmationNeeded as unusual:
        return _confirm_page(request, session, unusual)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect(_chart_url(session))


def _form_errors(form: Any) -> ValidationError:
    texts = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        texts += [f"{label}: {e}" if label else str(e) for e in errors]
    return ValidationError(" ".join(texts) or "Check the form.")


def _valid(form: Any) -> Any:
    if not form.is_valid():
        raise _form_errors(form)
    return form.cleaned_data


@session_page("sessions.record", "prechecks")
@require_POST
def prechecks(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        data = _valid(forms.PrechecksForm(request.POST))
        services.prechecks_record(
            actor=request.user,
            session=session,
            version=int(request.POST.get("version", 0)),
            **data,
        )

    return _act(request, session, save, "Pre-checks saved.")


@session_page("sessions.prescribe", "dose_change")
@require_POST
def dose_change(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        data = _valid(forms.DoseChangeForm(request.POST))
        services.dose_change(
            actor=request.user,
            session=session,
            dose_mg=data["dose_mg"],
            reason=data["reason"],
            confirm=data["confirm"],
        )

    return _act(request, session, save, "Dose changed.")


@session_page("sessions.record", "dosing")
@require_POST
def dosing(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        form = forms.DosingForm(request.POST, tz=_tz(session))
        data = _valid(form)
        container = None
        if data["container"]:
            container = _usable_containers(session).filter(pk=data["container"]).first()
            if container is None:
                raise ValidationError("That container cannot be drawn from here.")
        services.dosing_record(
            actor=request.user,
            session=session,
            kind=data["kind"],
            at=form.taken_at(),
            reason=data["reason"],
            lot_number=data["lot_number"],
            amount_drawn_ml=data["amount_drawn_ml"],
            pump_rate_ml_per_h=data["pump_rate_ml_per_h"],
            container=container,
            confirm=data["confirm"],
        )

    return _act(request, session, save, "Recorded.")


@session_page("sessions.record", "vitals")
@require_POST
def vitals(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    """Saved without a page reload: htmx swaps the live panel; plain POST redirects."""
    form = forms.VitalsForm(request.POST, tz=_tz(session))
    error = ""
    unusual = None
    try:
        data = _valid(form)
        services.vitals_record(
            actor=request.user,
            session=session,
            taken_at=form.taken_at(),
            **{k: v for k, v in data.items() if k != "taken_time"},
        )
    except services.ConfirmationNeeded as needed:
        unusual = needed
        error = " ".join(needed.messages)
    except ValidationError as problem:
        error = " ".join(problem.messages)
    if not request.htmx:
        if unusual is not None:
            return _confirm_page(request, session, unusual)
        if error:
            messages.error(request, error)
        return redirect(_chart_url(session))
    session.refresh_from_db()
    context = _live_context(request, session)
    if error:
        context["vitals_form"] = form
        context["vitals_error"] = error
        if unusual is not None:
            context["vitals_confirm"] = _resubmitted_fields(request)
    else:
        context["vitals_saved"] = True
    # 200 either way so htmx swaps in the message; the trigger tells the page to clear the
    # form only after a save (a refused reading keeps what was typed).
    response = render(request, "charting/_live.html", context)
    if not error:
        response["HX-Trigger"] = "vitalsSaved"
    return response


def _containers_with_dose_volume(session: TreatmentSession, dose: Any) -> list[Container]:
    """The containers to draw today's dose from, each with the volume of it the dose takes
    (`dose_ml`: the strengths differ)."""
    containers = list(_usable_containers(session).select_related("product")[:30])
    for container in containers:
        strength = container.product.strength_mg_per_ml
        container.dose_ml = (
            (dose.dose_mg / strength).quantize(Decimal("0.01"))
            if dose.dose_mg and strength
            else None
        )
    return containers


def _usable_containers(session: TreatmentSession) -> Any:
    drug = "esketamine" if session.is_esketamine else "ketamine"
    return Container.objects.usable(session.location_id, drug)


@session_page("sessions.record", "account_draw")
@require_POST
def account_draw(
    request: HttpRequest, patient: Patient, session: TreatmentSession, draw_id: int
) -> HttpResponse:
    """Record what was given from a draw and waste the rest before a witness, in one step."""
    draw = get_object_or_404(LedgerEntry, pk=draw_id, session=session, kind=EntryKind.DRAW)

    def save() -> None:
        data = _valid(forms.AccountForm(request.POST))
        witness = None
        if data["witness"]:
            witness = User.objects.filter(pk=data["witness"]).first()
        register.draw_account(
            actor=request.user,
            draw=draw,
            administered_ml=data["administered_ml"],
            wasted_ml=data["wasted_ml"],
            witness=witness,
            witness_password=data["witness_password"],
        )

    return _act(request, session, save, "Recorded in the controlled-substance register.")


@session_page("sessions.record", "score")
@require_POST
def score(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        form = forms.ScoreForm(request.POST, tz=_tz(session))
        data = _valid(form)
        services.score_record(
            actor=request.user,
            session=session,
            instrument=data["instrument"],
            score=data["score"],
            taken_at=form.taken_at(),
        )

    return _act(request, session, save, "Score recorded.")


OBSERVATION_FORMS = {
    "side-effect": (forms.SideEffectForm, SideEffect, "Side effect recorded."),
    "intervention": (forms.InterventionForm, Intervention, "Intervention recorded."),
    "adverse-event": (forms.AdverseEventForm, AdverseEvent, "Adverse event recorded."),
}


def _observation(kind: str) -> Callable[..., HttpResponse]:
    form_class, model, done = OBSERVATION_FORMS[kind]

    @session_page("sessions.record", kind)
    @require_POST
    def view(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
        def save() -> None:
            form = form_class(request.POST, tz=_tz(session))
            data = _valid(form)
            fields = {k: v for k, v in data.items() if k != "taken_time"}
            fields["taken_at"] = form.taken_at()
            services.observation_record(
                actor=request.user, session=session, model=model, fields=fields
            )

        return _act(request, session, save, done)

    return view


side_effect = _observation("side-effect")
intervention = _observation("intervention")
adverse_event = _observation("adverse-event")

STRIKABLE_ENTRIES = {
    "vital-sign": VitalSign,
    "score": SessionScore,
    "side-effect": SideEffect,
    "intervention": Intervention,
    "adverse-event": AdverseEvent,
}


@session_page("sessions.record", "entry_strike")
@require_POST
def strike(
    request: HttpRequest, patient: Patient, session: TreatmentSession, kind: str, entry_id: int
) -> HttpResponse:
    """Strike one charted entry through as entered in error, with the reason."""
    model = STRIKABLE_ENTRIES.get(kind)
    if model is None:
        raise Http404("No such kind of entry")
    entry = get_object_or_404(model, pk=entry_id, session=session)

    def save() -> None:
        data = _valid(forms.StrikeForm(request.POST))
        services.entry_strike(
            actor=request.user, session=session, entry=entry, reason=data["reason"]
        )

    return _act(request, session, save, "Struck through: it stays on the chart, not counted.")


@session_page("sessions.record", "alert_acknowledge")
@require_POST
def alert_acknowledge(
    request: HttpRequest, patient: Patient, session: TreatmentSession, session_alert_id: int
) -> HttpResponse:
    alert = get_object_or_404(SessionAlert, pk=session_alert_id, session=session)
    form = forms.AcknowledgeForm(request.POST)

    def save() -> None:
        data = _valid(form)
        services.alert_acknowledge(
            actor=request.user, alert=alert, action_taken=data["action_taken"]
        )

    response = _act(request, session, save, "Alert acknowledged.")
    if request.htmx:
        session.refresh_from_db()
        return render(request, "charting/_live.html", _live_context(request, session))
    return response


@session_page("sessions.record", "confirmations")
@require_POST
def confirmations(
    request: HttpRequest, patient: Patient, session: TreatmentSession
) -> HttpResponse:
    def save() -> None:
        data = _valid(forms.ConfirmationsForm(request.POST))
        services.discharge_confirmations_record(actor=request.user, session=session, **data)

    return _act(request, session, save, "Saved.")


@session_page("sessions.record", "discharge")
@require_POST
def discharge(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        reason, password = "", ""
        if request.POST.get("override"):
            data = _valid(forms.OverrideForm(request.POST))
            reason, password = data["override_reason"], data["password"]
        services.session_discharge(
            actor=request.user, session=session, override_reason=reason, password=password
        )

    return _act(request, session, save, "Discharged.")


@session_page("sessions.record", "stop_early")
@require_POST
def stop_early(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        data = _valid(forms.ReasonForm(request.POST))
        services.session_stop_early(actor=request.user, session=session, reason=data["reason"])

    return _act(request, session, save, "Session stopped.")


@session_page("sessions.sign_note", "sign_note")
@require_POST
def sign_note(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        data = _valid(forms.SignForm(request.POST))
        services.note_sign(
            actor=request.user, session=session, password=data["password"], comment=data["comment"]
        )

    return _act(request, session, save, "Note signed.")


@session_page("sessions.prescribe", "cosign_note")
@require_POST
def cosign_note(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        data = _valid(forms.PasswordForm(request.POST))
        note = getattr(session, "note", None)
        if note is None:
            raise ValidationError("There is no signed note to co-sign.")
        services.note_cosign(actor=request.user, note=note, password=data["password"])

    return _act(request, session, save, "Note co-signed.")


@session_page("sessions.sign_note", "addendum")
@require_POST
def addendum(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        data = _valid(forms.AddendumForm(request.POST))
        note = getattr(session, "note", None)
        if note is None:
            raise ValidationError("Addenda are added to a signed note.")
        services.note_addendum_add(actor=request.user, note=note, body=data["body"])

    return _act(request, session, save, "Addendum added.")


@session_page("sessions.view", "discharge_instructions")
def discharge_instructions(
    request: HttpRequest, patient: Patient, session: TreatmentSession
) -> HttpResponse:
    return render(
        request,
        "charting/discharge_instructions.html",
        {"session": session, "patient": patient, "rules": session_rules(session.course.protocol)},
    )


@session_page("sessions.rems", "rems_form")
def rems(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    if not session.is_esketamine:
        return redirect(_chart_url(session))
    form = rems_form(session)
    if request.GET.get("format") == "pdf":
        audit_record(
            actor=request.user,
            action=AuditAction.EXPORT,
            patient_id=patient.pk,
            object_type="rems_form",
            object_id=session.pk,
        )
        local = timezone.localtime(session.scheduled_at, _tz(session))
        generated = timezone.localtime(timezone.now(), _tz(session))
        pdf = rems_form_pdf(
            form,
            title=f"{patient.legal_first_name} {patient.legal_last_name}, {local:%Y-%m-%d}",
            generated_at_text=f"Generated by ketaclinic {generated:%Y-%m-%d %H:%M}",
        )
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = (
            f'inline; filename="rems-monitoring-{patient.mrn}-{local:%Y%m%d}.pdf"'
        )
        return response
    return render(
        request,
        "charting/rems_form.html",
        {
            "session": session,
            "patient": patient,
            "form": form,
            "submission": getattr(session, "rems_submission", None),
        },
    )


@session_page("sessions.rems", "rems_submit")
@require_POST
def rems_submit(request: HttpRequest, patient: Patient, session: TreatmentSession) -> HttpResponse:
    def save() -> None:
        data = _valid(forms.RemsSubmissionForm(request.POST))
        services.rems_submission_record(actor=request.user, session=session, **data)

    return _act(request, session, save, "REMS form recorded as submitted.")


# --- location pages --------------------------------------------------------------------


def _board_location(request: HttpRequest) -> Any:
    locations = list(locations_for(request.user))
    wanted = request.GET.get("location") or chosen_location_id(request)
    for location in locations:
        if str(location.pk) == str(wanted):
            return location, locations
    return (locations[0] if locations else None), locations


def _board_context(request: HttpRequest) -> dict[str, Any]:
    location, locations = _board_location(request)
    now = timezone.now()
    rows = []
    if location is not None:
        day = timezone.localdate(now, timezone=location.tz)
        sessions = board_sessions(location, day)
        if services.overdue_alerts_refresh(sessions, now):
            sessions = board_sessions(location, day)
        rows = board_rows(location, day, now, sessions)
        services.audit_session_views(
            request.user,
            [r.session for r in rows if r.session is not None],
            "chair_board",
            repeat_after=POLLED_AUDIT_INTERVAL,
        )
    return {"location": location, "locations": locations, "rows": rows, "now": now}


@capability_required("sessions.view")
def board(request: HttpRequest) -> HttpResponse:
    return render(
        request, "charting/board.html", {**_board_context(request), "nav_section": "board"}
    )


@capability_required("sessions.view")
def board_rows_view(request: HttpRequest) -> HttpResponse:
    return render(request, "charting/_board_rows.html", _board_context(request))


@capability_required("sessions.rems")
def rems_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    status = status if status in ("pending", "submitted", "overdue") else ""
    try:
        number = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        number = 1
    page = rems_worklist(
        request.user, location_id=chosen_location_id(request), status=status, page=number
    )
    services.audit_session_views(request.user, [r.session for r in page], "rems_list")
    return render(
        request, "charting/rems_list.html", {"page": page, "status": status, "nav_section": "rems"}
    )
