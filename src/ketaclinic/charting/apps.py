from django.apps import AppConfig


class ChartingConfig(AppConfig):
    name = "ketaclinic.charting"
    verbose_name = "Treatment sessions and the chair board"
