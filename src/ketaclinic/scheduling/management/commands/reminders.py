from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ketaclinic.scheduling.reminders.services import reminders_pending, reminders_send


class Command(BaseCommand):
    help = (
        "Appointment reminders. `reminders send` emails and texts every reminder that is due; "
        "meant for cron (docs/reminders.md). Running it twice sends nothing twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        send = sub.add_parser(
            "send",
            help="Send the due reminders and print a one-line summary (exit 0).",
        )
        send.add_argument(
            "--dry-run",
            action="store_true",
            help="List the reminders that would be sent, without sending or claiming any.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["dry_run"]:
                pending = reminders_pending()
                for item in pending:
                    self.stdout.write(f"would send: {item.describe()}")
                self.stdout.write(f"Reminders: {len(pending)} would be sent (dry run).")
                return
            run = reminders_send()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(run.summary))
