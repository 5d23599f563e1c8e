from django.db import migrations, models

from ketaclinic.charting import triggers


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.REMS_FORMS_OWED.install(schema_editor.connection)


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.REMS_FORMS_OWED.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("charting", "0003_rems_worklist_indexes")]

    operations = [
        migrations.CreateModel(
            name="RemsFormOwed",
            fields=[
                ("session_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("location_id", models.BigIntegerField(db_index=True)),
            ],
        ),
        migrations.RunPython(install, remove),
    ]
