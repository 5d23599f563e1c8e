from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "ketaclinic.patients"
    verbose_name = "Patient registry"
