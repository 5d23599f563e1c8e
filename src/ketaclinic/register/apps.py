from django.apps import AppConfig


class RegisterConfig(AppConfig):
    name = "ketaclinic.register"
    verbose_name = "Controlled-substance register"
