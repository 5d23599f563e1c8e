"""Forms for booking, rescheduling, cancelling and series booking. They check the shape of
the input and keep what was typed; the booking rules themselves are the services' (and
clinical/booking.py's)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, QuerySet, Value, When

from ketaclinic.accounts.models import User
from ketaclinic.clinical.search import parse_patient_query
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import patient_search, patients_visible_to
from ketaclinic.scheduling.models import (
    Appointment,
    AppointmentRequest,
    AppointmentType,
    Resource,
    ResourceKind,
)
from ketaclinic.scheduling.requests.selectors import requests_visible_to
from ketaclinic.scheduling.selectors import appointment_types_for, providers_at

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME = forms.TimeInput(attrs={"type": "time", "step": "300"}, format="%H:%M")


def _day_text(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def local_start(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`day` at wall-clock `at` in `zone`, refusing a time the clocks skip (spring forward)
    or pass twice (fall back): either would book a visit at a time nobody meant."""
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
            raise ValidationError(
                f"{at:%H:%M} does not exist on {_day_text(day)} in {zone.key}: the clocks go "
                "forward that night. Choose another time."
            )
        raise ValidationError(
            f"{at:%H:%M} happens twice on {_day_text(day)} in {zone.key}: the clocks go back "
            "that night. Choose a time outside that hour."
        )
    return first


