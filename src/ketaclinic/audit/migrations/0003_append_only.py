import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from ketaclinic.audit import triggers


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.install(schema_editor.connection)


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    triggers.remove(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0002_signature_refused_action'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditentry',
            name='action',
            field=models.CharField(choices=[('view', 'Viewed'), ('search', 'Searched'), ('create', 'Created'), ('update', 'Changed'), ('export', 'Exported'), ('api_read', 'Read through the API'), ('login', 'Logged in'), ('logout', 'Logged out'), ('lockout_lifted', 'Lifted a lockout'), ('signature_refused', 'Signature refused (wrong password)'), ('seed', 'Seeded demo data'), ('purge', 'Purged after the retention period')], max_length=20),
        ),
        migrations.AlterField(
            model_name='auditentry',
            name='actor',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        # Last, so that no table rebuild above can drop them.
        migrations.RunPython(install, remove),
    ]
