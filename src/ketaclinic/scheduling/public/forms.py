"""The public 'request an appointment' form: plain words, every typed value kept when
something needs correcting, and a honeypot field that people never see."""

from __future__ import annotations

from typing import Any

from django import forms

from ketaclinic.clinical.codes import normalize_us_phone
from ketaclinic.organization.models import STATE_CHOICES, Location
from ketaclinic.patients.validators import validate_birth_date, validate_us_phone
from ketaclinic.scheduling.models import HeardAbout

VIDEO = "video"
HONEYPOT = "website"


class RequestForm(forms.Form):
    first_name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    date_of_birth = forms.DateField(
        validators=[validate_birth_date],
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter your date of birth, e.g. 1980-04-02."},
    )
    phone = forms.CharField(
        max_length=20,
        validators=[validate_us_phone],
        help_text="A coordinator will call you on this number.",
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    email = forms.EmailField(
        required=False, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    state = forms.ChoiceField(
        label="State where you live",
        choices=[("", "Choose your state"), *STATE_CHOICES],
        help_text="Video visits depend on the state you live in.",
    )
    visit = forms.ChoiceField(
        label="Where would you like to be seen?",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose one of our locations or a video visit."},
    )
    help_with = forms.CharField(
        label="What would you like help with?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="A few words are enough. Please do not send detailed medical records here.",
    )
    heard_about = forms.ChoiceField(
        label="How did you hear about us?", choices=HeardAbout.choices, required=False
    )
    consent_to_contact = forms.BooleanField(
        label="You may contact me by phone, text message or email about this request.",
        error_messages={"required": "We need your permission to contact you about a visit."},
    )
    # The honeypot: hidden from people (CSS, aria-hidden, no tab stop); bots fill it in.
    website = forms.CharField(
        label="Leave this field empty (it is here to catch spam)",
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, locations: list[Location], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locations = {str(location.pk): location for location in locations}
        self.fields["visit"].choices = [
            *(
                (key, f"{loc.name} ({loc.city}, {loc.state})")
                for key, loc in self.locations.items()
            ),
            (VIDEO, "Video visit (telehealth)"),
        ]

    @property
    def is_spam(self) -> bool:
        """True when the honeypot was filled in: answer as if accepted, store nothing."""
        return bool(str(self.data.get(HONEYPOT, "")).strip())

    def clean_phone(self) -> str:
        phone = self.cleaned_data["phone"]
        return normalize_us_phone(phone) or phone

    def visit_choice(self) -> tuple[Location | None, bool]:
        """(preferred location, wants a video visit) from the one choice made."""
        choice = self.cleaned_data["visit"]
        if choice == VIDEO:
            return None, True
        return self.locations[choice], False

    def submission(self) -> dict[str, Any]:
        """The keyword arguments of requests.services.request_submit."""
        data = self.cleaned_data
        location, telehealth = self.visit_choice()
        return {
            "first_name": data["first_name"],
            "last_name": data["last_name"],
            "date_of_birth": data["date_of_birth"],
            "phone": data["phone"],
            "email": data["email"],
            "state": data["state"],
            "preferred_location": location,
            "wants_telehealth": telehealth,
            "help_with": data["help_with"],
            "heard_about": data["heard_about"],
            "consent_to_contact": data["consent_to_contact"],
        }
