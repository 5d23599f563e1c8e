from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "ketaclinic.audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.audit import plugins

        plugins.register()
