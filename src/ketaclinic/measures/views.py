from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import chosen_location_id
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.scoring import UnknownInstrumentError, get_instrument
from ketaclinic.instruments.schema import INSTRUMENT_KEYS
from ketaclinic.measures import services
from ketaclinic.measures.forms import (
    AcknowledgeForm,
    AnswersForm,
    RecordContextForm,
    ScheduleForm,
    SendSelfReportForm,
)
from ketaclinic.measures.models import SelfReportRequest
from ketaclinic.measures.selectors import (
    alert_get_for_user,
    due_questionnaires,
    escalation_cutoff,
    open_alerts_for,
    open_self_reports,
    overdue_before,
    patient_alert_history,
    patient_schedule,
    patient_trends,
    recent_acknowledged_alerts,
)
from ketaclinic.organization.selectors import crisis_line
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import patient_page
from ketaclinic.plugins import render_page_panels


@patient_page("measures.view_scores", "scores")
def scores(request: HttpRequest, patient: Patient) -> HttpResponse:
    return render(
        request,
        "measures/scores.html",
        {
            "patient": patient,
            "tab": "scores",
            "trends": patient_trends(patient),
            "schedule": patient_schedule(patient),
            "alerts": patient_alert_history(patient),
            "open_requests": open_self_reports(patient),
            # Any instrument can be entered by a clinician (ratings, or a paper form).
            "clinician_instruments": [get_instrument(k) for k in INSTRUMENT_KEYS],
        },
    )


