from django.apps import AppConfig


class HomeConfig(AppConfig):
    name = "ketaclinic.home"
    verbose_name = "Staff home pages"
