from django.db import migrations, models

from ketaclinic.register import triggers


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.OPEN_DRAWS.install(schema_editor.connection)


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.OPEN_DRAWS.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("register", "0003_speed_and_verification")]

    operations = [
        migrations.CreateModel(
            name="OpenDraw",
            fields=[
                ("draw_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("location_id", models.BigIntegerField(db_index=True)),
            ],
        ),
        migrations.RunPython(install, remove),
    ]
