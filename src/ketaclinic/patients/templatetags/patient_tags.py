"""Template tags for patient pages."""

from __future__ import annotations

from django import template

from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import AllergyStatus, allergy_status

register = template.Library()


@register.simple_tag
def allergy_status_of(patient: Patient) -> AllergyStatus:
    """`{% allergy_status_of patient as status %}`: see selectors.allergy_status."""
    return allergy_status(patient)
