from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from ketaclinic.scheduling.requests.services import requests_purge


class Command(BaseCommand):
    help = (
        "Appointment requests. `requests purge` deletes declined and spam requests handled "
        "more than KETACLINIC_REQUEST_RETENTION_DAYS ago; for a daily cron job."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        purge = sub.add_parser(
            "purge",
            help="Delete the declined and spam requests past the retention period (exit 0).",
        )
        purge.add_argument(
            "--dry-run", action="store_true", help="Count them without deleting anything."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        purge = requests_purge(dry_run=options["dry_run"])
        days = settings.KETACLINIC_REQUEST_RETENTION_DAYS
        verb = "would be deleted (dry run)" if options["dry_run"] else "deleted"
        self.stdout.write(
            self.style.SUCCESS(
                f"Requests: {purge.requests} declined or spam request(s) handled more than "
                f"{days} days ago {verb}, with {purge.contact_attempts} contact attempt(s)."
            )
        )
