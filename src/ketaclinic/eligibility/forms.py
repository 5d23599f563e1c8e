from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from ketaclinic.clinical.eligibility import RuleKind
from ketaclinic.eligibility.models import EligibilityDecision, Route


def _yes(label: str, help_text: str = "") -> forms.BooleanField:
    return forms.BooleanField(label=label, required=False, help_text=help_text)


class EpisodeForm(forms.Form):
    episode_length_months = forms.IntegerField(
        label="Length of the current episode (months)", min_value=0, max_value=600, required=False
    )
    ect_sessions_this_episode = forms.IntegerField(
        label="ECT sessions in this episode", min_value=0, max_value=100, initial=0
    )
    current_neuromodulation = _yes("Currently receiving ECT, TMS, VNS or DBS")


class PsychiatricForm(forms.Form):
    psychosis_history = _yes("History of psychosis or psychotic features")
    schizophrenia_or_schizoaffective = _yes("Schizophrenia or schizoaffective disorder")
    current_substance_use_disorder = _yes("Current substance use disorder")
    bipolar_disorder = _yes("Bipolar disorder")
    on_mood_stabiliser = _yes("Taking a mood stabiliser")
    ptsd = _yes("PTSD", "Plan in advance how to calm distress during a session.")


class MedicalForm(forms.Form):
    hypertension = _yes("Hypertension")
    systolic_bp = forms.IntegerField(
        label="Blood pressure today, systolic (mmHg)", min_value=60, max_value=260, required=False
    )
    diastolic_bp = forms.IntegerField(
        label="Diastolic (mmHg)", min_value=30, max_value=160, required=False
    )
    unstable_cardiovascular_disease = _yes("Unstable cardiovascular disease")
    aneurysmal_vascular_disease = _yes(
        "Aneurysmal vascular disease (aorta, intracranial, peripheral)"
    )
    arteriovenous_malformation = _yes("Arteriovenous malformation")
    intracerebral_haemorrhage_history = _yes("History of intracerebral haemorrhage")
    raised_intracranial_or_intraocular_pressure = _yes(
        "Raised intracranial or intraocular pressure"
    )
    severe_liver_disease = _yes("Severe liver disease")
    pregnant_or_possibly_pregnant = _yes("Pregnant or possibly pregnant")
    ketamine_hypersensitivity = _yes("Hypersensitivity to ketamine or esketamine")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if (data.get("systolic_bp") is None) != (data.get("diastolic_bp") is None):
            raise forms.ValidationError("Enter both systolic and diastolic pressure, or neither.")
        if data.get("systolic_bp") and data["systolic_bp"] <= data["diastolic_bp"]:
            raise forms.ValidationError("Systolic pressure must be above diastolic.")
        return data


class MedicationsForm(forms.Form):
    benzodiazepine_lorazepam_eq_mg_per_day = forms.DecimalField(
        label="Benzodiazepines, lorazepam-equivalent (mg/day)",
        min_value=0,
        max_value=100,
        decimal_places=2,
        initial=0,
    )
    morning_benzodiazepine = _yes("Takes a benzodiazepine in the morning")
    non_benzo_hypnotic = _yes("Non-benzodiazepine hypnotic (e.g. zolpidem)")
    psychostimulant = _yes("Psychostimulant")
    maoi = _yes("MAOI")
    opioid = _yes("Opioid")


@dataclass(frozen=True)
class IntakeStep:
    key: str
    title: str
    form: type[forms.Form]
    help: str


INTAKE_STEPS = (
    IntakeStep(
        "episode",
        "Episode and prior treatment",
        EpisodeForm,
        "Antidepressant trials come from the chart's medication list (History & "
        "medications): check each trial of this episode has dose, weeks, adherence and "
        "outcome.",
    ),
    IntakeStep("psychiatric", "Psychiatric history and substance use", PsychiatricForm, ""),
    IntakeStep("medical", "Medical checklist and blood pressure", MedicalForm, ""),
    IntakeStep(
        "medications",
        "Current medications and REMS flags",
        MedicationsForm,
        "Benzodiazepines, hypnotics, psychostimulants, MAOIs and opioids are flagged "
        "for review and for the Spravato REMS form.",
    ),
)
STEP_KEYS = tuple(step.key for step in INTAKE_STEPS)


class StepVersionForm(forms.Form):
    version = forms.IntegerField(min_value=0)


class StartIntakeForm(forms.Form):
    route = forms.ChoiceField(
        choices=Route.choices, widget=forms.RadioSelect, label="Treatment considered"
    )


class SignDecisionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput)
    decision = forms.ChoiceField(
        choices=EligibilityDecision.Decision.choices, widget=forms.RadioSelect
    )
    override_reason = forms.CharField(
        label="Reason for approving against the advice",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required when the advice is not eligible.",
    )
    note = forms.CharField(label="Note", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    password = forms.CharField(
        label="Your password, to sign",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class ConsentForm(forms.Form):
    # The version the patient read: a newer one published meanwhile is not signed unseen.
    document_version = forms.IntegerField(widget=forms.HiddenInput)
    typed_name = forms.CharField(label="Patient types their full legal name", max_length=200)
    agreed = forms.BooleanField(
        label="I have read this consent, had my questions answered, and agree to treatment.",
        error_messages={"required": "Tick the box to confirm."},
    )


class ConsentDocumentForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 16}))


class RuleSettingForm(forms.Form):
    kind = forms.ChoiceField(choices=[(kind.value, kind.value.capitalize()) for kind in RuleKind])
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
