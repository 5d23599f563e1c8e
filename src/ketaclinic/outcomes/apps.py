from django.apps import AppConfig


class OutcomesConfig(AppConfig):
    name = "ketaclinic.outcomes"
    verbose_name = "Outcomes"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.outcomes import plugins

        plugins.register()
