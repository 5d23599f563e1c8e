from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ketaclinic.accounts.decorators import capability_required
from ketaclinic.audit.models import AuditAction
from ketaclinic.audit.services import audit_record
from ketaclinic.clinical.eligibility import RuleKind
from ketaclinic.eligibility import services
from ketaclinic.eligibility.forms import (
    INTAKE_STEPS,
    STEP_KEYS,
    ConsentDocumentForm,
    ConsentForm,
    RuleSettingForm,
    SignDecisionForm,
    StartIntakeForm,
    StepVersionForm,
)
from ketaclinic.eligibility.models import ConsentSignature, IntakeEvaluation
from ketaclinic.eligibility.selectors import (
    clinic_rule_settings,
    current_consent_document,
    eligibility_rules_in_force,
    trial_policy,
)
from ketaclinic.patients.models import Patient
from ketaclinic.patients.views import patient_page
from ketaclinic.plugins import render_page_panels


def _posted_version(request: HttpRequest) -> int:
    """The record version the form was opened at; a tampered value counts as stale."""
    form = StepVersionForm(request.POST)
    return form.cleaned_data["version"] if form.is_valid() else -1


def _intake(patient: Patient, intake_id: int) -> IntakeEvaluation:
    intake = patient.intake_evaluations.filter(pk=intake_id).first()
    if intake is None:
        raise Http404("No such intake")
    return intake


@patient_page("eligibility.intake", "intake_start")
def intake_start(request: HttpRequest, patient: Patient) -> HttpResponse:
    form = StartIntakeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        intake = services.intake_start(
            actor=request.user, patient=patient, route=form.cleaned_data["route"]
        )
        return redirect(
            "eligibility:intake_step", patient_id=patient.pk, intake_id=intake.pk, step=STEP_KEYS[0]
        )
    return render(
        request,
        "eligibility/intake_start.html",
        {"patient": patient, "tab": "treatment", "form": form},
    )


@patient_page("eligibility.intake", "intake_step")
def intake_step(request: HttpRequest, patient: Patient, intake_id: int, step: str) -> HttpResponse:
    intake = _intake(patient, intake_id)
    spec = next((s for s in INTAKE_STEPS if s.key == step), None)
    if spec is None:
        raise Http404("No such step")
    if intake.status != IntakeEvaluation.Status.DRAFT:
        return redirect("eligibility:intake_review", patient_id=patient.pk, intake_id=intake.pk)
    form = spec.form(request.POST or None, initial=intake.facts)
    if request.method == "POST" and form.is_valid():
        try:
            services.intake_save_step(
                actor=request.user,
                intake=intake,
                step=step,
                answers=form.cleaned_data,
                expected_version=_posted_version(request),
            )
        except (services.StaleIntakeError, ValidationError) as error:
            form.add_error(
                None, error.messages[0] if isinstance(error, ValidationError) else str(error)
            )
        else:
            index = STEP_KEYS.index(step)
            if "save_exit" in request.POST:
                messages.success(request, "Saved. You can continue the intake later.")
                return redirect("treatment:tab", patient_id=patient.pk)
            if index + 1 < len(STEP_KEYS):
                return redirect(
                    "eligibility:intake_step",
                    patient_id=patient.pk,
                    intake_id=intake.pk,
                    step=STEP_KEYS[index + 1],
                )
            return redirect("eligibility:intake_review", patient_id=patient.pk, intake_id=intake.pk)
    return render(
        request,
        "eligibility/intake_step.html",
        {
            "patient": patient,
            "tab": "treatment",
            "intake": intake,
            "form": form,
            "step": spec,
            "steps": INTAKE_STEPS,
            "trials": services.intake_trials(patient),
            "policy": trial_policy(),
        },
    )


