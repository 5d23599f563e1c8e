"""Template tags for patient pages."""

from __future__ import annotations

from django import template

from ketaclinic.patients.models import Patient
from ketaclinic.patients.selectors import AllergyStatus, allergy_status
from ketaclinic.plugins import ChartTab, chart_tabs

register = template.Library()


@register.simple_tag
def allergy_status_of(patient: Patient) -> AllergyStatus:
    """`{% allergy_status_of patient as status %}`: see selectors.allergy_status."""
    return allergy_status(patient)


@register.simple_tag
def chart_tabs_for(user: object) -> list[ChartTab]:
    """`{% chart_tabs_for user as tabs %}`: the chart's tabs, as each app registered them
    (ketaclinic.plugins), that this user may open."""
    return chart_tabs(user)
