"""The outcomes page's filters and the definitions form."""

from __future__ import annotations

from typing import Any

from django import forms

from ketaclinic.outcomes.selectors import DEFAULT_INSTRUMENT, CohortFilters

INSTRUMENT_CHOICES = (("phq9", "PHQ-9"), ("madrs", "MADRS"), ("qids-sr16", "QIDS-SR16"))
VIEW_CHOICES = (("itt", "Intention to treat"), ("completers", "Completers"))


class CohortFilterForm(forms.Form):
    start_from = forms.DateField(label="Course started from", required=False)
    start_to = forms.DateField(label="to", required=False)
    location = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    route = forms.ChoiceField(required=False)
    protocol = forms.ChoiceField(required=False)
    prescriber = forms.TypedChoiceField(coerce=int, required=False, empty_value=None)
    diagnosis = forms.CharField(
        label="Diagnosis (ICD-10-CM)", required=False, max_length=8, help_text="e.g. F33"
    )
    age_band = forms.ChoiceField(label="Age band", required=False)
    sex = forms.ChoiceField(label="Sex at birth", required=False)
    instrument = forms.ChoiceField(choices=INSTRUMENT_CHOICES, required=False)
    view = forms.ChoiceField(label="Rates", choices=VIEW_CHOICES, required=False)

    def __init__(self, data: Any, *, choices: dict[str, Any]) -> None:
        super().__init__(data)
        every = [("", "All")]
        self.fields["location"].choices = every + list(choices["locations"])
        self.fields["route"].choices = every + list(choices["routes"])
        self.fields["protocol"].choices = every + list(choices["protocols"])
        self.fields["prescriber"].choices = every + list(choices["prescribers"])
        self.fields["age_band"].choices = every + [(b, b) for b in choices["age_bands"]]
        self.fields["sex"].choices = every + list(choices["sexes"])
        for field in self.fields.values():
            if isinstance(field.widget, forms.DateInput):
                field.widget.input_type = "date"

    def filters(self) -> CohortFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return CohortFilters(
            start_from=data.get("start_from"),
            start_to=data.get("start_to"),
            location_id=data.get("location"),
            route=data.get("route") or "",
            protocol=data.get("protocol") or "",
            prescriber_id=data.get("prescriber"),
            diagnosis=(data.get("diagnosis") or "").strip(),
            age_band=data.get("age_band") or "",
            sex=data.get("sex") or "",
        )

    @property
    def instrument_key(self) -> str:
        return (
            self.cleaned_data.get("instrument") if self.is_valid() else ""
        ) or DEFAULT_INSTRUMENT

    @property
    def rate_view(self) -> str:
        return (self.cleaned_data.get("view") if self.is_valid() else "") or "itt"


class DefinitionForm(forms.Form):
    baseline_window_days = forms.IntegerField(
        label="Baseline: days before the first dose", min_value=0, max_value=90
    )
    response_fall_percent = forms.DecimalField(
        label="Response: fall from baseline (%)", min_value=1, max_value=100, decimal_places=1
    )
    end_of_induction_window_days = forms.IntegerField(
        label="End of induction: days after the last induction session", min_value=0, max_value=60
    )
    timepoint_weeks = forms.CharField(label="Timepoints (weeks, comma-separated)")
    timepoint_window_days = forms.IntegerField(
        label="Timepoint window (days either side)", min_value=0, max_value=28
    )
    relapse_consecutive_measures = forms.IntegerField(
        label="Relapse: consecutive scores above the response threshold", min_value=1, max_value=10
    )
    relapse_on_rescue_course = forms.BooleanField(
        label="A new (rescue) course after a response is a relapse", required=False
    )
    follow_up_max_days = forms.IntegerField(
        label="Follow-up counted up to (days after the first dose)", min_value=7, max_value=3650
    )
    follow_up_overdue_days = forms.IntegerField(
        label="Follow-up overdue after (days without a score)", min_value=1, max_value=365
    )
    change_note = forms.CharField(label="What changed and why", widget=forms.Textarea)
    # The version the form showed (services.definition_save refuses a stale one).
    based_on_version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def clean_timepoint_weeks(self) -> list[int]:
        text = self.cleaned_data["timepoint_weeks"]
        try:
            return [int(part) for part in text.replace(" ", "").split(",") if part]
        except ValueError as error:
            raise forms.ValidationError("Whole numbers of weeks, separated by commas.") from error

    def data_for(self, current: dict[str, Any]) -> dict[str, Any]:
        """The definition's JSON shape with this form's values."""
        d = self.cleaned_data
        data = {
            key: dict(value) if isinstance(value, dict) else value for key, value in current.items()
        }
        fall = d["response_fall_percent"]
        data["baseline"]["window_days"] = d["baseline_window_days"]
        data["response"]["fall_percent"] = int(fall) if fall == int(fall) else float(fall)
        data["end_of_induction"]["window_days"] = d["end_of_induction_window_days"]
        data["timepoints"]["weeks"] = d["timepoint_weeks"]
        data["timepoints"]["window_days"] = d["timepoint_window_days"]
        data["relapse"]["consecutive_measures"] = d["relapse_consecutive_measures"]
        data["relapse"]["rescue_course"] = d["relapse_on_rescue_course"]
        data["follow_up"]["max_days"] = d["follow_up_max_days"]
        data["follow_up"]["overdue_days"] = d["follow_up_overdue_days"]
        return data
