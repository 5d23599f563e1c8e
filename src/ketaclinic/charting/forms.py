"""Forms for session charting: each one checks its input; services check the rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from ketaclinic.charting.models import (
    AdverseEvent,
    Intervention,
    PregnancyTest,
    RemsSubmission,
    SessionScore,
    SideEffect,
)
from ketaclinic.clinical.codes import normalize_us_phone

TIME_HELP = "Leave empty for now. For a late entry, the time it was taken (HH:MM)."


class TakenAtMixin(forms.Form):
    """An optional time of day for late entry, in the location's time zone."""

    taken_time = forms.TimeField(
        label="Time taken",
        required=False,
        help_text=TIME_HELP,
        widget=forms.TimeInput(attrs={"type": "time"}),
    )

    def __init__(self, *args: Any, tz: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz

    def taken_at(self) -> Any:
        value = self.cleaned_data.get("taken_time")
        if value is None:
            return None
        now = timezone.localtime(timezone.now(), self.tz)
        moment = now.replace(hour=value.hour, minute=value.minute, second=0, microsecond=0)
        if moment > now + timedelta(minutes=1):
            # A time later than now means yesterday evening (a session over midnight).
            moment -= timedelta(days=1)
        return moment


def _whole(label: str, low: int, high: int, unit: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": unit}),
    )


class VitalsForm(TakenAtMixin):
    """Whole numbers only: the plausible and usual ranges are the protocol's
    (safety_limits.vitals), checked by the service."""

    systolic = _whole("Systolic", 0, 999, "mmHg")
    diastolic = _whole("Diastolic", 0, 999, "mmHg")
    heart_rate = _whole("Heart rate", 0, 999, "bpm")
    spo2 = _whole("SpO2", 0, 100, "%")
    respiratory_rate = _whole("Resp. rate", 0, 999, "/min")
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    field_order = [
        "systolic",
        "diastolic",
        "heart_rate",
        "spo2",
        "respiratory_rate",
        "taken_time",
        "confirm",
    ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        names = ["systolic", "diastolic", "heart_rate", "spo2", "respiratory_rate"]
        if all(data.get(name) is None for name in names) and not self.errors:
            raise forms.ValidationError("Enter at least one vital sign.")
        if (data.get("systolic") is None) != (data.get("diastolic") is None):
            raise forms.ValidationError("Enter both systolic and diastolic BP, or neither.")
        return data


class ScoreForm(TakenAtMixin):
    instrument = forms.ChoiceField(choices=SessionScore.Instrument.choices)
    score = forms.IntegerField(min_value=0, max_value=92)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        instrument, score = data.get("instrument"), data.get("score")
        if instrument and score is not None:
            low, high = SessionScore.score_range(instrument)
            if not low <= score <= high:
                self.add_error("score", f"Must be from {low} to {high} for this scale.")
        return data


class PrechecksForm(forms.Form):
    weight_kg = forms.DecimalField(
        label="Today's weight (kg)",
        min_value=Decimal("20"),
        max_value=Decimal("350"),
        decimal_places=1,
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )
    food_and_drink = forms.CharField(
        label="Food and drink today",
        max_length=200,
        help_text="What and when, e.g. 'light breakfast 07:00, water 09:30'.",
    )
    escort_name = forms.CharField(label="Escort or ride home: name", max_length=120)
    escort_phone = forms.CharField(label="Escort phone", max_length=20)
    pregnancy_test = forms.ChoiceField(
        label="Pregnancy test", choices=PregnancyTest.choices, initial=PregnancyTest.NOT_REQUIRED
    )
    medication_changes = forms.CharField(
        label="Medication changes since last session",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Write 'none' when nothing changed.",
    )

    def clean_escort_phone(self) -> str:
        try:
            return normalize_us_phone(self.cleaned_data["escort_phone"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class DoseChangeForm(forms.Form):
    # No minimum here: the service explains "more than 0 mg" and checks the protocol.
    dose_mg = forms.DecimalField(label="New dose (mg)", decimal_places=1, max_digits=6)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class DosingForm(TakenAtMixin):
    kind = forms.ChoiceField(
        choices=[
            ("start", "Start"),
            ("pause", "Pause"),
            ("resume", "Resume"),
            ("stop", "Stop"),
            ("device", "Device"),
        ],
        widget=forms.HiddenInput,
    )
    lot_number = forms.CharField(label="Lot number", max_length=40, required=False)
    amount_drawn_ml = forms.DecimalField(
        label="Volume drawn (mL)", required=False, min_value=Decimal("0.01"), decimal_places=2
    )
    pump_rate_ml_per_h = forms.DecimalField(
        label="Pump rate (mL/h)", required=False, min_value=Decimal("0.1"), decimal_places=1
    )
    reason = forms.CharField(max_length=300, required=False)
    container = forms.IntegerField(required=False, widget=forms.HiddenInput)
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)


class StrikeForm(forms.Form):
    reason = forms.CharField(
        label="Why it is struck through",
        max_length=300,
        help_text="e.g. 'typed 20 for 80', 'wrong patient', 'duplicate'. It stays on the chart.",
    )


class AccountForm(forms.Form):
    """What became of a draw: given to the patient, and the rest wasted before a witness."""

    administered_ml = forms.DecimalField(
        label="Given (mL)", min_value=Decimal("0"), decimal_places=3, required=False
    )
    wasted_ml = forms.DecimalField(
        label="Wasted (mL)", min_value=Decimal("0"), decimal_places=3, required=False
    )
    witness = forms.IntegerField(label="Witness", required=False)
    witness_password = forms.CharField(
        label="Witness's password", widget=forms.PasswordInput, strip=False, required=False
    )


class SideEffectForm(TakenAtMixin, forms.ModelForm):
    class Meta:
        model = SideEffect
        fields = ["kind", "severity", "note"]


class InterventionForm(TakenAtMixin, forms.ModelForm):
    class Meta:
        model = Intervention
        fields = ["kind", "medication", "dose", "route", "note"]


class AdverseEventForm(TakenAtMixin, forms.ModelForm):
    class Meta:
        model = AdverseEvent
        fields = ["description", "severity", "serious", "outcome"]


class AcknowledgeForm(forms.Form):
    action_taken = forms.CharField(
        label="Action taken",
        max_length=500,
        help_text="What you did: e.g. 'rechecked, informed Dr Lee, infusion paused'.",
    )


class ConfirmationsForm(forms.Form):
    symptoms_resolved = forms.BooleanField(
        label="Sedation, dissociation and breathing back to normal", required=False
    )
    escort_present = forms.BooleanField(label="Escort or ride is here", required=False)
    instructions_given = forms.BooleanField(label="Discharge instructions given", required=False)


class OverrideForm(forms.Form):
    override_reason = forms.CharField(
        label="Reason for discharging before the criteria are met",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    password = forms.CharField(
        label="Your password (signature)", widget=forms.PasswordInput, strip=False
    )


class SignForm(forms.Form):
    comment = forms.CharField(
        label="Your comment (assessment and plan)",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    password = forms.CharField(
        label="Your password (signature)", widget=forms.PasswordInput, strip=False
    )


class PasswordForm(forms.Form):
    password = forms.CharField(
        label="Your password (signature)", widget=forms.PasswordInput, strip=False
    )


class AddendumForm(forms.Form):
    body = forms.CharField(label="Addendum", widget=forms.Textarea(attrs={"rows": 3}))


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class CheckInForm(forms.Form):
    chair = forms.IntegerField(min_value=1, max_value=99, required=False)


class RemsSubmissionForm(forms.Form):
    submitted_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    method = forms.ChoiceField(choices=RemsSubmission.Method.choices)
    confirmation_number = forms.CharField(max_length=60)
