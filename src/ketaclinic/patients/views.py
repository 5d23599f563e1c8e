from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import CARE_TEAM_ROLES
from ketaclinic.accounts.selectors import chosen_location_id
from ketaclinic.audit.models import AuditAction, AuditEntry
from ketaclinic.audit.selectors import patient_access_history
from ketaclinic.audit.services import AuditEvent, audit_record, audit_record_events
from ketaclinic.patients import services
from ketaclinic.patients.forms import (
    AllergyForm,
    DiagnosisForm,
    MeasurementForm,
    MedicationForm,
    PatientForm,
    PatientImportForm,
    SubstanceUseForm,
)
from ketaclinic.patients.importing import COLUMNS, PAGE_MAX_ROWS, ImportCheck, decode
from ketaclinic.patients.models import CareTeamAssignment, Patient, PatientImport
from ketaclinic.patients.selectors import patient_chart, patient_get_for_user, patient_search


def patient_page(
    capability: str, page: str, repeat_after: timedelta | None = None
) -> Callable[..., Callable[..., HttpResponse]]:
    """Every page about one patient: login, role capability, the patient visible to the
    user (404 otherwise), and an access entry in the audit log.

    `repeat_after` is for a fragment the page itself refreshes every few seconds (the live
    session chart): the same person's same view is recorded again only after that long.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        @login_required
        def wrapped(request: HttpRequest, patient_id: int, **kwargs: Any) -> HttpResponse:
            if not request.user.can(capability):
                raise PermissionDenied(f"Your role may not do this ({capability}).")
            patient = patient_get_for_user(request.user, patient_id)
            detail = {"page": page, **kwargs}
            if (
                repeat_after is not None
                and AuditEntry.objects.filter(
                    actor_id=request.user.pk,
                    action=AuditAction.VIEW,
                    patient_id=patient.pk,
                    occurred_at__gte=timezone.now() - repeat_after,
                    detail=detail,
                ).exists()
            ):
                return view(request, patient, **kwargs)
            audit_record(
                actor=request.user,
                action=AuditAction.VIEW,
                patient_id=patient.pk,
                object_type="patient",
                object_id=patient.pk,
                # Which record of the patient's was opened, not only which page.
                detail=detail,
            )
            return view(request, patient, **kwargs)

        return wrapped

    return decorator


@capability_required("patient.search")
def patient_list(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "")[:100]
    location_id = chosen_location_id(request)
    patients = patient_search(request.user, text=text, location_id=location_id)
    page = Paginator(patients, settings.KETACLINIC_PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record_events(
        actor=request.user,
        events=[
            AuditEvent(
                action=AuditAction.SEARCH,
                object_type="patient_list",
                detail={"query": text, "page": page.number, "patient_ids": [p.pk for p in page]},
            )
        ],
    )
    context = {"page": page, "q": text}
    template = "patients/_results.html" if request.htmx else "patients/patient_list.html"
    return render(request, template, context)


@capability_required("patient.register")
def patient_register(request: HttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.patient_register(actor=request.user, patient=form.save(commit=False))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"{patient.display_name} is registered as {patient.mrn}.")
            return redirect("patients:chart", patient_id=patient.pk)
    return render(request, "patients/patient_form.html", {"form": form, "patient": None})


# The import page shows this many problems; the command lists every one.
PROBLEMS_SHOWN = 1000


def _import_page(
    request: HttpRequest,
    form: PatientImportForm,
    check: ImportCheck | None = None,
    staged: PatientImport | None = None,
) -> HttpResponse:
    imports = PatientImport.objects.select_related("uploaded_by", "finished_by")
    page = Paginator(imports, settings.KETACLINIC_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "check": check,
        "staged": staged,
        "problems": check.problems[:PROBLEMS_SHOWN] if check else [],
        "problems_hidden": max(len(check.problems) - PROBLEMS_SHOWN, 0) if check else 0,
        "columns": COLUMNS,
        "page": page,
        "max_rows": f"{PAGE_MAX_ROWS:,}",
    }
    return render(request, "patients/import.html", context)


@capability_required("patient.import")
def patient_import(request: HttpRequest) -> HttpResponse:
    """Upload a file: it is checked at once and nothing is saved; a file that passes waits
    for its confirmation on its own page."""
    form = PatientImportForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method != "POST" or not form.is_valid():
        return _import_page(request, form)
    upload = form.cleaned_data["file"]
    try:
        text = decode(upload.read())
    except ValueError as error:
        form.add_error("file", str(error))
        return _import_page(request, form)
    staged, check = services.patients_import_check(
        actor=request.user,
        file_name=upload.name,
        text=text,
        default_location=form.cleaned_data["location"],
        max_rows=PAGE_MAX_ROWS,
    )
    if staged is not None:
        return redirect("patients:import_review", import_id=staged.pk)
    return _import_page(request, form, check)


@capability_required("patient.import")
def patient_import_review(request: HttpRequest, import_id: int) -> HttpResponse:
    try:
        staged, check = services.patients_import_review(actor=request.user, import_id=import_id)
    except PatientImport.DoesNotExist as error:
        raise Http404("No such import.") from error
    return _import_page(request, PatientImportForm(user=request.user), check, staged)


@require_POST
@capability_required("patient.import")
def patient_import_run(request: HttpRequest, import_id: int) -> HttpResponse:
    try:
        staged, _ = services.patients_import_run(actor=request.user, import_id=import_id)
    except PatientImport.DoesNotExist as error:
        raise Http404("No such import.") from error
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("patients:import_review", import_id=import_id)
    text = f"Imported {staged.imported} patient(s) from {staged.file_name}."
    if staged.duplicates:
        lines = ", ".join(str(n) for n in staged.duplicate_lines[:20])
        more = "…" if staged.duplicates > 20 else ""
        text += (
            f" {staged.duplicates} registered already, not imported again (lines {lines}{more})."
        )
    messages.success(request, text)
    return redirect("patients:import")


@require_POST
@capability_required("patient.import")
def patient_import_discard(request: HttpRequest, import_id: int) -> HttpResponse:
    try:
        staged = services.patients_import_discard(actor=request.user, import_id=import_id)
    except PatientImport.DoesNotExist as error:
        raise Http404("No such import.") from error
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, f"{staged.file_name} was discarded: nothing was imported.")
    return redirect("patients:import")


def _care_team(user: Any, patient: Patient) -> dict[str, Any]:
    """The chart's Care team card: the open assignments, and (for someone who assigns) the
    active therapists of the patient's location not yet on it. Two queries."""
    from_team = list(
        CareTeamAssignment.objects.filter(patient=patient, ended_at__isnull=True)
        .select_related("clinician")
        .order_by("assigned_at", "pk")
    )
    candidates: list[Any] = []
    if user.can("care_team.assign"):
        on_team = [a.clinician_id for a in from_team]
        candidates = list(
            User.objects.filter(
                role__in=[r.value for r in CARE_TEAM_ROLES],
                is_active=True,
                locations=patient.primary_location_id,
            )
            .exclude(pk__in=on_team)
            .order_by("last_name", "first_name", "username")
        )
    return {"care_team": from_team, "care_team_candidates": candidates}


