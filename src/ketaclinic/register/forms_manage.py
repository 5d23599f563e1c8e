"""Forms for the director's stock operations (views_manage): each checks its input and
keeps what was typed; register.services checks the rules.

Witnesses and checkers confirm on the same screen with their own password, so every such
form has a person select and a password input that is never rendered back."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator
from django.db.models import Q, QuerySet
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.accounts.roles import ALL_LOCATION_ROLES, CAPABILITIES
from ketaclinic.organization.models import Location
from ketaclinic.register.models import (
    Container,
    InventoryCount,
    LossReport,
    Product,
    Safe,
    Supplier,
)
from ketaclinic.register.services import ReceivedLine

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
MILLILITRES = forms.NumberInput(attrs={"step": "0.001", "min": "0", "inputmode": "decimal"})
WITNESS_MISSING = "A witness must confirm with their own password."
NO_SIGNATURE = "The witness enters their own password here."
DESTRUCTION_METHODS = (
    "Rendered non-retrievable in a chemical digestion container",
    "Returned to a reverse distributor (DEA Form 41 by the distributor)",
    "Incinerated by a DEA-registered disposal company",
)


def witness_candidates(location: Location, actor: User) -> QuerySet[User]:
    """Active staff who may witness at `location` (assigned there, or seeing every
    location), other than the person acting."""
    roles = [str(role) for role in CAPABILITIES["register.witness"][1]]
    everywhere = [str(role) for role in ALL_LOCATION_ROLES]
    return (
        User.objects.filter(role__in=roles, is_active=True)
        .filter(Q(locations=location) | Q(role__in=everywhere))
        .exclude(pk=actor.pk)
        .distinct()
        .order_by("last_name", "first_name", "username")
    )


def stock_at(location: Location) -> QuerySet[Container]:
    """Containers at the location that still hold volume, by safe, product, lot and label."""
    return (
        Container.objects.filter(location=location, remaining_ml__gt=0)
        .select_related("product", "safe")
        .order_by("safe__name", "product__name", "lot_number", "label")
    )


class PersonField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.display_name} ({obj.role_enum.label})"


class ContainerField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return (
            f"{obj.label} · {obj.product.name} · lot {obj.lot_number} · "
            f"{obj.remaining_ml.normalize():f} mL left"
        )


def witness_fields(
    form: forms.Form,
    candidates: QuerySet[User],
    *,
    name: str = "witness",
    confirm_field: str = "witness_password",
    label: str = "Witness",
    confirm_label: str = "Witness's password",
) -> None:
    form.fields[name] = PersonField(
        queryset=candidates,
        label=label,
        empty_label="Choose who watched",
        error_messages={"required": WITNESS_MISSING},
    )
    form.fields[confirm_field] = forms.CharField(
        label=confirm_label,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        error_messages={"required": NO_SIGNATURE},
    )


class LocationDateTimeField(forms.DateTimeField):
    """A datetime-local input, read and shown in the location's time zone (not the
    server's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget",
            forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        )
        super().__init__(*args, **kwargs)
        self.tz: Any = None

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and timezone.is_aware(value) and self.tz is not None:
            return timezone.localtime(value, self.tz).replace(tzinfo=None)
        return super().prepare_value(value)

    def to_python(self, value: Any) -> Any:
        if self.tz is None:
            return super().to_python(value)
        with timezone.override(self.tz):
            return super().to_python(value)


# --- receiving a delivery ---------------------------------------------------------------


