from django import template

from ketaclinic.measures.selectors import patient_open_alert_count

register = template.Library()


@register.simple_tag
def open_alert_count(patient: object) -> int:
    """Open safety alerts for the chart header (one query)."""
    return patient_open_alert_count(patient)
