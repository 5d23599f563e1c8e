from django.db import migrations

from ketaclinic.register import triggers


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.install(schema_editor.connection)


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("register", "0001_initial")]

    operations = [migrations.RunPython(install, remove)]
