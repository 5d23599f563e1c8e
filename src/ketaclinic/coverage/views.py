"""Pages of prior authorization: the patient's requests, a request's checklist and
history, and the clinic's payer list."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.clinical.coverage import next_statuses
from ketaclinic.coverage import services
from ketaclinic.coverage.forms import PayerForm, PriorAuthDraftForm, PriorAuthMoveForm
from ketaclinic.coverage.models import Payer
from ketaclinic.coverage.selectors import (
    checklist_templates,
    payers_active,
    prior_auth_of,
    prior_auths_of,
)
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import patient_page


@patient_page("billing.prior_auth", "prior_auths")
def patient_prior_auths(request: HttpRequest, patient: Patient) -> HttpResponse:
    courses = list(patient.treatment_courses.select_related("protocol").order_by("-created_at"))
    form = PriorAuthDraftForm(request.POST or None, payers=payers_active(), courses=courses)
    if request.method == "POST" and form.is_valid():
        course = next((c for c in courses if c.pk == form.cleaned_data["course"]), None)
        try:
            prior_auth = services.prior_auth_draft(
                actor=request.user,
                patient=patient,
                payer=form.cleaned_data["payer"],
                member_id=form.cleaned_data["member_id"],
                course=course,
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Drafted, with its checklist filled from the chart.")
            return redirect("coverage:prior_auth", patient.pk, prior_auth.pk)
    return render(
        request,
        "coverage/patient.html",
        {
            "patient": patient,
            "tab": "coverage",
            "requests": list(prior_auths_of(patient)),
            "form": form,
            "has_payers": payers_active().exists(),
        },
        status=400 if form.errors else 200,
    )


@patient_page("billing.prior_auth", "prior_auth")
def prior_auth(request: HttpRequest, patient: Patient, prior_auth_id: int) -> HttpResponse:
    request_ = prior_auth_of(patient, prior_auth_id)
    if request_ is None:
        raise Http404("No such prior authorization")
    allowed = next_statuses(request_.status)
    form = PriorAuthMoveForm(request.POST or None, allowed=allowed)
    if request.method == "POST" and request.POST.get("action") == "refill":
        try:
            services.prior_auth_refill(actor=request.user, prior_auth=request_)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, "Checklist filled again from the chart.")
        return redirect("coverage:prior_auth", patient.pk, request_.pk)
    if request.method == "POST" and form.is_valid():
        try:
            services.prior_auth_move(actor=request.user, prior_auth=request_, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Saved.")
            return redirect("coverage:prior_auth", patient.pk, request_.pk)
    return render(
        request,
        "coverage/prior_auth.html",
        {
            "patient": patient,
            "tab": "coverage",
            "request_": request_,
            "form": form if allowed else None,
            "unmet": [item for item in request_.checklist if item["met"] is False],
        },
        status=400 if form.errors else 200,
    )


@capability_required("billing.prior_auth")
def payers(request: HttpRequest) -> HttpResponse:
    """The payers the clinic asks for prior authorization; adding one needs
    billing.configure."""
    form = PayerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.payer_create(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Payer added.")
            return redirect("coverage:payers")
    return render(
        request,
        "coverage/payers.html",
        {
            "payers": list(Payer.objects.select_related("created_by")),
            "templates": checklist_templates(),
            "form": form,
            "can_configure": request.user.can("billing.configure"),
        },
        status=400 if form.errors else 200,
    )
