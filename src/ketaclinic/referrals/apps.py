from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_crisis_line(sender: AppConfig, using: str = "default", **_: Any) -> None:
    """After every migrate (and every test flush), the 988 Lifeline row exists, so that
    the first page to list the directory does not have to write it."""
    # App loading: the services import this app's models, ready only once apps are loaded.
    from ketaclinic.referrals.services import national_crisis_resource

    national_crisis_resource(using=using)


class ReferralsConfig(AppConfig):
    name = "ketaclinic.referrals"
    verbose_name = "Referrals"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.referrals import plugins

        plugins.register()
        post_migrate.connect(_ensure_crisis_line, sender=self)
