"""Default appointment types (appointment_types.json), and chairs, a room and opening hours for the
locations that exist already (new locations get theirs when they are created)."""

import json
from datetime import time
from pathlib import Path

from django.db import migrations

TYPES_FILE = Path(__file__).resolve().parents[1] / "appointment_types.json"


def forwards(apps, schema_editor):
    AppointmentType = apps.get_model("scheduling", "AppointmentType")
    Location = apps.get_model("organization", "Location")
    Resource = apps.get_model("scheduling", "Resource")
    OpeningHours = apps.get_model("scheduling", "OpeningHours")
    # The file grows fields later migrations add: only those this model has yet are set.
    known = {f.name for f in AppointmentType._meta.get_fields()}
    for row in json.loads(TYPES_FILE.read_text())["types"]:
        AppointmentType.objects.update_or_create(
            location=None,
            key=row["key"],
            defaults={k: v for k, v in row.items() if k != "key" and k in known},
        )
    for location in Location.objects.all():
        if not Resource.objects.filter(location=location, kind="chair").exists():
            for n in range(1, location.chair_count + 1):
                Resource.objects.create(location=location, kind="chair", number=n, name=f"Chair {n}")
        if not Resource.objects.filter(location=location, kind="room").exists():
            Resource.objects.create(location=location, kind="room", number=1, name="Consultation room 1")
        if not OpeningHours.objects.filter(location=location).exists():
            for weekday in range(5):
                OpeningHours.objects.create(
                    location=location, weekday=weekday, opens_at=time(7), closes_at=time(19)
                )


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_initial"),
        ("organization", "0002_location_chair_count"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
