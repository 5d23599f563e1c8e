"""Outcomes pages: the cohort page with its exports, the definitions, the measurement gaps
and the chart's Outcomes tab. Thin: parse, call a selector or service, audit, render."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import chosen_location_id, locations_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.measures.charts import LEFT as TREND_LEFT
from ketaclinic.measures.charts import trend_chart
from ketaclinic.outcomes import exports, services
from ketaclinic.outcomes.charts import km_chart, rate_bars, spaghetti
from ketaclinic.outcomes.forms import CohortFilterForm, DefinitionForm
from ketaclinic.outcomes.selectors import (
    OutcomesReport,
    PatientCourseOutcome,
    definition_history,
    definition_in_use,
    filter_choices,
    measurement_gaps,
    outcomes_report,
    patient_outcomes,
)
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import patient_page


def _report(request: HttpRequest) -> tuple[CohortFilterForm, OutcomesReport, dict[str, object]]:
    choices = filter_choices(request.user)
    form = CohortFilterForm(request.GET or None, choices=choices)
    report = outcomes_report(request.user, form.filters(), instrument_key=form.instrument_key)
    return form, report, choices


def _cohort_text(form: CohortFilterForm, choices: dict[str, object]) -> str:
    """The filters in words, for the page and the PDF."""
    if not form.is_bound or not form.is_valid():
        return "Cohort: every treated course of the locations you may see"
    parts = []
    for name, field in form.fields.items():
        value = form.cleaned_data.get(name)
        if value in (None, "") or name in ("instrument", "view"):
            continue
        shown = dict(field.choices).get(value, value) if hasattr(field, "choices") else value
        parts.append(f"{field.label or name.replace('_', ' ').capitalize()}: {shown}")
    return "Cohort: " + ("; ".join(parts) if parts else "every treated course you may see")


@never_cache
@capability_required("outcomes.view")
def cohort(request: HttpRequest) -> HttpResponse:
    form, report, choices = _report(request)
    route = report.filters.route
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="outcomes_cohort",
        detail={
            "filters": report.filters.as_detail(),
            "instrument": report.instrument.key,
            "courses": len(report.outcomes),
            "patient_ids": report.cohort.patient_ids,
        },
    )
    summary = report.summary
    return render(
        request,
        "outcomes/cohort.html",
        {
            "form": form,
            "report": report,
            "summary": summary,
            "cohort_text": _cohort_text(form, choices),
            "query": request.GET.urlencode(),
            "spaghetti": spaghetti(report.outcomes, report.instrument, report.remission),
            "bars": rate_bars(
                summary, report.comparisons, report.instrument, view=form.rate_view, route=route
            ),
            "km": km_chart(summary.durability, report.comparisons, route=route)
            if summary.durability
            else None,
            "comparisons": [
                c for c in report.comparisons if not route or c.benchmark.route == route
            ],
            "rate_view": form.rate_view,
        },
    )


def _download(content: str | bytes, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _record_export(
    request: HttpRequest, report: OutcomesReport, kind: str, patient_ids: Sequence[int] = ()
) -> None:
    services.export_record(
        actor=request.user,
        kind=kind,
        filters=report.filters.as_detail(),
        courses=len(report.outcomes),
        patient_ids=patient_ids,
    )


@never_cache
@capability_required("outcomes.view")
def summary_csv(request: HttpRequest) -> HttpResponse:
    _form, report, _choices = _report(request)
    _record_export(request, report, "summary_csv")
    return _download(
        exports.summary_csv(report),
        exports.export_filename("summary", report, "csv"),
        "text/csv; charset=utf-8",
    )


@never_cache
@capability_required("outcomes.view")
def summary_pdf(request: HttpRequest) -> HttpResponse:
    form, report, choices = _report(request)
    _record_export(request, report, "summary_pdf")
    who = request.user.get_full_name() or request.user.username
    return _download(
        exports.summary_pdf(report, cohort_text=_cohort_text(form, choices), generated_by=who),
        exports.export_filename("report", report, "pdf"),
        "application/pdf",
    )


@never_cache
@capability_required("outcomes.view")
def patients_csv(request: HttpRequest) -> HttpResponse:
    _form, report, _choices = _report(request)
    _record_export(request, report, "patients_csv", patient_ids=report.cohort.patient_ids)
    locations = {loc.pk: loc.short_name for loc in locations_for(request.user)}
    return _download(
        exports.patients_csv(report, locations),
        exports.export_filename("patients-deidentified", report, "csv"),
        "text/csv; charset=utf-8",
    )


@never_cache
@capability_required("outcomes.view")
def definitions(request: HttpRequest) -> HttpResponse:
    in_use = definition_in_use()
    d = in_use.definition
    initial = {
        "baseline_window_days": d.baseline_window_days,
        "response_fall_percent": d.response_fall_percent,
        "end_of_induction_window_days": d.end_of_induction_window_days,
        "timepoint_weeks": ", ".join(map(str, d.timepoint_weeks)),
        "timepoint_window_days": d.timepoint_window_days,
        "relapse_consecutive_measures": d.relapse_consecutive_measures,
        "relapse_on_rescue_course": d.relapse_on_rescue_course,
        "follow_up_max_days": d.follow_up_max_days,
        "follow_up_overdue_days": d.follow_up_overdue_days,
    }
    initial["based_on_version"] = in_use.version
    form = DefinitionForm(request.POST or None, initial=initial)
    if request.method == "POST":
        if not request.user.can("outcomes.configure"):
            raise PermissionDenied("Only the medical director changes the outcome definitions.")
        if form.is_valid():
            try:
                saved = services.definition_save(
                    actor=request.user,
                    data=form.data_for(d.as_data()),
                    change_note=form.cleaned_data["change_note"],
                    based_on_version=form.cleaned_data["based_on_version"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, f"Saved as version {saved.version}.")
                return redirect("outcomes:definitions")
    return render(
        request,
        "outcomes/definitions.html",
        {
            "in_use": in_use,
            "form": form,
            "history": definition_history(),
            "can_edit": request.user.can("outcomes.configure"),
        },
    )


@never_cache
@capability_required("measures.manage_schedule")
def gaps(request: HttpRequest) -> HttpResponse:
    page = Paginator(
        measurement_gaps(request.user, location_id=chosen_location_id(request)),
        settings.KETACLINIC_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="measurement_gaps",
        detail={"patient_ids": sorted({g.course.patient_id for g in page})},
    )
    return render(
        request,
        "outcomes/gaps.html",
        {
            "gaps": page,
            "page": page,
            "in_use": definition_in_use(),
            "valid_hours": settings.KETACLINIC_SELF_REPORT_LINK_HOURS,
            "can_send": request.user.can("measures.send_self_report"),
        },
    )


# --- the chart tab ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scored:
    total: int
    completed_at: datetime


@dataclass(frozen=True)
class _Mark:
    x: float
    label: str


def _course_chart(item: PatientCourseOutcome) -> tuple[object, list[_Mark]]:
    """The course's trend (measures' chart: bands, baseline, response and remission lines)
    with a mark at each session's date."""
    outcome = item.outcome
    scored = ([outcome.baseline] if outcome.baseline else []) + list(outcome.follow_up)
    responses = [_Scored(s.total, s.at) for s in scored]
    baseline = _Scored(outcome.baseline.total, outcome.baseline.at) if outcome.baseline else None
    chart = trend_chart(item.instrument, responses, baseline)
    marks: list[_Mark] = []
    if chart is None or len(responses) < 2:
        return chart, marks
    start = responses[0].completed_at.timestamp()
    span = max(responses[-1].completed_at.timestamp() - start, 1.0)
    for number, dose in enumerate(item.doses, 1):
        fraction = (dose.timestamp() - start) / span
        if 0 <= fraction <= 1:
            marks.append(
                _Mark(
                    round(TREND_LEFT + chart.plot_width * fraction, 1),
                    f"Session {number}, {timezone.localtime(dose):%b %-d}",
                )
            )
    return chart, marks


