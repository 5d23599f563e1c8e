"""Users: staff with a role and locations, or a patient linked to one patient record."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models

from ketaclinic.accounts.roles import ALL_LOCATION_ROLES, STAFF_ROLES, Role, role_has


class User(AbstractUser):
    role = models.CharField(max_length=20, choices=[(r.value, r.label) for r in Role])
    title = models.CharField(
        max_length=60, blank=True, help_text="Credentials shown after the name, e.g. RN, MD."
    )
    locations = models.ManyToManyField(
        "organization.Location",
        blank=True,
        related_name="staff",
        help_text="Locations whose patients this staff member sees.",
    )
    patient = models.OneToOneField(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="portal_user",
    )

    class Meta:
        constraints = [
            # A patient account is linked to exactly one patient; staff to none.
            models.CheckConstraint(
                condition=(
                    models.Q(role="patient", patient__isnull=False)
                    | (~models.Q(role="patient") & models.Q(patient__isnull=True))
                ),
                name="patient_account_has_one_patient",
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.role == Role.PATIENT and self.patient_id is None:
            raise ValidationError("A patient account must be linked to a patient.")
        if self.role != Role.PATIENT and self.patient_id is not None:
            raise ValidationError("Only patient accounts are linked to a patient.")

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def is_clinic_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def sees_all_locations(self) -> bool:
        return self.role in ALL_LOCATION_ROLES

    @property
    def display_name(self) -> str:
        name = self.get_full_name() or self.username
        return f"{name}, {self.title}" if self.title else name

    def can(self, capability: str) -> bool:
        return self.is_active and role_has(self.role, capability)


class SignInFailure(models.Model):
    """One failed sign-in, counted per network address (an IPv4 address or an IPv6 /64) for
    the per-address throttle: an anonymous visitor who keeps guessing passwords is stopped
    before they can keep any account locked (accounts.services.signin_failure_record).
    Kept for a day."""

    network = models.CharField(max_length=64)
    username = models.CharField(max_length=150, blank=True)
    failed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["network", "failed_at"], name="signin_failure_network"),
            models.Index(fields=["failed_at"], name="signin_failure_time"),
        ]

    def __str__(self) -> str:
        return f"failed sign-in from {self.network}"
