from __future__ import annotations

from typing import Any

from django import forms

from ketaclinic.coverage.models import Payer, PriorAuthStatus
from ketaclinic.coverage.selectors import checklist_templates
from ketaclinic.coverage.services import MEMBER_ID_CHARS


class PriorAuthDraftForm(forms.Form):
    payer = forms.ModelChoiceField(queryset=Payer.objects.none(), empty_label="Choose a payer")
    member_id = forms.CharField(
        label="Member ID", max_length=MEMBER_ID_CHARS, help_text="As printed on the insurance card."
    )
    course = forms.TypedChoiceField(
        label="Treatment course", required=False, coerce=int, empty_value=None
    )

    def __init__(self, *args: Any, payers: Any, courses: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["payer"].queryset = payers
        self.fields["course"].choices = [("", "No course yet")] + [
            (c.pk, f"{c.protocol.name} from {c.created_at:%b %-d, %Y}") for c in courses
        ]


class PriorAuthMoveForm(forms.Form):
    status = forms.ChoiceField(label="Mark as", choices=PriorAuthStatus.choices)
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For a denial: the payer's reason. For an appeal: its grounds.",
    )
    approved_until = forms.DateField(
        label="Approved until (last day covered)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    approved_sessions = forms.IntegerField(label="Sessions approved", required=False, min_value=1)
    payer_reference = forms.CharField(label="Payer's authorization number", required=False,
                                      max_length=60)  # fmt: skip

    def __init__(self, *args: Any, allowed: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [
            (value, label) for value, label in PriorAuthStatus.choices if value in allowed
        ]


class PayerForm(forms.Form):
    name = forms.CharField(max_length=120)
    checklist_key = forms.ChoiceField(label="Checklist")
    phone = forms.CharField(label="Prior authorization phone", required=False, max_length=30)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["checklist_key"].choices = [
            (key, template["name"]) for key, template in checklist_templates().items()
        ]
