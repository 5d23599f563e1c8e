from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("charting", "0002_strike_through_and_confirmations"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="treatmentsession",
            index=models.Index(fields=["route", "scheduled_at", "id"], name="session_rems"),
        ),
        migrations.AddIndex(
            model_name="treatmentsession",
            index=models.Index(fields=["route", "dosing_started_at"], name="session_rems_dosed"),
        ),
    ]
