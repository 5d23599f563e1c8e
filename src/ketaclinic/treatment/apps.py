from django.apps import AppConfig


class TreatmentConfig(AppConfig):
    name = "ketaclinic.treatment"
    verbose_name = "Protocols and treatment courses"
