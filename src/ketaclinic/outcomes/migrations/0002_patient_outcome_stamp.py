from django.db import migrations, models

from ketaclinic.outcomes import triggers


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.install(schema_editor.connection)


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("outcomes", "0001_initial"),
        ("measures", "0002_response_course"),
        ("charting", "0002_strike_through_and_confirmations"),
        ("treatment", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="PatientOutcomeStamp",
            fields=[
                ("patient_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("token", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(install, remove),
    ]
