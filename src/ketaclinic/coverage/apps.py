from django.apps import AppConfig


class CoverageConfig(AppConfig):
    name = "ketaclinic.coverage"
    verbose_name = "Coverage"

    def ready(self) -> None:
        # App loading: the plug-ins import this app's models, ready only now.
        from ketaclinic.coverage import plugins

        plugins.register()
