"""Pages: the directory of resources, a patient's referrals (the chart tab), one referral
and its history, the stalled worklist, the one-step crisis referral from a safety alert,
and the patient's own referrals in the portal. Thin: parse, call, render."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.accounts.selectors import chosen_location_id, location_asked_for
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.measures.selectors import alert_get_for_user
from ketaclinic.measures.services import AlreadyAcknowledgedError
from ketaclinic.organization.models import Location
from ketaclinic.organization.selectors import crisis_line
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import patient_get_for_user
from ketaclinic.patients.views import patient_page
from ketaclinic.referrals import selectors, services
from ketaclinic.referrals.forms import (
    CrisisReferralForm,
    DirectoryFilterForm,
    ReferralForm,
    ResourceForm,
    StallLimitsForm,
    StatusForm,
)
from ketaclinic.referrals.rules import referral_rules


def _add_errors(form: Any, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


def _location_for(request: HttpRequest) -> tuple[Location, list[Location]]:
    """The location whose directory is shown (accounts.selectors.location_asked_for)."""
    location, locations = location_asked_for(request)
    if location is None:
        raise Http404("No location")
    return location, locations


@capability_required("referrals.view")
def resource_list(request: HttpRequest) -> HttpResponse:
    location, locations = _location_for(request)
    form = DirectoryFilterForm(request.GET or None)
    filters = selectors.DirectoryFilter()
    if form.is_valid():
        telehealth = {"yes": True, "no": False}.get(form.cleaned_data["telehealth"])
        filters = selectors.DirectoryFilter(
            kind=form.cleaned_data["kind"],
            language=form.cleaned_data["language"].strip(),
            telehealth=telehealth,
            include_inactive=form.cleaned_data["inactive"],
        )
    resources = selectors.directory(location.pk, filters)
    page = Paginator(resources, settings.KETACLINIC_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "referrals/resources.html",
        {
            "location": location,
            "locations": locations,
            "form": form,
            "page": page,
            "pager_query": query.urlencode(),
        },
    )


@capability_required("referrals.configure")
def resource_create(request: HttpRequest) -> HttpResponse:
    location, _ = _location_for(request)
    form = ResourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            resource = services.resource_create(
                actor=request.user, location=location, data=form.cleaned_data
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"{resource.name} is in {location.short_name}'s directory.")
            return redirect(f"{reverse('referrals:resources')}?location={location.pk}")
    return render(
        request,
        "referrals/resource_form.html",
        {"form": form, "location": location, "resource": None},
        status=400 if request.method == "POST" else 200,
    )


@capability_required("referrals.configure")
def resource_edit(request: HttpRequest, resource_id: int) -> HttpResponse:
    resource = selectors.resource_get_for_user(request.user, resource_id)
    if resource.national:
        raise PermissionDenied(services.NATIONAL_FIXED)
    form = ResourceForm(request.POST or None, instance=resource)
    if request.method == "POST" and form.is_valid():
        try:
            resource = services.resource_update(
                actor=request.user, resource=resource, data=form.cleaned_data
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"{resource.name} is saved.")
            return redirect(f"{reverse('referrals:resources')}?location={resource.location_id}")
    return render(
        request,
        "referrals/resource_form.html",
        {"form": form, "location": resource.location, "resource": resource},
        status=400 if request.method == "POST" else 200,
    )


@capability_required("referrals.configure")
def stall_limits(request: HttpRequest) -> HttpResponse:
    """The location's own stall limits, one per urgency (defaults in rules.json)."""
    location, locations = _location_for(request)
    current = selectors.stall_days_for([location.pk])[location.pk]
    form = StallLimitsForm(request.POST or None, current=current)
    if request.method == "POST" and form.is_valid():
        try:
            services.stall_limits_set(
                actor=request.user, location=location, days_by_urgency=form.cleaned_data
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"{location.short_name}'s stall limits are saved.")
            return redirect(f"{reverse('referrals:stall_limits')}?location={location.pk}")
    return render(
        request,
        "referrals/stall_limits.html",
        {"form": form, "location": location, "locations": locations},
        status=400 if request.method == "POST" else 200,
    )


@capability_required("referrals.manage")
def stalled(request: HttpRequest) -> HttpResponse:
    referrals = selectors.stalled_referrals(request.user, location_id=chosen_location_id(request))
    page = Paginator(referrals, settings.KETACLINIC_PAGE_SIZE).get_page(request.GET.get("page"))
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        object_type="stalled_referrals",
        detail={
            "patient_ids": sorted({r.patient_id for r in page}),
            "referral_ids": sorted(r.pk for r in page),
        },
    )
    return render(request, "referrals/stalled.html", {"page": page, "rules": referral_rules()})


