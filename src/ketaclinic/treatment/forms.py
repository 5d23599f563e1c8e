from __future__ import annotations

import json
from typing import Any

from django import forms

from ketaclinic.treatment.models import ProtocolVersion


class CourseForm(forms.Form):
    protocol = forms.ModelChoiceField(queryset=ProtocolVersion.objects.none(), empty_label=None)
    first_day = forms.DateField(
        label="First session on or after", widget=forms.DateInput(attrs={"type": "date"})
    )
    local_time = forms.TimeField(
        label="Session start time (clinic's local time)",
        widget=forms.TimeInput(attrs={"type": "time"}),
    )
    mg_per_kg = forms.DecimalField(
        label="Dose (mg/kg), IV only",
        required=False,
        min_value=0.1,
        max_value=2,
        decimal_places=2,
        help_text="Empty: the protocol's standard dose.",
    )
    rems_patient_enrollment_id = forms.CharField(
        label="REMS patient enrollment id (esketamine)", required=False
    )
    rems_enrolled_on = forms.DateField(
        label="REMS enrollment date (esketamine)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, protocols: list[ProtocolVersion], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["protocol"]
        field.queryset = ProtocolVersion.objects.filter(pk__in=[p.pk for p in protocols])
        field.label_from_instance = lambda p: f"{p.name} (version {p.version})"


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are not JSON and would slip past numeric limits.
    raise ValueError(f"{name} is not a number a protocol can use")


class ProtocolEditForm(forms.Form):
    data = forms.CharField(
        label="Protocol (JSON)", widget=forms.Textarea(attrs={"rows": 28, "class": "mono"})
    )
    change_note = forms.CharField(
        label="What changed and why", widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_data(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["data"], parse_constant=_refuse_constant)
        except ValueError as error:
            raise forms.ValidationError(f"Not valid JSON: {error}") from error
        if not isinstance(value, dict):
            raise forms.ValidationError("The protocol must be a JSON object.")
        return value


class EndCourseForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    understood = forms.BooleanField(
        label="Cancel the sessions not yet started, and their bookings, with this reason",
        error_messages={"required": "Tick the box to confirm: ending a course cancels them."},
    )
