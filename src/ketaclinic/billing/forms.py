"""Forms of the billing pages: they parse and validate; the services apply the rules."""

from __future__ import annotations

from decimal import Decimal

from django import forms

from ketaclinic.billing.models import EntryKind, PaymentMethod
from ketaclinic.billing.services import (
    MAX_EXTRA_SESSIONS,
    MAX_INSTALMENTS,
    NOTE_CHARS,
    REFERENCE_CHARS,
)
from ketaclinic.clinical import money
from ketaclinic.treatment.models import TreatmentCourse


class AmountField(forms.CharField):
    """Dollars and cents as people type them ($1,250.00); refused with the money rule's
    message (more than zero, at most two decimal places)."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def clean(self, value: object) -> Decimal:  # type: ignore[override]
        text = super().clean(value)
        try:
            return money.parse_amount(text)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


class DateInput(forms.DateInput):
    input_type = "date"


class EstimateForm(forms.Form):
    course = forms.ModelChoiceField(
        queryset=TreatmentCourse.objects.none(),
        label="Treatment course",
        required=False,
        empty_label="No course planned yet (consultation and therapy only)",
    )
    include_consultation = forms.BooleanField(
        required=False, label="Include the consultation (psychiatric diagnostic evaluation)"
    )
    integration_sessions = forms.IntegerField(
        min_value=0, max_value=MAX_EXTRA_SESSIONS, initial=0, label="Integration therapy sessions"
    )
    instalment_count = forms.IntegerField(
        min_value=1,
        max_value=MAX_INSTALMENTS,
        initial=1,
        label="Monthly instalments",
        help_text="1 means paid in full at the first due date.",
    )
    first_due_date = forms.DateField(widget=DateInput, label="First instalment due")
    note = forms.CharField(max_length=NOTE_CHARS, required=False, label="Note to the patient")

    def __init__(self, *args: object, patient: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        courses = (
            TreatmentCourse.objects.filter(patient=patient)
            .exclude(phase=TreatmentCourse.Phase.ENDED)
            .select_related("protocol")
            .order_by("-created_at")
        )
        self.fields["course"].queryset = courses  # type: ignore[attr-defined]
        first = courses.first()
        if first is not None and not self.is_bound:
            self.initial.setdefault("course", first.pk)
        self.fields["course"].label_from_instance = lambda c: (  # type: ignore[attr-defined]
            f"{c.protocol.name}, planned {c.created_at:%b %-d, %Y}"
        )


class PaymentForm(forms.Form):
    amount = AmountField(label="Amount received ($)")
    method = forms.ChoiceField(choices=PaymentMethod.choices, label="Method")
    reference = forms.CharField(
        max_length=REFERENCE_CHARS,
        required=False,
        label="Receipt reference",
        help_text="The card processor's or HSA's receipt number, or the check number. "
        "Never a card number.",
    )
    received_on = forms.DateField(widget=DateInput, required=False, label="Received on")


class AdjustmentForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(EntryKind.REFUND, "Refund"), (EntryKind.WRITE_OFF, "Write-off")], label="Kind"
    )
    amount = AmountField(label="Amount ($)")
    reason = forms.CharField(max_length=NOTE_CHARS, label="Reason")
    method = forms.ChoiceField(
        choices=[("", "Not a refund"), *PaymentMethod.choices],
        required=False,
        label="Refunded by",
    )
    reference = forms.CharField(max_length=REFERENCE_CHARS, required=False, label="Reference")


class FeeChangeForm(forms.Form):
    service_key = forms.CharField(max_length=40, widget=forms.HiddenInput)
    unit_fee = AmountField(label="New fee ($)")
    effective_from = forms.DateField(widget=DateInput, label="From")
    note = forms.CharField(max_length=200, required=False, label="Why")
