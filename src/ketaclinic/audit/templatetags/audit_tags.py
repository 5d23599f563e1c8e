"""Template tags for the audit log."""

from django import template

from ketaclinic.plugins import audit_label as label_of

register = template.Library()


@register.filter
def audit_label(object_type: str) -> str:
    """The name the app that records `object_type` gives it (plugins.register_audit_labels)."""
    return label_of(object_type)
