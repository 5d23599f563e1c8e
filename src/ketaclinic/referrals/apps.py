from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "ketaclinic.referrals"
    verbose_name = "Referrals"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.referrals import plugins

        plugins.register()
