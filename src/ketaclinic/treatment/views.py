from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.clinical.pk import (
    DISSOCIATION_RANGE_NG_ML,
    MODELS,
    OBSERVED_PEAK_NG_ML,
    PkInputError,
    predict_infusion,
)
from ketaclinic.eligibility.models import Route
from ketaclinic.eligibility.selectors import (
    current_consent,
    current_consent_document,
    latest_decision,
    open_intake,
)
from ketaclinic.eligibility.services import INTAKE_STEP_KEYS
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import patient_page
from ketaclinic.plugins import render_page_panels
from ketaclinic.treatment import services
from ketaclinic.treatment.charts import pk_chart
from ketaclinic.treatment.forms import CourseForm, EndCourseForm, ProtocolEditForm
from ketaclinic.treatment.selectors import current_protocols, patient_courses, protocol_versions


@patient_page("treatment.view", "treatment")
def tab(request: HttpRequest, patient: Patient) -> HttpResponse:
    return render(
        request,
        "treatment/tab.html",
        {
            "patient": patient,
            "tab": "treatment",
            "open_intake": open_intake(patient),
            "intake_step_count": len(INTAKE_STEP_KEYS),
            "decisions": {route: latest_decision(patient, route) for route in Route.values},
            "consent": current_consent(patient),
            "consent_document": current_consent_document(),
            "courses": patient_courses(patient),
        },
    )


@patient_page("treatment.plan_course", "course_new")
def course_new(request: HttpRequest, patient: Patient) -> HttpResponse:
    protocols = current_protocols()
    form = CourseForm(
        request.POST or None,
        protocols=protocols,
        initial={"first_day": timezone.localdate(), "local_time": "09:00"},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            course = services.course_create(
                actor=request.user,
                patient=patient,
                protocol=data["protocol"],
                first_day=data["first_day"],
                local_time=data["local_time"],
                mg_per_kg=data["mg_per_kg"],
                rems_patient_enrollment_id=data["rems_patient_enrollment_id"],
                rems_enrolled_on=data["rems_enrolled_on"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request, f"Course created with {course.planned_sessions.count()} planned sessions."
            )
            return redirect("treatment:course", patient_id=patient.pk, course_id=course.pk)
    return render(
        request, "treatment/course_new.html", {"patient": patient, "tab": "treatment", "form": form}
    )


@patient_page("treatment.view", "course")
def course(request: HttpRequest, patient: Patient, course_id: int) -> HttpResponse:
    course = (
        patient.treatment_courses.select_related(
            "protocol", "prescriber", "location", "eligibility_decision", "consent"
        )
        .filter(pk=course_id)
        .first()
    )
    if course is None:
        raise Http404("No such course")
    if request.method == "POST" and "phase" in request.POST:
        try:
            services.course_set_phase(
                actor=request.user, course=course, phase=request.POST["phase"]
            )
        except ValidationError as error:
            messages.error(request, error.messages[0])
        else:
            messages.success(request, f"The course is now in {course.get_phase_display()}.")
        return redirect("treatment:course", patient_id=patient.pk, course_id=course.pk)
    end_form = EndCourseForm(request.POST or None)
    if request.method == "POST" and end_form.is_valid():
        try:
            services.course_end(
                actor=request.user, course=course, reason=end_form.cleaned_data["reason"]
            )
        except ValidationError as error:
            end_form.add_error(None, error)
        else:
            messages.success(request, "Course ended.")
            return redirect("treatment:course", patient_id=patient.pk, course_id=course.pk)
    chart = prediction = None
    if course.mg_per_kg and course.infusion_minutes:
        try:
            # The planned dose in mg, distributed in the patient's actual weight: the models'
            # volumes scale with body weight, whatever weight the dose was calculated on.
            prediction = predict_infusion(
                model="domino",
                weight_kg=float(course.weight_kg),
                mg_per_kg=float(course.planned_dose_mg / course.weight_kg),
                minutes=float(course.infusion_minutes),
            )
            chart = pk_chart(prediction, infusion_minutes=course.infusion_minutes)
        except PkInputError:
            chart = None
    return render(
        request,
        "treatment/course.html",
        {
            "patient": patient,
            "tab": "treatment",
            "course": course,
            "sessions": course.planned_sessions.all(),
            "chart": chart,
            "prediction": prediction,
            "pk_model": MODELS["domino"],
            "dissociation_range": DISSOCIATION_RANGE_NG_ML,
            "observed_peak": OBSERVED_PEAK_NG_ML,
            # Other apps' panels for this page (the measures app: the response so far).
            "panels": list(
                render_page_panels("treatment_course", request, patient=patient, course=course)
            ),
            "end_form": end_form,
            "phases": course.Phase.choices,
            "remaining_sessions": course.planned_sessions.filter(
                treatment_session__isnull=True
            ).count(),
        },
    )


@capability_required("protocols.view")
def protocols(request: HttpRequest) -> HttpResponse:
    return render(request, "treatment/protocols.html", {"protocols": current_protocols()})


@capability_required("protocols.view")
def protocol(request: HttpRequest, key: str) -> HttpResponse:
    versions = protocol_versions(key)
    if not versions:
        raise Http404("No such protocol")
    return render(
        request,
        "treatment/protocol.html",
        {
            "current": versions[0],
            "versions": versions,
            "pretty": json.dumps(versions[0].data, indent=2, ensure_ascii=False),
        },
    )


@capability_required("protocols.edit")
def protocol_edit(request: HttpRequest, key: str) -> HttpResponse:
    versions = protocol_versions(key)
    if not versions:
        raise Http404("No such protocol")
    form = ProtocolEditForm(
        request.POST or None,
        initial={"data": json.dumps(versions[0].data, indent=2, ensure_ascii=False)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            version = services.protocol_version_create(
                actor=request.user,
                key=key,
                data=form.cleaned_data["data"],
                change_note=form.cleaned_data["change_note"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"Saved as version {version.version}. Existing courses "
                "keep the version they were planned under.",
            )
            return redirect("treatment:protocol", key=key)
    return render(request, "treatment/protocol_edit.html", {"current": versions[0], "form": form})
