from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    name = "ketaclinic.eligibility"
    verbose_name = "Intake, eligibility and consent"
