from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "ketaclinic.billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.billing import plugins

        plugins.register()
