from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ketaclinic.accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        # App loading: the receivers and plug-ins import this app's models, ready only now.
        from ketaclinic.accounts import plugins, signals  # noqa: F401  (signals: connects them)

        plugins.register()
