"""Billing pages: the chart's Billing tab (account, estimates, plan, payments and
adjustments), estimates, the superbill, the fee schedule, overdue instalments, and the
patient's own billing pages in the portal. Thin: parse, call a service or selector,
render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import chosen_location_id, location_asked_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.billing import selectors, services
from ketaclinic.billing.forms import AdjustmentForm, EstimateForm, FeeChangeForm, PaymentForm
from ketaclinic.billing.models import EntryKind, Estimate, PaymentMethod
from ketaclinic.billing.superbill import Superbill, SuperbillLine, SuperbillPayment, superbill_pdf
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import patient_get_for_user
from ketaclinic.patients.views import patient_page


def _account_context(patient: Patient) -> dict[str, Any]:
    account = selectors.account_of(patient)
    totals = selectors.account_totals(account)
    return {
        "account": account,
        "totals": totals,
        "entries": list(selectors.account_entries(account)),
        "plan": selectors.accepted_plan(patient, totals["balance"]),
    }


def _tab(
    request: HttpRequest,
    patient: Patient,
    *,
    payment_form: PaymentForm | None = None,
    adjustment_form: AdjustmentForm | None = None,
    status: int = 200,
) -> HttpResponse:
    today = timezone.localdate(timezone=patient.primary_location.tz)
    return render(
        request,
        "billing/tab.html",
        {
            "patient": patient,
            "tab": "billing",
            "estimates": list(selectors.estimates_of(patient)),
            "payment_form": payment_form or PaymentForm(initial={"received_on": today}),
            "adjustment_form": adjustment_form or AdjustmentForm(),
            **_account_context(patient),
        },
        status=status,
    )


@patient_page("billing.view", "billing")
def tab(request: HttpRequest, patient: Patient) -> HttpResponse:
    return _tab(request, patient)


@patient_page("billing.manage", "payment_record")
@require_POST
def payment_new(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = PaymentForm(request.POST)
    if form.is_valid():
        try:
            entry = services.payment_record(
                actor=request.user,
                patient=patient,
                amount=form.cleaned_data["amount"],
                method=form.cleaned_data["method"],
                reference=form.cleaned_data["reference"],
                received_on=form.cleaned_data["received_on"],
            )
        except ValidationError as error:
            form.add_error(None, " ".join(error.messages))
        else:
            messages.success(request, f"Payment of ${entry.amount} recorded.")
            return redirect("billing:tab", patient.pk)
    return _tab(request, patient, payment_form=form, status=400)


@patient_page("billing.adjust", "adjustment_record")
@require_POST
def adjustment_new(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = AdjustmentForm(request.POST)
    if form.is_valid():
        try:
            entry = services.adjustment_record(
                actor=request.user, patient=patient, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, " ".join(error.messages))
        else:
            messages.success(request, f"{entry.get_kind_display()} of ${entry.amount} recorded.")
            return redirect("billing:tab", patient.pk)
    return _tab(request, patient, adjustment_form=form, status=400)


@patient_page("billing.manage", "estimate_new")
def estimate_new(request: HttpRequest, patient: Patient) -> HttpResponse:
    today = timezone.localdate(timezone=patient.primary_location.tz)
    if request.method != "POST":
        form = EstimateForm(patient=patient, initial={"first_due_date": today})
        return render(request, "billing/estimate_new.html", {"patient": patient, "form": form})
    form = EstimateForm(request.POST, patient=patient)
    if form.is_valid():
        try:
            estimate = services.estimate_prepare(
                actor=request.user, patient=patient, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error(None, " ".join(error.messages))
        else:
            messages.success(request, "Estimate prepared. Check it, then send it to the patient.")
            return redirect("billing:estimate", patient.pk, estimate.pk)
    return render(
        request, "billing/estimate_new.html", {"patient": patient, "form": form}, status=400
    )


@patient_page("billing.view", "estimate")
def estimate_view(request: HttpRequest, patient: Patient, estimate_id: int) -> HttpResponse:
    estimate = selectors.estimate_get_for_user(request.user, estimate_id, patient=patient)
    return render(
        request,
        "billing/estimate.html",
        {"patient": patient, "estimate": estimate, "tab": "billing"},
    )


@patient_page("billing.manage", "estimate_send")
@require_POST
def estimate_send_view(request: HttpRequest, patient: Patient, estimate_id: int) -> HttpResponse:
    estimate = selectors.estimate_get_for_user(request.user, estimate_id, patient=patient)
    try:
        services.estimate_send(actor=request.user, estimate=estimate)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"Estimate sent: {patient.display_name} can accept it in the portal."
        )
    return redirect("billing:estimate", patient.pk, estimate.pk)


@patient_page("billing.manage", "estimate_signed_copy")
@require_POST
def estimate_signed_copy_view(
    request: HttpRequest, patient: Patient, estimate_id: int
) -> HttpResponse:
    estimate = selectors.estimate_get_for_user(request.user, estimate_id, patient=patient)
    try:
        services.estimate_record_signed_copy(actor=request.user, estimate=estimate)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Recorded as accepted on a signed copy; charges posted.")
    return redirect("billing:estimate", patient.pk, estimate.pk)


def _provider(patient: Patient, charges: list[Any]) -> str:
    for charge in reversed(charges):
        line = charge.estimate_line
        if line is not None and line.estimate.course is not None:
            prescriber = line.estimate.course.prescriber
            name = prescriber.get_full_name() or prescriber.username
            return f"{name}, {prescriber.title}" if prescriber.title else name
    return patient.primary_location.name


@patient_page("billing.view", "superbill")
def superbill(request: HttpRequest, patient: Patient) -> HttpResponse:
    rows = selectors.superbill_rows(patient)
    location = patient.primary_location
    totals = rows["totals"]
    address = ", ".join(
        p
        for p in [
            patient.address_line1,
            patient.address_line2,
            f"{patient.city}, {patient.state} {patient.postal_code}".strip(", "),
        ]
        if p and p.strip(", ")
    )
    bill = Superbill(
        clinic_name=location.name,
        clinic_address=location.full_address,
        clinic_phone=location.phone,
        provider=_provider(patient, rows["charges"]),
        patient_name=f"{patient.legal_first_name} {patient.legal_last_name}",
        patient_birth_date=patient.date_of_birth,
        patient_address=address if patient.address_line1 else "",
        patient_mrn=patient.mrn,
        diagnoses=[(d.icd10_code, d.description) for d in rows["diagnoses"]],
        lines=[
            SuperbillLine(e.service_date, e.code, e.description, e.units, e.amount)
            for e in rows["charges"]
        ],
        payments=[
            SuperbillPayment(
                e.service_date,
                PaymentMethod(e.method).label if e.method else "",
                e.reference,
                e.amount,
            )
            for e in rows["payments"]
        ],
        total_charges=totals["charges"],
        total_paid=totals["net_paid"],
        adjustments=totals["write_offs"],
        balance=totals["balance"],
        issued_on=timezone.localdate(timezone=location.tz),
    )
    response = HttpResponse(superbill_pdf(bill), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="superbill-{patient.mrn}.pdf"'
    return response


# --- Fee schedule and overdue instalments (staff, not one patient's) --------------------


def _fee_location(request: HttpRequest) -> tuple[list[Location], Location | None]:
    location, locations = location_asked_for(request)
    return locations, location


@capability_required("billing.view")
def fee_schedule(request: HttpRequest) -> HttpResponse:
    """The location's fees in effect, the changes to come and the earlier fees; with
    billing.configure, a form to change a fee (a new row from a date)."""
    locations, location = _fee_location(request)
    form: FeeChangeForm | None = None
    status = 200
    if request.method == "POST":
        if not request.user.can("billing.configure"):
            raise PermissionDenied("Your role may not change fees (billing.configure).")
        if location is None:
            raise Http404("No location")
        if request.POST.get("action") == "copy_defaults":
            try:
                services.fee_schedule_copy_defaults(actor=request.user, location=location)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(
                    request, f"Example fees copied to {location.short_name}: set your own."
                )
            return redirect(f"{request.path}?location={location.pk}")
        form = FeeChangeForm(request.POST)
        if form.is_valid():
            try:
                services.fee_change(actor=request.user, location=location, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, " ".join(error.messages))
            else:
                messages.success(request, "Fee change saved.")
                return redirect(f"{request.path}?location={location.pk}")
        status = 400
    schedule = selectors.fee_schedule(location) if location else None
    return render(
        request,
        "billing/fee_schedule.html",
        {
            "locations": locations,
            "location": location,
            "schedule": schedule,
            "form": form,
            "sources": services.packaged_fees()["_sources"],
            "can_configure": request.user.can("billing.configure"),
        },
        status=status,
    )


@capability_required("billing.view")
def overdue(request: HttpRequest) -> HttpResponse:
    """Overdue instalments of accepted payment plans at the user's locations."""
    rows = selectors.overdue_instalments(request.user, location_id=chosen_location_id(request))
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="overdue_instalments",
        detail={"patient_ids": sorted({row["patient"].pk for row in rows})},
    )
    return render(request, "billing/overdue.html", {"rows": rows})


