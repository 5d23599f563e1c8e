"""Appointment types that keep the patient company in their own chair or room visit (a
therapist's in-session support); the clinic-wide defaults marked so in
appointment_types.json are set."""

import json
from pathlib import Path

from django.db import migrations, models

TYPES_FILE = Path(__file__).resolve().parents[1] / "appointment_types.json"


def forwards(apps, schema_editor):
    AppointmentType = apps.get_model("scheduling", "AppointmentType")
    keys = [t["key"] for t in json.loads(TYPES_FILE.read_text())["types"] if t.get("accompanies")]
    AppointmentType.objects.filter(location=None, key__in=keys).update(accompanies=True)


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0003_spam_and_retention"),
    ]

    operations = [
        migrations.AddField(
            model_name="appointmenttype",
            name="accompanies",
            field=models.BooleanField(
                default=False,
                help_text="Keeps the patient company during their own chair or room visit (a "
                "therapist's in-session support), so it may overlap that visit.",
            ),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
