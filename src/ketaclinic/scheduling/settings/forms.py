"""Forms for the scheduling settings pages: they read and type what was entered and keep it
when refused; settings.services decides whether it makes sense."""

from __future__ import annotations

from datetime import time
from typing import Any

from django import forms
from django.db.models import QuerySet

from ketaclinic.accounts.models import User
from ketaclinic.eligibility.models import Route
from ketaclinic.organization.models import STATE_CHOICES
from ketaclinic.scheduling.models import WEEKDAY_CHOICES, AppointmentType, LicenseKind, ResourceKind
from ketaclinic.scheduling.settings.services import TypeSettings, Week

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
# Morning, afternoon and evening: more spans a day than clinics keep.
SPANS_PER_DAY = 3


class AppointmentTypeForm(forms.Form):
    name = forms.CharField(max_length=80)
    duration_minutes = forms.IntegerField(
        label="Duration (minutes)",
        min_value=5,
        max_value=600,
        help_text="Applies to new bookings; appointments already booked keep their times.",
    )
    needs = forms.ChoiceField(label="Needs", choices=AppointmentType.Needs.choices, required=False)
    in_person = forms.BooleanField(label="Can be booked in person", required=False)
    telehealth = forms.BooleanField(label="Can be booked as a video visit", required=False)
    needs_provider = forms.BooleanField(
        label="A provider must be chosen",
        required=False,
        help_text="Their working hours apply, and for video visits their licenses.",
    )
    treatment_route = forms.ChoiceField(
        label="Treatment sessions booked as this type",
        choices=[("", "None: not a treatment session"), *Route.choices],
        required=False,
        help_text="A course's sessions are booked as the active type with its route.",
    )
    reminder_hours_before = forms.IntegerField(
        label="Reminder (hours before)", min_value=0, max_value=24 * 14
    )
    patient_instructions = forms.CharField(
        label="Instructions for the patient",
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="Sent in the reminder and shown in the portal before the visit.",
    )
    instructions_source = forms.CharField(
        label="Source of the instructions",
        max_length=300,
        required=False,
        help_text="A guideline, the prescribing information, or the clinic's own policy.",
    )
    is_active = forms.BooleanField(
        label="In use (can be booked)",
        required=False,
        help_text="Untick to stop new bookings of this type; booked visits stay.",
    )

    @staticmethod
    def initial_from(row: AppointmentType) -> dict[str, Any]:
        return {name: getattr(row, name) for name in TypeSettings.__dataclass_fields__}

    def settings(self) -> TypeSettings:
        return TypeSettings(**self.cleaned_data)


class ResourceAddForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=ResourceKind.choices)
    number = forms.IntegerField(label="Number", min_value=1, max_value=99)
    name = forms.CharField(
        label="Name",
        max_length=60,
        required=False,
        help_text="Empty: 'Chair 5' or 'Room 2'.",
    )


class ResourceRenameForm(forms.Form):
    name = forms.CharField(label="Name", max_length=60, help_text="e.g. 'Chair 3 (window)'.")


class WeekForm(forms.Form):
    """A whole week of local wall-clock spans: SPANS_PER_DAY (start, end) pairs per weekday.
    A pair left empty is ignored; a half-filled one or one ending before it starts is
    refused on its own row; overlaps are checked by the service (clinical.booking)."""

    def __init__(self, *args: Any, week: Week, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.days = []
        for day, name in WEEKDAY_CHOICES:
            spans = week.get(day, [])
            rows = []
            for i in range(max(SPANS_PER_DAY, len(spans))):
                start, end = spans[i] if i < len(spans) else (None, None)
                names = (f"d{day}_{i}_start", f"d{day}_{i}_end")
                for field_name, value, part in zip(
                    names, (start, end), ("from", "until"), strict=True
                ):
                    self.fields[field_name] = forms.TimeField(
                        label=f"{name}, span {i + 1}, {part}",
                        required=False,
                        widget=TIME,
                        initial=value,
                    )
                rows.append(names)
            self.days.append((day, name, rows))

    def rendered_days(self) -> list[dict[str, Any]]:
        """For the template: each weekday with its (start, end) bound fields."""
        return [
            {
                "day": day,
                "name": name,
                "spans": [(self[a], self[b]) for a, b in rows],
                "errors": [e for a, b in rows for e in (*self[a].errors, *self[b].errors)],
            }
            for day, name, rows in self.days
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for _day, _name, rows in self.days:
            for a, b in rows:
                start, end = data.get(a), data.get(b)
                if (
                    (start is None) != (end is None)
                    and a not in self.errors
                    and b not in self.errors
                ):
                    self.add_error(b if end is None else a, "Give both times, or neither.")
                elif start is not None and end is not None and end <= start:
                    self.add_error(b, "The end must be after the start.")
        return data

    def week(self) -> dict[int, list[tuple[time, time]]]:
        week: dict[int, list[tuple[time, time]]] = {}
        for day, _name, rows in self.days:
            for a, b in rows:
                start, end = self.cleaned_data.get(a), self.cleaned_data.get(b)
                if start is not None and end is not None:
                    week.setdefault(day, []).append((start, end))
        return week


class ClosedDayForm(forms.Form):
    date = forms.DateField(label="Date", widget=DATE)
    reason = forms.CharField(label="Reason", max_length=120, help_text="e.g. 'Thanksgiving'.")


class ProviderField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.role_enum.label})"


class LicenseForm(forms.Form):
    provider = ProviderField(queryset=User.objects.none(), empty_label="Choose the provider")
    state = forms.ChoiceField(label="State", choices=[("", "Choose the state"), *STATE_CHOICES])
    kind = forms.ChoiceField(label="Kind", choices=[("", "Choose the kind"), *LicenseKind.choices])
    number = forms.CharField(label="License number", max_length=40)
    expires_on = forms.DateField(label="Expires on", widget=DATE)

    def __init__(self, *args: Any, providers: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = providers  # type: ignore[attr-defined]
