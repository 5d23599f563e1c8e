from django.apps import AppConfig


class OrganizationConfig(AppConfig):
    name = "ketaclinic.organization"
    verbose_name = "Organization and locations"