@patient_page("patient.view_chart", "overview")
def chart(request: HttpRequest, patient: Patient) -> HttpResponse:
    return render(
        request,
        "patients/chart_overview.html",
        {
            "patient": patient,
            "tab": "overview",
            **patient_chart(patient),
            **_care_team(request.user, patient),
        },
    )


# The patient checks come first (as for nkda_verify): a GET is refused or sent to log in.
@patient_page("care_team.assign", "care_team")
@require_POST
def care_team(request: HttpRequest, patient: Patient) -> HttpResponse:
    """Assign a therapist to the patient (clinician=<id>) or end an assignment
    (end=<assignment id>), through patients.services."""
    end_id, clinician_id = request.POST.get("end", ""), request.POST.get("clinician", "")
    try:
        if end_id.isdigit():
            assignment = CareTeamAssignment.objects.filter(
                patient=patient, pk=int(end_id), ended_at__isnull=True
            ).first()
            if assignment is None:
                raise ValidationError("That assignment is not open on this patient's care team.")
            services.care_team_end(actor=request.user, assignment=assignment)
            done = f"{assignment.clinician.display_name} is no longer on the care team."
        else:
            clinician = (
                User.objects.filter(pk=int(clinician_id)).first()
                if clinician_id.isdigit()
                else None
            )
            if clinician is None:
                raise ValidationError("Choose a therapist to assign.")
            services.care_team_assign(actor=request.user, patient=patient, clinician=clinician)
            done = f"{clinician.display_name} is on the care team."
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, done)
    return redirect("patients:chart", patient_id=patient.pk)