def resources_at(location: Location, kind: str = "") -> QuerySet[Resource]:
    """Active chairs and rooms of a location, chairs first (or only one kind)."""
    resources = Resource.objects.filter(location=location, is_active=True)
    if kind:
        resources = resources.filter(kind=kind)
    return resources.annotate(
        chair_first=Case(
            When(kind=ResourceKind.CHAIR, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
    ).order_by("chair_first", "number")


class ProviderField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.display_name


class _WhenMixin(forms.Form):
    """Date and local time, read in the location's zone into `starts_at`."""

    zone: ZoneInfo
    date = forms.DateField(widget=DATE)
    time = forms.TimeField(label="Time", widget=TIME, input_formats=["%H:%M", "%H:%M:%S"])

    def _starts_at(self) -> datetime | None:
        day, at = self.cleaned_data.get("date"), self.cleaned_data.get("time")
        if day is None or at is None:
            return None
        try:
            return local_start(day, at, self.zone)
        except ValidationError as error:
            self.add_error("time", error)
            return None


class BookingForm(_WhenMixin):
    """One visit at one location. A known patient arrives as a hidden id; otherwise the
    MRN is typed and looked up among the patients the user may see."""

    patient = forms.ModelChoiceField(
        queryset=Patient.objects.none(),
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "That patient is not at one of your locations."},
    )
    mrn = forms.CharField(
        label="Patient MRN", required=False, max_length=20, help_text="e.g. KC-0000123-4"
    )
    appointment_type = forms.ChoiceField(label="Appointment type")
    provider = ProviderField(
        queryset=User.objects.none(), required=False, empty_label="No provider"
    )
    resource = forms.ModelChoiceField(
        label="Chair or room",
        queryset=Resource.objects.none(),
        required=False,
        empty_label="First free chair or room",
    )
    telehealth = forms.BooleanField(label="Video visit", required=False)
    note = forms.CharField(
        label="Note for the clinic team",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    request = forms.ModelChoiceField(
        queryset=AppointmentRequest.objects.none(),
        required=False,
        widget=forms.HiddenInput,
        error_messages={"invalid_choice": "That appointment request is not one of yours."},
    )

    field_order = [
        "patient",
        "mrn",
        "appointment_type",
        "date",
        "time",
        "provider",
        "resource",
        "telehealth",
        "note",
        "request",
    ]

    def __init__(self, *args: Any, user: User, location: Location, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.location = location
        self.zone = location.tz
        self.types = {t.key: t for t in appointment_types_for(location)}
        self.fields["appointment_type"].choices = [("", "Choose a type")] + [
            (t.key, f"{t.name} ({t.duration_minutes} min)") for t in self.types.values()
        ]
        self.fields["patient"].queryset = patients_visible_to(user)
        self.fields["provider"].queryset = providers_at(location)
        self.fields["resource"].queryset = resources_at(location)
        self.fields["request"].queryset = requests_visible_to(user)
        # The patient already chosen (shown by name instead of the MRN box).
        chosen = self.data.get("patient") if self.is_bound else self.initial.get("patient")
        self.known_patient = (
            patients_visible_to(user).filter(pk=chosen).first()
            if str(chosen or "").isdigit()
            else None
        )

    def clean_appointment_type(self) -> AppointmentType:
        key = self.cleaned_data["appointment_type"]
        if key not in self.types:
            raise ValidationError(f"Choose an appointment type booked at {self.location.name}.")
        return self.types[key]

    def _patient_from_mrn(self) -> Patient | None:
        text = (self.cleaned_data.get("mrn") or "").strip()
        if not text:
            self.add_error("mrn", "Enter the patient's MRN.")
            return None
        if parse_patient_query(text).mrn is None:
            self.add_error("mrn", f"{text} is not an MRN; it looks like KC-0000123-4.")
            return None
        patient = patient_search(self.user, text=text).first()
        if patient is None:
            self.add_error(
                "mrn", f"No patient with MRN {text} at your locations. Check the number."
            )
        return patient

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        patient = data.get("patient")
        if patient is None and "patient" not in self._errors:
            patient = self._patient_from_mrn()
        data["patient"] = patient
        kind = data.get("appointment_type")
        if isinstance(kind, AppointmentType) and kind.needs_provider and not data.get("provider"):
            self.add_error("provider", f"Choose a provider for the {kind.name.lower()}.")
        if data.get("telehealth") and data.get("resource"):
            self.add_error("resource", "A video visit takes no chair or room: leave this empty.")
        request = data.get("request")
        if request is not None and patient is not None and request.patient_id != patient.pk:
            self.add_error(
                None, "That appointment request belongs to someone else; book it from the request."
            )
        data["starts_at"] = self._starts_at()
        return data


class RescheduleForm(_WhenMixin):
    """A new date and time (and provider, chair or room) for a booked visit, with a reason."""

    provider = ProviderField(
        queryset=User.objects.none(), required=False, empty_label="No provider"
    )
    resource = forms.ModelChoiceField(
        label="Chair or room",
        queryset=Resource.objects.none(),
        required=False,
        empty_label="First free one",
    )
    reason = forms.CharField(
        label="Reason for the change", max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, appointment: Appointment, **kwargs: Any) -> None:
        location = appointment.location
        local = appointment.starts_at.astimezone(location.tz)
        kwargs.setdefault(
            "initial",
            {"date": local.date(), "time": local.time(), "provider": appointment.provider_id},
        )
        super().__init__(*args, **kwargs)
        self.zone = location.tz
        kind = appointment.appointment_type
        self.fields["provider"].queryset = providers_at(location)
        if kind.needs_provider:
            self.fields["provider"].required = True
            self.fields["provider"].error_messages["required"] = (
                f"Choose a provider for the {kind.name.lower()}."
            )
        if appointment.telehealth or not appointment.appointment_type.needs:
            del self.fields["resource"]
        else:
            self.fields["resource"].queryset = resources_at(
                location, appointment.appointment_type.needs
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["starts_at"] = self._starts_at()
        return data


class CancelForm(forms.Form):
    reason = forms.CharField(
        label="Reason for cancelling", max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )


class NoShowForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class SeriesForm(forms.Form):
    """Book a course's planned sessions: a chair for all of them, or the first free one."""

    resource = forms.ModelChoiceField(
        label="Chair",
        queryset=Resource.objects.none(),
        required=False,
        empty_label="First free chair for each session",
    )
    provider = ProviderField(
        label="Provider (optional)",
        queryset=User.objects.none(),
        required=False,
        empty_label="No provider",
    )

    def __init__(
        self, *args: Any, location: Location, kind: str = ResourceKind.CHAIR, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = resources_at(location, kind)
        self.fields["provider"].queryset = providers_at(location)


class FeedResetForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand that the old address stops working at once",
        error_messages={"required": "Tick the box to confirm the reset."},
    )
