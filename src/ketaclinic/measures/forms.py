from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms

from ketaclinic.clinical.scoring import Instrument, get_instrument
from ketaclinic.instruments.schema import INSTRUMENT_KEYS
from ketaclinic.measures.models import AlertAction, ResponseContext


def _field_name(key: str, index: int) -> str:
    return f"{key}__{index + 1}"


class AnswersForm(forms.Form):
    """Every item of one or more instruments as required radio choices, in item order."""

    def __init__(self, instruments: Sequence[Instrument], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instruments = list(instruments)
        for instrument in self.instruments:
            for index, label in enumerate(instrument.item_labels):
                self.fields[_field_name(instrument.key, index)] = forms.TypedChoiceField(
                    label=f"{index + 1}. {label}",
                    choices=[(value, text) for value, text in instrument.item_options[index]],
                    coerce=int,
                    widget=forms.RadioSelect,
                    error_messages={"required": "Please answer this question."},
                )

    def sections(self) -> list[tuple[Instrument, list[forms.BoundField]]]:
        return [
            (
                instrument,
                [self[_field_name(instrument.key, i)] for i in range(instrument.item_count)],
            )
            for instrument in self.instruments
        ]

    def answers(self) -> dict[str, list[int]]:
        return {
            instrument.key: [
                self.cleaned_data[_field_name(instrument.key, i)]
                for i in range(instrument.item_count)
            ]
            for instrument in self.instruments
        }


def patient_instruments() -> list[tuple[str, str]]:
    return [
        (k, get_instrument(k).title)
        for k in INSTRUMENT_KEYS
        if get_instrument(k).respondent == "patient"
    ]


class SendSelfReportForm(forms.Form):
    instrument_keys = forms.MultipleChoiceField(
        label="Questionnaires",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one questionnaire."},
    )
    context = forms.ChoiceField(
        choices=ResponseContext.choices, initial=ResponseContext.PRE_SESSION
    )
    valid_hours = forms.IntegerField(
        label="Link valid for (hours)",
        min_value=1,
        max_value=24 * 14,
        initial=72,
        help_text="The link works once, until it is used or expires.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["instrument_keys"].choices = patient_instruments()


class RecordContextForm(forms.Form):
    context = forms.ChoiceField(
        choices=ResponseContext.choices, initial=ResponseContext.BETWEEN_SESSIONS
    )


class ScheduleForm(forms.Form):
    instrument_key = forms.ChoiceField(label="Questionnaire")
    interval_days = forms.IntegerField(
        label="Every (days)",
        min_value=1,
        max_value=365,
        required=False,
        help_text="7 = weekly. Leave empty for a one-time baseline measure.",
    )
    starts_on = forms.DateField(
        label="First due on", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["instrument_key"].choices = [
            (k, get_instrument(k).title) for k in INSTRUMENT_KEYS
        ]


class AcknowledgeForm(forms.Form):
    action = forms.ChoiceField(
        label="Action taken",
        choices=AlertAction.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose the action taken."},
    )
    note = forms.CharField(
        label="What was done, and the follow-up plan",
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Describe what was done and any follow-up."},
    )
