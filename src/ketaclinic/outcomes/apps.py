from django.apps import AppConfig

from ketaclinic.outcomes import plugins


class OutcomesConfig(AppConfig):
    name = "ketaclinic.outcomes"
    verbose_name = "Outcomes"

    def ready(self) -> None:
        plugins.register()
