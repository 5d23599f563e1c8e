from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ketaclinic.operations.backup import BackupCannotRun, BackupRefused, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup archive into the database DATABASE_URL names, after confirmation. "
        "A database that already holds data is replaced only when you confirm it; stop the "
        "app first (docs/backups.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", help="The archive made by `ketaclinic backup`.")
        parser.add_argument(
            "--yes",
            action="store_true",
            help="Answer yes to the confirmation (for scripts; replaces any data there).",
        )
        parser.add_argument(
            "--secret-key",
            metavar="FILE",
            help="The secret key file saved beside the archive: installed into var/ on a "
            "local install (with SECRET_KEY set, set it to this key yourself).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def confirm(question: str) -> bool:
            if options["yes"]:
                return True
            try:
                answer = input(question)
            except EOFError:
                answer = ""
            if not sys.stdin.isatty():  # the answer was not echoed: end the question's line
                self.stdout.write("")
            return answer.strip().lower() in {"y", "yes"}

        try:
            restored = backup_restore(
                Path(options["archive"]),
                confirm=confirm,
                secret_key_file=Path(options["secret_key"]) if options["secret_key"] else None,
            )
        except BackupRefused as refused:
            raise CommandError(str(refused)) from refused
        except BackupCannotRun as cannot:
            raise CommandError(str(cannot), returncode=2) from cannot
        manifest = restored.manifest
        head = manifest["audit_chain_head"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {restored.archive.name} (made {manifest['created_at']}): "
                f"{len(manifest['tables'])} tables with their row counts as in the manifest, "
                f"audit chain at #{head['sequence']}."
            )
        )
        if restored.secret_key_installed is not None:
            self.stdout.write(f"Secret key installed into {restored.secret_key_installed}.")
        if not restored.secret_key_matches:
            self.stdout.write(
                self.style.WARNING(
                    "This server's secret key is not the backup's: set SECRET_KEY (or pass "
                    "--secret-key FILE) to the key saved with the archive, or sessions, "
                    "questionnaire links and calendar feeds made before stop working."
                )
            )
        self.stdout.write(
            "Run `ketaclinic migrate` if this ketaclinic is newer than the backup, then "
            "`ketaclinic audit verify` and `ketaclinic ledger verify`."
        )
