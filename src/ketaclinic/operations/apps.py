from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "ketaclinic.operations"
    verbose_name = "Running the clinic software: serving and demo data"
