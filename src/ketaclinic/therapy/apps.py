from django.apps import AppConfig


class TherapyConfig(AppConfig):
    name = "ketaclinic.therapy"
    verbose_name = "Therapy"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.therapy import plugins

        plugins.register()
