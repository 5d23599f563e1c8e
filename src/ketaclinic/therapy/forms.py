"""Therapy forms: they check the shape of the input; the rules are the services'."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from ketaclinic.accounts.models import User
from ketaclinic.organization.models import Location
from ketaclinic.scheduling.calendar.forms import DATE, TIME, ProviderField, local_start
from ketaclinic.scheduling.models import AppointmentType
from ketaclinic.scheduling.selectors import appointment_types_for, providers_at
from ketaclinic.therapy.rules import note_fields, risk_check_labels, therapy_type_keys


class TherapyVisitForm(forms.Form):
    appointment_type = forms.ModelChoiceField(
        queryset=AppointmentType.objects.none(), label="Visit", empty_label=None
    )
    provider = ProviderField(queryset=User.objects.none(), label="Therapist or provider")
    date = forms.DateField(widget=DATE)
    time = forms.TimeField(widget=TIME, label="Time (local)")
    telehealth = forms.BooleanField(required=False, label="Video visit")
    after_session = forms.IntegerField(required=False, widget=forms.HiddenInput)
    note = forms.CharField(required=False, max_length=300, label="Note for the calendar")

    def __init__(self, *args: Any, location: Location, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.location = location
        keys = therapy_type_keys()
        kinds = [t.pk for t in appointment_types_for(location) if t.key in keys]
        self.fields["appointment_type"].queryset = AppointmentType.objects.filter(
            pk__in=kinds
        ).order_by("sort_order", "name")
        self.fields["provider"].queryset = providers_at(location)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("date") and data.get("time"):
            try:
                data["starts_at"] = local_start(data["date"], data["time"], self.location.tz)
            except ValidationError as error:
                self.add_error("time", error)
        return data


class TherapyNoteForm(forms.Form):
    """A note's structured fields, as therapy/rules.json names them for its kind."""

    session_date = forms.DateField(widget=DATE, label="Date of the session")
    risk_check = forms.ChoiceField(widget=forms.RadioSelect, label="Risk check", choices=())

    def __init__(self, *args: Any, kind: str, with_date: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        if not with_date:
            del self.fields["session_date"]
        self.fields["risk_check"].choices = list(risk_check_labels().items())
        for name, label, required in note_fields(kind):
            self.fields[name] = forms.CharField(
                label=label,
                required=required,
                max_length=4000,
                widget=forms.Textarea(attrs={"rows": 3}),
            )
        # The risk check last but one: the plan closes the note.
        order = [n for n in self.fields if n not in ("risk_check", "plan")]
        self.order_fields([*order, "risk_check", "plan"])

    def answers(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name, _, _ in note_fields(self.kind)}


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="Your password (signature)", widget=forms.PasswordInput, strip=False
    )


class AddendumForm(forms.Form):
    body = forms.CharField(
        label="Addendum", max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class PsychotherapyNoteForm(forms.Form):
    session_date = forms.DateField(widget=DATE, label="Date of the session")
    body = forms.CharField(
        label="Psychotherapy note", max_length=20000, widget=forms.Textarea(attrs={"rows": 8})
    )


class TherapySettingsForm(forms.Form):
    integration_opens_after_hours = forms.IntegerField(
        min_value=0, max_value=24 * 14, label="Window opens (hours after dosing ends)"
    )
    integration_closes_after_hours = forms.IntegerField(
        min_value=1, max_value=24 * 28, label="Window closes (hours after dosing ends)"
    )
    source = forms.CharField(max_length=300, label="Source (or 'clinic default')")
