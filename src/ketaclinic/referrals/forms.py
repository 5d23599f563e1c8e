"""Forms: parse and validate input only; the rules are in services.py and rules.json."""

from __future__ import annotations

from typing import Any

from django import forms

from ketaclinic.referrals.models import ReferralResource, ResourceKind
from ketaclinic.referrals.rules import referral_rules, urgency_choices


class ResourceForm(forms.ModelForm):
    website = forms.URLField(label="Website", required=False, assume_scheme="https")

    class Meta:
        model = ReferralResource
        fields = [
            "kind",
            "name",
            "phone",
            "text_number",
            "website",
            "address",
            "hours",
            "languages",
            "insurance_accepted",
            "telehealth",
            "notes",
            "is_active",
        ]
        labels = {
            "text_number": "Text number",
            "telehealth": "Offers telehealth",
            "is_active": "Listed (untick to deactivate; it is kept for past referrals)",
        }
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}


class DirectoryFilterForm(forms.Form):
    kind = forms.ChoiceField(
        label="Kind", required=False, choices=[("", "All kinds"), *ResourceKind.choices]
    )
    language = forms.CharField(label="Language", required=False, max_length=40)
    telehealth = forms.ChoiceField(
        label="Telehealth",
        required=False,
        choices=[("", "Any"), ("yes", "Telehealth"), ("no", "In person only")],
    )
    inactive = forms.BooleanField(label="Show deactivated", required=False)


def _resource_label(resource: ReferralResource) -> str:
    phone = f" · {resource.phone}" if resource.phone else ""
    return f"{resource.name} ({resource.get_kind_display()}){phone}"


class ResourceChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return _resource_label(obj)


class ReferralForm(forms.Form):
    resource = ResourceChoiceField(
        label="Refer to",
        queryset=ReferralResource.objects.none(),
        required=False,
        empty_label="— an outside provider (name it below) —",
    )
    outside_provider = forms.CharField(
        label="Outside provider",
        max_length=200,
        required=False,
        help_text="Only when the provider is not in the directory.",
    )
    reason = forms.CharField(
        label="Reason for the referral",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give the reason for the referral."},
    )
    urgency = forms.ChoiceField(label="Urgency", choices=urgency_choices, initial="routine")
    note = forms.CharField(
        label="Note", widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )

    def __init__(self, *args: Any, resources: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = resources


class StatusForm(forms.Form):
    to_state = forms.ChoiceField(label="Mark as", choices=())
    note = forms.CharField(label="Note", required=False, max_length=2000)

    def __init__(self, *args: Any, current: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = referral_rules()
        # Every state is accepted here so that a move not allowed gets the rules' message.
        allowed = rules.transitions.get(current, ())
        ordered = [*allowed, *(s for s in rules.states if s not in allowed)]
        self.fields["to_state"].choices = [(s, rules.states[s]) for s in ordered]
        self.allowed = [(s, rules.states[s]) for s in allowed]


class CrisisReferralForm(forms.Form):
    resource = ResourceChoiceField(
        label="Crisis resource",
        queryset=ReferralResource.objects.none(),
        empty_label=None,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Crisis referral note: what was done, and the follow-up",
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Describe what was done and any follow-up."},
    )

    def __init__(self, *args: Any, resources: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["resource"].queryset = resources
        first = next(iter(resources), None)
        if first is not None and not self.is_bound:
            self.initial.setdefault("resource", first.pk)


class StallLimitsForm(forms.Form):
    """One number of days per urgency (the location's own limits)."""

    def __init__(self, *args: Any, current: dict[str, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rules = referral_rules()
        for urgency, label in rules.urgencies.items():
            self.fields[urgency] = forms.IntegerField(
                label=f"{label}: stalled after more than (days)",
                min_value=1,
                max_value=365,
                initial=current[urgency],
                help_text=f"Clinic default: {rules.stall_days[urgency]}.",
            )
