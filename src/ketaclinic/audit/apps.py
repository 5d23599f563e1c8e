from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "ketaclinic.audit"
    verbose_name = "Audit log"
