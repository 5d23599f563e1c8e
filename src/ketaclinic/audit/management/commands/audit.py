from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from ketaclinic.audit import triggers
from ketaclinic.audit.anchors import (
    AnchorFileError,
    anchor_current,
    anchor_file,
    anchor_save,
    anchors_read,
    audit_check_anchors,
)
from ketaclinic.audit.services import audit_verify_chain


class Command(BaseCommand):
    help = (
        "Audit log tools. `audit verify` checks the hash chain, the database's append-only "
        "triggers and the anchors kept outside the database; `audit anchor` writes the chain "
        "head down outside the database (docs/audit.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = sub.add_parser(
            "verify",
            help="Exit 0 when the chain is intact, the triggers are in place and every anchor "
            "matches; exit 1 naming the first altered, removed or reordered entry.",
        )
        verify.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="FILE",
            help="Also check against this anchor file or backup manifest (repeatable).",
        )
        sub.add_parser(
            "anchor",
            help="Append the chain head (last sequence and hash) to KETACLINIC_AUDIT_ANCHOR_FILE "
            "and print it, to keep a copy elsewhere too. For cron.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "anchor":
            self._anchor()
            return
        self._verify([Path(p) for p in options["anchor"]])

    def _anchor(self) -> None:
        anchor = anchor_current(source="ketaclinic audit anchor")
        try:
            path = anchor_save(anchor)
        except OSError as error:
            raise CommandError(
                f"Cannot write the anchor file ({error.strerror or error}): check "
                "KETACLINIC_AUDIT_ANCHOR_FILE."
            ) from error
        where = f" to {path}" if path else " (KETACLINIC_AUDIT_ANCHOR_FILE is off: keep it)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit anchor #{anchor.sequence} {anchor.hash} at {anchor.at} written{where}."
            )
        )

    def _verify(self, extra: list[Path]) -> None:
        report = audit_verify_chain()
        if not report.ok:
            self._broken(
                f"Audit chain BROKEN at entry #{report.first_bad_sequence}: {report.problem} "
                f"({report.entries_checked} entries before it verified)."
            )
        anchors = []
        configured = anchor_file()
        try:
            if configured is not None and configured.exists():
                anchors += anchors_read(configured)
            for path in extra:
                anchors += anchors_read(path)
        except AnchorFileError as error:
            raise CommandError(f"Cannot check the anchors: {error}.", returncode=2) from error
        checked = audit_check_anchors(anchors)
        if not checked.ok:
            self._broken(f"Audit chain REWRITTEN: {checked.problem}.")
        missing = triggers.missing(connection)
        if missing:
            self._broken(
                "Audit log NOT append-only: the database trigger(s) "
                f"{', '.join(missing)} are missing (dropped by someone with administrator "
                "rights?); reinstall them with `ketaclinic migrate audit 0002` then "
                "`ketaclinic migrate`."
            )
        self.stdout.write(
            self.style.SUCCESS(f"Audit chain intact: {report.entries_checked} entries verified.")
        )
        if checked.latest is not None:
            latest = checked.latest
            self.stdout.write(
                f"Anchors: {checked.checked} matched, the latest #{latest.sequence} saved at "
                f"{latest.at} ({latest.source})."
            )
        else:
            self.stdout.write("Anchors: none saved yet (`ketaclinic audit anchor`).")
        self.stdout.write("Append-only triggers: in place.")

    def _broken(self, message: str) -> None:
        self.stderr.write(message)
        raise SystemExit(1)