@patient_page("measures.record_responses", "record_response")
def record(request: HttpRequest, patient: Patient, instrument_key: str) -> HttpResponse:
    try:
        instrument = get_instrument(instrument_key)
    except UnknownInstrumentError as error:
        raise Http404("Unknown instrument") from error
    form = AnswersForm([instrument], request.POST or None)
    context_form = RecordContextForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and context_form.is_valid():
        try:
            response = services.response_record(
                actor=request.user,
                patient=patient,
                instrument_key=instrument.key,
                answers=form.answers()[instrument.key],
                context=context_form.cleaned_data["context"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            _announce(request, response)
            return redirect("measures:scores", patient_id=patient.pk)
    return render(
        request,
        "measures/record.html",
        {
            "patient": patient,
            "tab": "scores",
            "form": form,
            "context_form": context_form,
            "instrument": instrument,
        },
    )


def _announce(request: HttpRequest, response: object) -> None:
    total = response.total if response.total is not None else response.risk
    messages.success(request, f"Saved: {get_instrument(response.instrument_key).title} {total}.")
    if response.alerts:
        messages.warning(
            request,
            "A suicide-risk alert was raised and is on the care team's "
            "worklist until someone acknowledges it.",
        )


@patient_page("measures.send_self_report", "send_self_report")
def send(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = SendSelfReportForm(
        request.POST or None, initial={"valid_hours": settings.KETACLINIC_SELF_REPORT_LINK_HOURS}
    )
    if request.method == "POST" and form.is_valid():
        self_report, token = services.self_report_request_create(
            actor=request.user,
            patient=patient,
            instrument_keys=form.cleaned_data["instrument_keys"],
            context=form.cleaned_data["context"],
            valid_hours=form.cleaned_data["valid_hours"],
        )
        link = request.build_absolute_uri(reverse("measures:self_report", args=[token]))
        return render(
            request,
            "measures/send_done.html",
            {"patient": patient, "tab": "scores", "link": link, "request_": self_report},
        )
    return render(
        request, "measures/send.html", {"patient": patient, "tab": "scores", "form": form}
    )


@patient_page("measures.manage_schedule", "schedule")
def schedule(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = ScheduleForm(request.POST or None, initial={"starts_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            services.schedule_rule_set(
                actor=request.user,
                patient=patient,
                instrument_key=form.cleaned_data["instrument_key"],
                interval_days=form.cleaned_data["interval_days"],
                starts_on=form.cleaned_data["starts_on"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Schedule saved.")
            return redirect("measures:scores", patient_id=patient.pk)
    return render(
        request,
        "measures/schedule.html",
        {
            "patient": patient,
            "tab": "scores",
            "form": form,
            "schedule": patient_schedule(patient),
        },
    )


@patient_page("measures.manage_schedule", "schedule_stop")
def schedule_stop(request: HttpRequest, patient: Patient, rule_id: int) -> HttpResponse:
    rule = patient.measurement_schedule.filter(pk=rule_id, is_active=True).first()
    if rule is None:
        raise Http404("No such active rule")
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        messages.info(request, "Tick the box to confirm stopping that schedule.")
        return redirect("measures:schedule", patient_id=patient.pk)
    services.schedule_rule_stop(actor=request.user, rule=rule)
    messages.success(request, f"Stopped: {rule}.")
    return redirect("measures:schedule", patient_id=patient.pk)


@capability_required("alerts.view_worklist")
def worklist(request: HttpRequest) -> HttpResponse:
    alerts = open_alerts_for(request.user, location_id=chosen_location_id(request))
    page = Paginator(alerts, 50).get_page(request.GET.get("page"))
    acknowledged = list(recent_acknowledged_alerts(request.user, limit=10))
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="alert_worklist",
        detail={
            "alert_ids": [a.pk for a in page] + [a.pk for a in acknowledged],
            "patient_ids": sorted({a.patient_id for a in [*page, *acknowledged]}),
        },
    )
    return render(
        request,
        "measures/worklist.html",
        {
            "page": page,
            "acknowledged": acknowledged,
            "escalation_cutoff": escalation_cutoff(),
            "escalation_hours": settings.KETACLINIC_ALERT_ESCALATION_HOURS,
        },
    )


@capability_required("alerts.view_worklist")
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = alert_get_for_user(request.user, alert_id)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=alert.patient_id,
        object_type="safety_alert",
        object_id=alert.pk,
    )
    form = AcknowledgeForm(request.POST or None)
    if request.method == "POST":
        if not request.user.can("alerts.acknowledge"):
            raise PermissionDenied("Your role may not acknowledge alerts.")
        if form.is_valid():
            try:
                services.alert_acknowledge(
                    actor=request.user,
                    alert=alert,
                    action=form.cleaned_data["action"],
                    note=form.cleaned_data["note"],
                )
            except services.AlreadyAcknowledgedError as error:
                messages.info(request, str(error))
                return redirect("measures:alert", alert_id=alert.pk)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, "Alert acknowledged; your action is on the record.")
                return redirect("measures:worklist")
    instrument = get_instrument(alert.response.instrument_key)
    # Mark the answers that raised the alert (e.g. PHQ-9 item 9, QIDS-SR16 item 12).
    flagged = {
        rule.item_index
        for rule in instrument.alert_rules
        if alert.response.answers[rule.item_index] > rule.above
    }
    items = [
        (label, answer, index in flagged)
        for index, (label, answer) in enumerate(
            zip(instrument.item_labels, alert.response.answers, strict=True)
        )
    ]
    return render(
        request,
        "measures/alert.html",
        {
            "alert": alert,
            "form": form,
            "instrument": instrument,
            "items": items,
            "escalated": alert.acknowledged_at is None and alert.raised_at < escalation_cutoff(),
            # Other apps' panels for this page (referrals: acknowledge and refer in one step).
            "panels": list(
                render_page_panels("safety_alert", request, patient=alert.patient, alert=alert)
            ),
        },
    )


@capability_required("measures.manage_schedule")
def due(request: HttpRequest) -> HttpResponse:
    rules = due_questionnaires(request.user, location_id=chosen_location_id(request))
    page = Paginator(rules, settings.KETACLINIC_PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="due_questionnaires",
        detail={"patient_ids": sorted({r.patient_id for r in page})},
    )
    return render(request, "measures/due.html", {"page": page, "overdue_before": overdue_before()})


def _answer_page(
    request: HttpRequest, self_report: SelfReportRequest, *, actor: object | None
) -> HttpResponse:
    """The questionnaire form for a link or the portal; thank-you with crisis help after."""
    instruments = [get_instrument(k) for k in self_report.instrument_keys]
    form = AnswersForm(instruments, request.POST or None)
    location = self_report.patient.primary_location
    if request.method == "POST" and form.is_valid():
        try:
            responses = services.self_report_submit(
                request=self_report, answers=form.answers(), actor=actor
            )
        except services.LinkClosedError:
            return _link_closed(request, self_report)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return render(
                request,
                "measures/self_report_thanks.html",
                {
                    "flagged": any(r.alerts for r in responses),
                    "location": location,
                    "crisis": crisis_line(),
                    "patient": self_report.patient,
                },
            )
    total_items = sum(i.item_count for i in instruments)
    return render(
        request,
        "measures/self_report.html",
        {
            "form": form,
            "patient": self_report.patient,
            "location": location,
            "total_items": total_items,
            "storage_key": f"kc-answers-{self_report.pk}",
            "crisis": crisis_line(),
        },
    )


def _link_closed(request: HttpRequest, self_report: SelfReportRequest | None) -> HttpResponse:
    """410 Gone, with the clinic's number when the link is known and crisis help always."""
    location = self_report.patient.primary_location if self_report else None
    return render(
        request,
        "measures/self_report_closed.html",
        {"location": location, "crisis": crisis_line()},
        status=410,
    )


@never_cache
def self_report(request: HttpRequest, token: str) -> HttpResponse:
    """Public, no login: the single-use, expiring token is the key."""
    try:
        self_report_request = services.self_report_open(token)
    except services.LinkClosedError as closed:
        return _link_closed(request, closed.request)
    audit_record(
        actor=None,
        action=AuditAction.VIEW,
        patient_id=self_report_request.patient_id,
        object_type="self_report_request",
        object_id=self_report_request.pk,
        detail={"via": "link"},
    )
    return _answer_page(request, self_report_request, actor=None)


@never_cache
@capability_required("patient.view_own_record")
def portal_answer(request: HttpRequest, request_id: int) -> HttpResponse:
    self_report_request = (
        SelfReportRequest.objects.select_related("patient__primary_location")
        .filter(pk=request_id, patient_id=request.user.patient_id)
        .first()
    )
    if self_report_request is None:
        raise Http404("No such questionnaire")
    if not self_report_request.is_open:
        return _link_closed(request, self_report_request)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=self_report_request.patient_id,
        object_type="self_report_request",
        object_id=self_report_request.pk,
        detail={"via": "portal"},
    )
    return _answer_page(request, self_report_request, actor=request.user)
