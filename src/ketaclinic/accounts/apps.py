from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ketaclinic.accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from ketaclinic.accounts import signals  # noqa: F401
