from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms

from ketaclinic.accounts.selectors import locations_for
from ketaclinic.patients.models import (
    Allergy,
    BodyMeasurement,
    Diagnosis,
    Medication,
    Patient,
    SubstanceUse,
)

if TYPE_CHECKING:
    from ketaclinic.accounts.models import User


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


PATIENT_FIELDS = [
    "legal_first_name", "legal_last_name", "preferred_name", "date_of_birth", "sex_at_birth",
    "gender_identity", "pronouns", "phone", "email", "address_line1", "address_line2", "city",
    "state", "postal_code", "primary_location", "emergency_contact_name",
    "emergency_contact_relationship", "emergency_contact_phone", "escort_name", "escort_phone",
]  # fmt: skip


class PatientForm(forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Patient
        fields = PATIENT_FIELDS
        widgets = {
            "date_of_birth": DateInput(),
            "phone": forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
            "emergency_contact_phone": forms.TextInput(attrs={"inputmode": "tel"}),
            "escort_phone": forms.TextInput(attrs={"inputmode": "tel"}),
        }

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["primary_location"].queryset = locations_for(user)
        self.fields["primary_location"].empty_label = None
        if self.instance.pk:
            self.fields["version"].initial = self.instance.version


class DiagnosisForm(forms.ModelForm):
    class Meta:
        model = Diagnosis
        fields = ["icd10_code", "description", "onset_date", "status", "is_primary"]
        widgets = {"onset_date": DateInput()}
        help_texts = {"icd10_code": "For example F33.2 (recurrent major depression, severe)."}


class MedicationForm(forms.ModelForm):
    class Meta:
        model = Medication
        fields = [
            "name", "medication_class", "dose_mg_per_day", "directions", "started_on",
            "stopped_on", "is_current", "in_current_episode", "weeks_at_dose", "adherence",
            "trial_outcome",
        ]  # fmt: skip
        widgets = {"started_on": DateInput(), "stopped_on": DateInput()}
        help_texts = {
            "weeks_at_dose": "For an antidepressant trial: weeks at this dose.",
            "trial_outcome": "For an antidepressant trial: how the patient responded.",
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        started, stopped = data.get("started_on"), data.get("stopped_on")
        if started and stopped and stopped < started:
            self.add_error("stopped_on", "A medication cannot stop before it started.")
        return data


class AllergyForm(forms.ModelForm):
    class Meta:
        model = Allergy
        fields = ["substance", "reaction", "severity"]


class SubstanceUseForm(forms.ModelForm):
    class Meta:
        model = SubstanceUse
        fields = ["substance", "status", "amount_and_frequency", "last_use_on", "notes"]
        widgets = {"last_use_on": DateInput()}


class MeasurementForm(forms.ModelForm):
    class Meta:
        model = BodyMeasurement
        fields = ["measured_on", "weight_kg", "height_cm"]
        widgets = {"measured_on": DateInput()}
        labels = {"weight_kg": "Weight (kg)", "height_cm": "Height (cm)"}


# The page takes files up to this size; the `ketaclinic import patients` command any size.
IMPORT_MAX_BYTES = 10 * 1024 * 1024


class PatientImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8 CSV with a header line; docs/imports.md lists the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
    location = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="Each line names its location",
        help_text="For lines whose location column is empty, or a file without one.",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["location"].queryset = locations_for(user)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1024 / 1024:.1f} MB; the page takes up to "
                f"{IMPORT_MAX_BYTES // 1024 // 1024} MB. Split it, or use "
                "`ketaclinic import patients FILE` on the server."
            )
        return upload