# --- The patient's own pages in the portal ----------------------------------------------


def _own_patient(request: HttpRequest) -> Patient:
    return patient_get_for_user(request.user, request.user.patient_id)


@capability_required("patient.view_own_record")
def portal_billing(request: HttpRequest) -> HttpResponse:
    """The patient's estimates, plan and balance."""
    patient = _own_patient(request)
    estimates = [e for e in selectors.estimates_of(patient) if e.status != Estimate.Status.DRAFT]
    context = _account_context(patient)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        detail={"page": "portal_billing", "estimate_ids": [e.pk for e in estimates]},
    )
    return render(
        request,
        "billing/portal_billing.html",
        {
            "patient": patient,
            "estimates": estimates,
            "charges": [e for e in context["entries"] if e.kind == EntryKind.CHARGE],
            **context,
        },
    )


def _portal_estimate(request: HttpRequest, estimate_id: int) -> tuple[Patient, Estimate]:
    patient = _own_patient(request)
    estimate = selectors.estimate_get_for_user(request.user, estimate_id, patient=patient)
    if estimate.status == Estimate.Status.DRAFT:
        raise Http404("No such estimate")
    return patient, estimate


@capability_required("patient.view_own_record")
def portal_estimate(request: HttpRequest, estimate_id: int) -> HttpResponse:
    patient, estimate = _portal_estimate(request, estimate_id)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=patient.pk,
        object_type="estimate",
        object_id=estimate.pk,
        detail={"page": "portal_estimate"},
    )
    return render(
        request, "billing/portal_estimate.html", {"patient": patient, "estimate": estimate}
    )


@capability_required("patient.view_own_record")
@require_POST
def portal_estimate_accept(request: HttpRequest, estimate_id: int) -> HttpResponse:
    patient, estimate = _portal_estimate(request, estimate_id)
    if request.POST.get("agree") != "yes":
        messages.error(request, "Tick the box to say you have read and accept the estimate.")
        return render(
            request,
            "billing/portal_estimate.html",
            {"patient": patient, "estimate": estimate, "must_agree": True},
            status=400,
        )
    try:
        services.estimate_accept(actor=request.user, estimate=estimate)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Thank you: you have accepted the estimate.")
    return redirect("billing:portal_billing")
