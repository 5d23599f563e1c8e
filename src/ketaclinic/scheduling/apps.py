from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "ketaclinic.scheduling"
    verbose_name = "Scheduling, appointment requests and telehealth"

    def ready(self) -> None:
        # App loading: the receivers and plug-ins import this app's models, ready only now.
        from ketaclinic.scheduling import plugins, signals  # noqa: F401  (signals: connects them)

        plugins.register()
