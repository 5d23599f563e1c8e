from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ketaclinic.register.services import ledger_verify_record


class Command(BaseCommand):
    help = (
        "Controlled-substance register tools. `ledger verify` checks every location's hash "
        "chain of ledger entries."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser(
            "verify",
            help="Exit 0 when every location's chain is intact; exit 1 naming the location "
            "and the first altered, removed or reordered entry. The outcome is recorded and "
            "shown on the inspector's overview.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report, _run = ledger_verify_record()
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(f"Ledger intact: {report.entries_checked} entries verified.")
            )
            return
        self.stderr.write(
            f"Ledger BROKEN at {report.location} entry #{report.first_bad_sequence}: "
            f"{report.problem} ({report.entries_checked} entries before it verified)."
        )
        raise SystemExit(1)