def _status(item: PatientCourseOutcome) -> tuple[str, str]:
    """Responder/remitter status at the latest score, by the definitions in force."""
    o = item.outcome
    if o.baseline is None:
        return "No baseline", ""
    if o.relapse_at is not None:
        return "Relapsed", "danger"
    if (
        o.latest is not None
        and o.follow_up
        and item.remission
        and item.remission.met(o.latest.total)
    ):
        return "Remitter", "ok"
    if o.currently_responding:
        return "Responder", "ok"
    if o.first_response is not None:
        return "Responded earlier, not at the latest score", "warn"
    return "Not responded", ""


@patient_page("measures.view_scores", "outcomes")
def patient(request: HttpRequest, patient: Patient) -> HttpResponse:
    in_use, items, not_started = patient_outcomes(patient)
    now = timezone.now()
    rows = []
    for item in items:
        chart, marks = _course_chart(item)
        response = item.outcome.first_response
        status, css = _status(item)
        rows.append(
            {
                "item": item,
                "chart": chart,
                "marks": marks,
                "status": status,
                "status_css": css,
                "days_since_response": (now - response.at).days if response else None,
            }
        )
    return render(
        request,
        "outcomes/patient.html",
        {
            "patient": patient,
            "tab": "outcomes",
            "in_use": in_use,
            "rows": rows,
            "not_started": not_started,
        },
    )
