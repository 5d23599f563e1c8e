from django.apps import AppConfig


class RegisterConfig(AppConfig):
    name = "ketaclinic.register"
    verbose_name = "Controlled-substance register"

    def ready(self) -> None:
        from ketaclinic.charting.services import SIGNING_CHECKS
        from ketaclinic.register.services import session_unaccounted

        # A session note cannot be signed while a draw has volume not accounted for.
        if session_unaccounted not in SIGNING_CHECKS:
            SIGNING_CHECKS.append(session_unaccounted)
