from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "ketaclinic.patients"
    verbose_name = "Patient registry"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.patients import plugins

        plugins.register()
