from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "ketaclinic.operations"
    verbose_name = "Running the clinic software: serving and demo data"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from ketaclinic.operations.maintenance import analyze_after_migrate

        post_migrate.connect(analyze_after_migrate, sender=self, dispatch_uid="ketaclinic-analyze")