@patient_page("referrals.view", "referrals")
def patient_referrals(request: HttpRequest, patient: Patient) -> HttpResponse:
    return render(
        request,
        "referrals/patient_referrals.html",
        {
            "patient": patient,
            "tab": "referrals",
            "referrals": selectors.patient_referrals(patient),
            "rules": referral_rules(),
        },
    )


@patient_page("referrals.manage", "referral_new")
def referral_new(request: HttpRequest, patient: Patient) -> HttpResponse:
    resources = selectors.directory(patient.primary_location_id)
    form = ReferralForm(request.POST or None, resources=resources)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            referral = services.referral_create(
                actor=request.user,
                patient=patient,
                resource=data["resource"],
                outside_provider=data["outside_provider"],
                reason=data["reason"],
                urgency=data["urgency"],
                note=data["note"],
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Referral to {referral.recipient_name} sent.")
            return redirect("referrals:referral", referral_id=referral.pk)
    return render(
        request,
        "referrals/referral_form.html",
        {"patient": patient, "tab": "referrals", "form": form},
        status=400 if request.method == "POST" else 200,
    )


@capability_required("referrals.view")
def referral_detail(request: HttpRequest, referral_id: int) -> HttpResponse:
    # Whose referral before which method: another location's id is a 404 either way.
    referral = selectors.referral_get_for_user(request.user, referral_id)
    if request.method == "POST" and not request.user.can("referrals.manage"):
        raise PermissionDenied("Your role may not change referrals (referrals.manage).")
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=referral.patient_id,
        object_type="referral",
        object_id=referral.pk,
    )
    form = StatusForm(request.POST or None, current=referral.state)
    if request.method == "POST" and form.is_valid():
        try:
            referral = services.referral_change_status(
                actor=request.user,
                referral=referral,
                to_state=form.cleaned_data["to_state"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Referral marked {referral.get_state_display().lower()}.")
            return redirect("referrals:referral", referral_id=referral.pk)
    events = list(referral.events.all())
    return render(
        request,
        "referrals/referral.html",
        {
            "patient": referral.patient,
            "tab": "referrals",
            "referral": referral,
            "events": events,
            "form": form,
            "stalled": selectors.referral_is_stalled(referral),
        },
        status=400 if request.method == "POST" else 200,
    )


@capability_required("referrals.manage")
def crisis_referral(request: HttpRequest, alert_id: int) -> HttpResponse:
    """From a safety alert: acknowledge it and refer to a crisis resource, in one step."""
    alert = alert_get_for_user(request.user, alert_id)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not request.user.can("alerts.acknowledge"):
        raise PermissionDenied("Your role may not acknowledge alerts.")
    resources = selectors.crisis_resources(alert.patient.primary_location_id)
    form = CrisisReferralForm(request.POST, resources=resources, prefix="crisis")
    if form.is_valid():
        try:
            referral = services.referral_crisis_from_alert(
                actor=request.user,
                alert=alert,
                resource=form.cleaned_data["resource"],
                note=form.cleaned_data["note"],
            )
        except AlreadyAcknowledgedError as error:
            messages.info(request, str(error))
            return redirect("measures:alert", alert_id=alert.pk)
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(
                request,
                f"Alert acknowledged and crisis referral to {referral.recipient_name} sent.",
            )
            return redirect("referrals:referral", referral_id=referral.pk)
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=alert.patient_id,
        object_type="safety_alert",
        object_id=alert.pk,
    )
    return render(request, "referrals/crisis_form.html", {"alert": alert, "form": form}, status=400)


@never_cache
@login_required
def portal_referrals(request: HttpRequest) -> HttpResponse:
    """The patient's own referrals and their location's directory, in the portal."""
    if not request.user.can("patient.view_own_record"):
        raise PermissionDenied("The patient portal is for patients.")
    patient = patient_get_for_user(request.user, request.user.patient_id)
    referrals = list(selectors.patient_referrals(patient))
    resources = list(selectors.directory(patient.primary_location_id))
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=patient.pk,
        object_type="patient",
        object_id=patient.pk,
        detail={"page": "portal_referrals", "referral_ids": [r.pk for r in referrals]},
    )
    return render(
        request,
        "referrals/portal_referrals.html",
        {
            "patient": patient,
            "referrals": referrals,
            "resources": resources,
            "crisis": crisis_line(),
        },
    )
