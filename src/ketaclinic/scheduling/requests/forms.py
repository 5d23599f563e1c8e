"""Forms of the coordinator's request queue: a contact attempt, linking to an existing
patient, declining. Registering a new patient reuses patients.forms.PatientForm."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from ketaclinic.patients.models import Patient
from ketaclinic.scheduling.models import ContactAttempt


class ContactAttemptForm(forms.ModelForm):
    class Meta:
        model = ContactAttempt
        fields = ["channel", "outcome", "note"]
        labels = {"channel": "How", "note": "Note (for the team)"}


class LinkForm(forms.Form):
    """Link the request to one of the existing patients it matches (and the user may see)."""

    patient = forms.ModelChoiceField(
        queryset=Patient.objects.none(),
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "That patient is not one of the matches you can see."},
    )

    def __init__(self, *args: Any, matches: QuerySet[Patient], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["patient"].queryset = matches


class DeclineForm(forms.Form):
    reason = forms.CharField(
        label="Reason for declining",
        max_length=300,
        help_text="e.g. lives outside our area, asked not to be contacted, not a fit for "
        "ketamine treatment (referred elsewhere).",
        error_messages={"required": "Give the reason for declining this request."},
    )
    spam = forms.BooleanField(
        label="This is spam: nobody real asked (no reason needed)", required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.data.get("spam"):
            self.fields["reason"].required = False
