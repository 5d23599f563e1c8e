from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "ketaclinic.fhir"
    label = "fhir"
    verbose_name = "FHIR interoperability"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.fhir import plugins

        plugins.register()
