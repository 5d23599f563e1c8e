from django.db import migrations, models

from ketaclinic.charting import triggers


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.SESSIONS_IN_CHAIR.install(schema_editor.connection)


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.SESSIONS_IN_CHAIR.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("charting", "0004_rems_forms_owed")]

    operations = [
        migrations.CreateModel(
            name="SessionInChair",
            fields=[
                ("session_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("location_id", models.BigIntegerField(db_index=True)),
            ],
        ),
        migrations.RunPython(install, remove),
    ]