@patient_page("eligibility.intake", "intake_review")
def intake_review(request: HttpRequest, patient: Patient, intake_id: int) -> HttpResponse:
    intake = _intake(patient, intake_id)
    signed = intake.decisions.order_by("-signed_at").first()
    result = None if signed else services.intake_evaluate(intake)
    form = SignDecisionForm(request.POST or None, initial={"version": intake.version})
    if request.method == "POST" and form.is_valid():
        try:
            services.eligibility_sign(
                actor=request.user,
                intake=intake,
                password=form.cleaned_data["password"],
                decision=form.cleaned_data["decision"],
                expected_version=form.cleaned_data["version"],
                override_reason=form.cleaned_data["override_reason"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Eligibility decision signed.")
            return redirect("treatment:tab", patient_id=patient.pk)
    missing = [s for s in INTAKE_STEPS if s.key not in intake.completed_steps]
    return render(
        request,
        "eligibility/intake_review.html",
        {
            "patient": patient,
            "tab": "treatment",
            "intake": intake,
            "result": result,
            "signed": signed,
            "form": form,
            "missing_steps": missing,
            "steps": INTAKE_STEPS,
            "can_sign": request.user.can("eligibility.sign"),
            "decisions": intake.decisions.order_by("-signed_at"),
            "measurement": patient.measurements.first(),
            # Other apps' panels for this page (the measures app: baseline scores).
            "panels": list(render_page_panels("intake_review", request, patient=patient)),
        },
    )


@patient_page("consent.record", "consent")
def consent(request: HttpRequest, patient: Patient) -> HttpResponse:
    document = current_consent_document()
    form = ConsentForm(
        request.POST or None, initial={"document_version": document.version if document else 0}
    )
    if request.method == "POST" and document and form.is_valid():
        try:
            services.consent_sign(
                actor=request.user,
                patient=patient,
                document=document,
                typed_name=form.cleaned_data["typed_name"],
                read_version=form.cleaned_data["document_version"],
                agreed=form.cleaned_data["agreed"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, "Consent recorded and witnessed.")
            return redirect("treatment:tab", patient_id=patient.pk)
    return render(
        request,
        "eligibility/consent.html",
        {
            "patient": patient,
            "tab": "treatment",
            "document": document,
            "form": form,
            "pending": patient.consent_signatures.filter(witness__isnull=True).select_related(
                "document"
            ),
        },
    )


@patient_page("consent.record", "consent_witness")
def consent_witness(request: HttpRequest, patient: Patient, signature_id: int) -> HttpResponse:
    signature = patient.consent_signatures.filter(pk=signature_id).first()
    if signature is None:
        raise Http404("No such signature")
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        try:
            services.consent_witness(actor=request.user, signature=signature)
        except ValidationError as error:
            messages.info(request, error.messages[0])
        else:
            messages.success(request, "Consent witnessed.")
    return redirect("eligibility:consent", patient_id=patient.pk)


@capability_required("patient.view_own_record")
def portal_consent(request: HttpRequest) -> HttpResponse:
    patient = Patient.objects.select_related("primary_location").get(pk=request.user.patient_id)
    document = current_consent_document()
    audit_record(
        actor=request.user,
        action=AuditAction.VIEW,
        patient_id=patient.pk,
        object_type="consent_document",
        object_id=document.pk if document else "",
    )
    form = ConsentForm(
        request.POST or None, initial={"document_version": document.version if document else 0}
    )
    signed = (
        ConsentSignature.objects.filter(patient=patient, document=document).first()
        if document
        else None
    )
    if request.method == "POST" and document and not signed and form.is_valid():
        try:
            signed = services.consent_sign(
                actor=request.user,
                patient=patient,
                document=document,
                typed_name=form.cleaned_data["typed_name"],
                read_version=form.cleaned_data["document_version"],
                agreed=form.cleaned_data["agreed"],
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                "Thank you. Your signature is recorded; a member of the "
                "care team will witness it at your next visit.",
            )
            return redirect("portal:home")
    return render(
        request,
        "eligibility/portal_consent.html",
        {"patient": patient, "document": document, "form": form, "signed": signed},
    )


@capability_required("consent.publish")
def consent_documents(request: HttpRequest) -> HttpResponse:
    current = current_consent_document()
    form = ConsentDocumentForm(
        request.POST or None,
        initial={"title": current.title, "body": current.body} if current else None,
    )
    if request.method == "POST" and form.is_valid():
        try:
            document = services.consent_document_publish(
                actor=request.user, title=form.cleaned_data["title"], body=form.cleaned_data["body"]
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(
                request,
                f"Version {document.version} is now the consent patients "
                "sign. Earlier signatures stay on the version they read.",
            )
            return redirect("eligibility:consent_documents")
    return render(request, "eligibility/consent_documents.html", {"form": form, "current": current})


@capability_required("protocols.view")
def rules(request: HttpRequest) -> HttpResponse:
    settings_in_force = clinic_rule_settings()
    return render(
        request,
        "eligibility/rules.html",
        {
            "rules": eligibility_rules_in_force(),
            "settings": settings_in_force,
            "policy": trial_policy(),
            "form": RuleSettingForm(),
            "kinds": [kind.value for kind in RuleKind],
        },
    )


@capability_required("eligibility.configure_rules")
def rule_change(request: HttpRequest, eligibility_rule: str) -> HttpResponse:
    form = RuleSettingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.rule_setting_change(
                actor=request.user,
                rule_id=eligibility_rule,
                kind=form.cleaned_data["kind"],
                reason=form.cleaned_data["reason"],
            )
        except ValidationError as error:
            messages.error(request, error.messages[0])
        else:
            messages.success(
                request, f"Rule {eligibility_rule} is now {form.cleaned_data['kind']}."
            )
    elif request.method == "POST":
        messages.error(request, "Choose the kind and give the reason for the change.")
    return redirect("eligibility:rules")
