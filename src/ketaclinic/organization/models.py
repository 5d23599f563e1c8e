"""The organization and its clinic locations."""

from __future__ import annotations

import zoneinfo

from django.core.exceptions import ValidationError
from django.db import models

from ketaclinic.clinical.codes import US_STATES, is_valid_dea_number

STATE_CHOICES = sorted(US_STATES.items(), key=lambda item: item[1])


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (e.g. America/Denver).")


def validate_dea_number(value: str) -> None:
    if value and not is_valid_dea_number(value):
        raise ValidationError(
            "A DEA registration number is two letters and seven digits with a valid check digit."
        )


class Organization(models.Model):
    name = models.CharField(max_length=200)
    phone = models.CharField(max_length=30, blank=True)
    website = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name


class Location(models.Model):
    """A clinic site: its own address, time zone, DEA registration and REMS status."""

    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="locations"
    )
    name = models.CharField(max_length=200)
    short_name = models.CharField(max_length=40, help_text="Shown in lists and the switcher.")
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    state = models.CharField(max_length=2, choices=STATE_CHOICES)
    postal_code = models.CharField(max_length=10)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    phone = models.CharField(max_length=30)
    dea_registration_number = models.CharField(
        max_length=9, blank=True, validators=[validate_dea_number]
    )
    spravato_rems_certified = models.BooleanField(default=False)
    spravato_rems_certification_number = models.CharField(max_length=40, blank=True)
    chair_count = models.PositiveSmallIntegerField(
        default=4, help_text="Treatment chairs, numbered 1 to this, shown on the chair board."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "short_name"], name="uniq_loc_short"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def chair_numbers(self) -> range:
        return range(1, self.chair_count + 1)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def full_address(self) -> str:
        parts = [
            self.address_line1,
            self.address_line2,
            f"{self.city}, {self.state} {self.postal_code}",
        ]
        return ", ".join(p for p in parts if p)
