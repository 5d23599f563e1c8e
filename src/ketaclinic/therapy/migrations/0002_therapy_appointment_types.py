"""The two new therapy appointment types (scheduling/appointment_types.json) for databases
whose scheduling defaults were seeded before they existed; a clinic's own edits are kept."""

import json
from pathlib import Path

from django.db import migrations

TYPES_FILE = Path(__file__).resolve().parents[2] / "scheduling" / "appointment_types.json"
KEYS = ("therapy-preparation", "therapy-in-session")


def forwards(apps, schema_editor):
    AppointmentType = apps.get_model("scheduling", "AppointmentType")
    known = {f.name for f in AppointmentType._meta.get_fields()}
    for row in json.loads(TYPES_FILE.read_text())["types"]:
        if row["key"] in KEYS:
            AppointmentType.objects.get_or_create(
                location=None,
                key=row["key"],
                defaults={k: v for k, v in row.items() if k != "key" and k in known},
            )


class Migration(migrations.Migration):
    dependencies = [
        ("therapy", "0001_therapy_notes"),
        ("scheduling", "0004_appointment_type_accompanies"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
