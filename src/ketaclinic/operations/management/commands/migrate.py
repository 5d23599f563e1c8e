from __future__ import annotations

from typing import Any

from django.core.management.commands.migrate import Command as DjangoMigrate

from ketaclinic.operations.maintenance import database_analyze
from ketaclinic.treatment.services import protocols_seed_packaged


class Command(DjangoMigrate):
    help = (
        "Create or update the database tables, load any protocol shipped with ketaclinic that "
        "the clinic's copy lacks, then refresh the query planner's statistics (new indexes "
        "are useless to SQLite until it has them; see docs/performance.md)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        super().handle(*args, **options)
        if not options.get("plan") and not options.get("check_unapplied"):
            protocols_seed_packaged()
            database_analyze(options["database"])