@patient_page("patient.view_chart", "history")
def chart_history(request: HttpRequest, patient: Patient) -> HttpResponse:
    return render(
        request,
        "patients/chart_history.html",
        {"patient": patient, "tab": "history", **patient_chart(patient)},
    )


# The patient checks come first, so a GET by anyone who may not act is refused (403/404)
# or sent to log in like every other patient URL, never told 405.
@patient_page("patient.edit_clinical_history", "verify_nkda")
@require_POST
def nkda_verify(request: HttpRequest, patient: Patient) -> HttpResponse:
    try:
        services.patient_nkda_verify(actor=request.user, patient=patient)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Recorded: no known drug allergies, verified with the patient.")
    return redirect("patients:history", patient_id=patient.pk)


@patient_page("patient.view_chart", "measurements")
def chart_measurements(request: HttpRequest, patient: Patient) -> HttpResponse:
    measurements = Paginator(patient.measurements.all(), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "patients/chart_measurements.html",
        {"patient": patient, "tab": "measurements", "page": measurements},
    )


@patient_page("audit.view_access_history", "access_history")
def chart_access(request: HttpRequest, patient: Patient) -> HttpResponse:
    page = Paginator(patient_access_history(patient.pk), 50).get_page(request.GET.get("page"))
    return render(
        request, "patients/chart_access.html", {"patient": patient, "tab": "access", "page": page}
    )


@patient_page("patient.register", "edit_demographics")
def patient_edit(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = PatientForm(request.POST or None, instance=patient, user=request.user)
    if request.method == "POST" and form.is_valid():
        changes = {f: form.cleaned_data[f] for f in form.changed_data if f != "version"}
        if not changes:
            messages.info(request, "Nothing was changed.")
            return redirect("patients:chart", patient_id=patient.pk)
        try:
            services.patient_update_demographics(
                actor=request.user,
                patient=patient,
                changes=changes,
                expected_version=form.cleaned_data.get("version") or 0,
            )
        except services.StaleEditError as error:
            form.add_error(None, str(error))
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Saved.")
            return redirect("patients:chart", patient_id=patient.pk)
    return render(request, "patients/patient_form.html", {"form": form, "patient": patient})


@dataclass(frozen=True)
class HistoryKind:
    title: str
    form: type[ModelForm]
    save: Callable[..., Any]
    argument: str
    capability: str
    back_to: str


HISTORY_KINDS: dict[str, HistoryKind] = {
    "diagnosis": HistoryKind(
        "Add a diagnosis",
        DiagnosisForm,
        services.diagnosis_add,
        "diagnosis",
        "patient.edit_clinical_history",
        "patients:history",
    ),
    "medication": HistoryKind(
        "Add a medication or antidepressant trial",
        MedicationForm,
        services.medication_add,
        "medication",
        "patient.edit_clinical_history",
        "patients:history",
    ),
    "allergy": HistoryKind(
        "Add an allergy",
        AllergyForm,
        services.allergy_add,
        "allergy",
        "patient.edit_clinical_history",
        "patients:history",
    ),
    "substance-use": HistoryKind(
        "Add substance use",
        SubstanceUseForm,
        services.substance_use_add,
        "entry",
        "patient.edit_clinical_history",
        "patients:history",
    ),
    "measurement": HistoryKind(
        "Record height and weight",
        MeasurementForm,
        services.measurement_record,
        "measurement",
        "patient.record_measurements",
        "patients:measurements",
    ),
}


@patient_page("patient.view_chart", "add_history_item")
def history_add(request: HttpRequest, patient: Patient, kind: str) -> HttpResponse:
    spec = HISTORY_KINDS.get(kind)
    if spec is None:
        raise Http404("Unknown kind of record")
    if not request.user.can(spec.capability):
        raise PermissionDenied("Your role may not add this.")
    form = spec.form(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            spec.save(
                actor=request.user, patient=patient, **{spec.argument: form.save(commit=False)}
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Saved.")
            return redirect(spec.back_to, patient_id=patient.pk)
    return render(
        request,
        "patients/history_form.html",
        {
            "patient": patient,
            "form": form,
            "title": spec.title,
            "cancel_url": reverse(spec.back_to, kwargs={"patient_id": patient.pk}),
        },
    )