class ReceiveForm(forms.Form):
    supplier = forms.ModelChoiceField(queryset=Supplier.objects.all(), empty_label="Choose")
    invoice_number = forms.CharField(label="Invoice number", max_length=40)
    invoice_date = forms.DateField(label="Invoice date", widget=DATE)
    safe = forms.ModelChoiceField(
        queryset=Safe.objects.none(), label="Stored in safe", empty_label="Choose"
    )

    def __init__(self, *args: Any, location: Location, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        safes = Safe.objects.filter(location=location).order_by("name")
        self.fields["safe"].queryset = safes
        self.fields["safe"].required = safes.exists()
        witness_fields(
            self,
            witness_candidates(location, actor),
            name="checked_by",
            confirm_field="checker_password",
            label="Checked by",
            confirm_label="Checker's password",
        )
        self.fields["checked_by"].empty_label = "Choose who checked the delivery"
        self.fields[
            "checked_by"
        ].help_text = "A second person checks each container against the invoice."


class ReceiveLineForm(forms.Form):
    product = forms.ModelChoiceField(
        queryset=Product.objects.filter(is_active=True), empty_label="Choose"
    )
    lot_number = forms.CharField(label="Lot", max_length=40)
    expires_on = forms.DateField(label="Expires", widget=DATE)
    containers = forms.IntegerField(
        label="Containers", min_value=1, max_value=500, widget=forms.NumberInput(attrs={"min": 1})
    )

    def received(self) -> ReceivedLine:
        data = self.cleaned_data
        return ReceivedLine(
            product=data["product"],
            lot_number=data["lot_number"],
            expires_on=data["expires_on"],
            containers=data["containers"],
        )


class _AtLeastOneRow(forms.BaseFormSet):
    """Rows left empty are ignored; at least one must be filled in."""

    empty_message = "Fill in at least one line."

    def initial_form_count(self) -> int:
        # Every row may be left empty, even one prefilled from a link.
        return 0

    def filled(self) -> list[forms.Form]:
        return [f for f in self.forms if f.has_changed() and f.is_valid()]

    def clean(self) -> None:
        super().clean()
        if not any(self.errors) and not any(f.has_changed() for f in self.forms):
            raise forms.ValidationError(self.empty_message)


class ReceiveLineFormSet(_AtLeastOneRow):
    empty_message = "Enter at least one line: product, lot, expiry and the number of containers."

    def received(self) -> list[ReceivedLine]:
        return [form.received() for form in self.filled()]


ReceiveLines = forms.formset_factory(
    ReceiveLineForm, formset=ReceiveLineFormSet, extra=4, max_num=4, absolute_max=4
)


# --- counts and discrepancies -----------------------------------------------------------


class CountForm(forms.Form):
    """One row per container in stock: the volume counted (required), and for an opened
    container whether it was estimated."""

    kind = forms.ChoiceField(
        label="Kind of count",
        choices=InventoryCount.Kind.choices,
        initial=InventoryCount.Kind.PERIODIC,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(
        self,
        *args: Any,
        location: Location,
        actor: User,
        containers: list[Container],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        witness_fields(self, witness_candidates(location, actor))
        self.containers = containers
        for container in containers:
            self.fields[f"counted_{container.pk}"] = forms.DecimalField(
                label=f"Counted mL, {container.label}",
                min_value=Decimal("0"),
                max_digits=10,
                decimal_places=3,
                widget=MILLILITRES,
                error_messages={"required": f"Enter the volume counted in {container.label}."},
            )
            if self.may_estimate(container):
                self.fields[f"estimated_{container.pk}"] = forms.BooleanField(
                    label="Estimated", required=False
                )

    @staticmethod
    def may_estimate(container: Container) -> bool:
        """An opened Schedule III container may be estimated (21 CFR 1304.11(e)(3))."""
        return container.status != Container.Status.SEALED or (
            container.remaining_ml < container.initial_ml
        )

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for container in self.containers:
            estimated = f"estimated_{container.pk}"
            rows.append(
                {
                    "container": container,
                    "counted": self[f"counted_{container.pk}"],
                    "estimated": self[estimated] if estimated in self.fields else None,
                }
            )
        return rows

    def counted(self) -> list[tuple[Container, Decimal, bool]]:
        data = self.cleaned_data
        return [
            (c, data[f"counted_{c.pk}"], bool(data.get(f"estimated_{c.pk}")))
            for c in self.containers
        ]


class ResolveForm(forms.Form):
    resolution = forms.CharField(
        label="What explains the difference, and what was done",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


# --- transfer and destruction -----------------------------------------------------------


class TransferChooseForm(forms.Form):
    to = forms.ModelChoiceField(
        queryset=Location.objects.none(), label="Move to", empty_label="Choose a location"
    )

    def __init__(self, *args: Any, destinations: QuerySet[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].queryset = destinations


class TransferForm(TransferChooseForm):
    def __init__(self, *args: Any, location: Location, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to"].widget = forms.HiddenInput()
        witness_fields(self, witness_candidates(location, actor))


class DestroyDetailsForm(forms.Form):
    amount_ml = forms.DecimalField(
        label="Volume destroyed (mL)",
        min_value=Decimal("0.001"),
        max_digits=10,
        decimal_places=3,
        widget=MILLILITRES,
    )
    method = forms.CharField(
        label="Method of destruction",
        max_length=300,
        widget=forms.TextInput(attrs={"list": "destruction-methods"}),
        help_text="How it was made non-retrievable, or who took it.",
    )
    reverse_distributor = forms.CharField(
        label="Reverse distributor (name, address, DEA number)",
        max_length=300,
        required=False,
    )

    def __init__(self, *args: Any, container: Container, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.container = container
        left = f"{container.remaining_ml.normalize():f}"
        field = self.fields["amount_ml"]
        field.validators.append(
            MaxValueValidator(
                container.remaining_ml, f"Only {left} mL remain in {container.label}."
            )
        )
        field.widget.attrs["max"] = left
        field.help_text = f"{left} mL remain in {container.label}."


class DestroyForm(DestroyDetailsForm):
    """The confirmation step: the details again (hidden) and two witnesses."""

    def __init__(self, *args: Any, location: Location, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("amount_ml", "method", "reverse_distributor"):
            self.fields[name].widget = forms.HiddenInput()
        candidates = witness_candidates(location, actor)
        witness_fields(
            self,
            candidates,
            name="witness",
            confirm_field="witness_password",
            label="First witness",
            confirm_label="First witness's password",
        )
        witness_fields(
            self,
            candidates,
            name="second_witness",
            confirm_field="second_witness_password",
            label="Second witness",
            confirm_label="Second witness's password",
        )
        self.fields["second_witness"].error_messages["required"] = (
            "Destruction needs two witnesses, each confirming with their own password."
        )


# --- theft or loss ----------------------------------------------------------------------


class LossForm(forms.Form):
    kind = forms.ChoiceField(choices=LossReport.Kind.choices, initial=LossReport.Kind.LOSS)
    discovered_at = LocationDateTimeField(label="Discovered at")
    description = forms.CharField(
        label="What happened and how it was found",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    police_report_number = forms.CharField(
        label="Police report number", max_length=40, required=False
    )

    def __init__(self, *args: Any, location: Location, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["discovered_at"]
        field.tz = location.tz
        field.help_text = f"Local time at {location.short_name} ({location.timezone})."

    def clean_discovered_at(self) -> datetime:
        value = self.cleaned_data["discovered_at"]
        if value > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError("The discovery cannot be in the future.")
        return value


class LossLineForm(forms.Form):
    container = ContainerField(queryset=Container.objects.none(), empty_label="Choose")
    missing_ml = forms.DecimalField(
        label="Missing (mL)",
        min_value=Decimal("0.001"),
        max_digits=10,
        decimal_places=3,
        widget=MILLILITRES,
    )

    def __init__(self, *args: Any, containers: QuerySet[Container], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["container"].queryset = containers


class LossLineFormSet(_AtLeastOneRow):
    empty_message = "Name at least one container and the volume missing from it."

    def losses(self) -> list[tuple[Container, Decimal]]:
        return [(f.cleaned_data["container"], f.cleaned_data["missing_ml"]) for f in self.filled()]


LossLines = forms.formset_factory(
    LossLineForm, formset=LossLineFormSet, extra=4, max_num=4, absolute_max=4
)


class LossProgressForm(forms.Form):
    notice_sent_on = forms.DateField(
        label="Written notice sent to the DEA Field Division on", required=False, widget=DATE
    )
    form_106_filed_on = forms.DateField(label="DEA Form 106 filed on", required=False, widget=DATE)
    form_106_number = forms.CharField(
        label="Form 106 confirmation number", max_length=40, required=False
    )

    def __init__(self, *args: Any, today: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in ("notice_sent_on", "form_106_filed_on"):
            if data.get(name) and data[name] > self.today:
                self.add_error(name, "This date is in the future.")
        if not self.errors and not data.get("notice_sent_on") and not data.get("form_106_filed_on"):
            raise forms.ValidationError("Enter the date the notice was sent or Form 106 filed.")
        return data


# --- corrections ------------------------------------------------------------------------


class CorrectionForm(forms.Form):
    reason = forms.CharField(
        label="Reason for the correction",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What was wrong with the entry. It stays on the register.",
    )
