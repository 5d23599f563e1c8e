from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "ketaclinic.scheduling"
    verbose_name = "Scheduling, appointment requests and telehealth"

    def ready(self) -> None:
        from ketaclinic.scheduling import signals  # noqa: F401  (connects the receivers)
