from django.apps import AppConfig


class ChartingConfig(AppConfig):
    name = "ketaclinic.charting"
    verbose_name = "Treatment sessions and the chair board"

    def ready(self) -> None:
        from ketaclinic.charting import signals  # noqa: F401  (connects the receivers)
