from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ketaclinic.audit.services import audit_verify_chain


class Command(BaseCommand):
    help = "Audit log tools. `audit verify` checks the hash chain of every entry."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        sub.add_parser(
            "verify",
            help="Exit 0 when the chain is intact; exit 1 naming the first altered, "
            "removed or reordered entry.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify_chain()
        if report.ok:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Audit chain intact: {report.entries_checked} entries verified."
                )
            )
            return
        self.stderr.write(
            f"Audit chain BROKEN at entry #{report.first_bad_sequence}: {report.problem} "
            f"({report.entries_checked} entries before it verified)."
        )
        raise SystemExit(1)
