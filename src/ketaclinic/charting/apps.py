from django.apps import AppConfig


class ChartingConfig(AppConfig):
    name = "ketaclinic.charting"
    verbose_name = "Treatment sessions and the chair board"

    def ready(self) -> None:
        # App loading: the receivers and plug-ins import this app's models, ready only now.
        from ketaclinic.charting import plugins, signals  # noqa: F401  (signals: connects them)

        plugins.register()
