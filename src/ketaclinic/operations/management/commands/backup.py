from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ketaclinic.operations.backup import (
    BackupCannotRun,
    BackupRefused,
    backup_create,
    backup_verify,
)
from ketaclinic.operations.maintenance import database_unmigrated


def _size(n: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)  # pragma: no cover


class Command(BaseCommand):
    help = (
        "Back up the whole database into a timestamped, checksummed archive (safe while the "
        "app runs), or `backup verify FILE`: restore an archive into a scratch database and "
        "check its row counts and both chains (docs/backups.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=["verify"], help="verify an archive")
        parser.add_argument("archive", nargs="?", help="with verify: the archive to check")
        parser.add_argument(
            "--to",
            metavar="DIR",
            help="Folder for the archive (default KETACLINIC_BACKUP_DIR, var/backups).",
        )
        parser.add_argument(
            "--secret-key-to",
            metavar="DIR",
            help="Folder for the secret key file (default: beside the archive).",
        )
        parser.add_argument(
            "--no-secret-key",
            action="store_true",
            help="Do not write the secret key file (keep SECRET_KEY safe some other way).",
        )
        parser.add_argument(
            "--keep-days",
            type=int,
            metavar="N",
            help="Afterwards, delete archives in the folder made more than N days earlier.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "verify":
                self._verify(options["archive"])
            else:
                self._backup(options)
        except BackupRefused as refused:
            raise CommandError(str(refused)) from refused
        except BackupCannotRun as cannot:
            raise CommandError(str(cannot), returncode=2) from cannot

    def _backup(self, options: dict[str, Any]) -> None:
        if options["archive"]:
            raise CommandError(
                f"Unexpected {options['archive']!r}: `ketaclinic backup [--to DIR]` makes a "
                "backup, `ketaclinic backup verify FILE` checks one.",
                returncode=2,
            )
        if options["keep_days"] is not None and options["keep_days"] < 1:
            raise CommandError("--keep-days must be at least 1.", returncode=2)
        if database_unmigrated():
            raise CommandError(
                "The database is not set up or not up to date: run `ketaclinic migrate` first.",
                returncode=2,
            )
        made = backup_create(
            to=Path(options["to"]) if options["to"] else None,
            secret_key_to=Path(options["secret_key_to"]) if options["secret_key_to"] else None,
            keep_secret_key=not options["no_secret_key"],
            keep_days=options["keep_days"],
        )
        manifest = made.manifest
        rows = sum(manifest["tables"].values())
        head = manifest["audit_chain_head"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written: {made.archive} ({_size(made.archive.stat().st_size)})."
            )
        )
        self.stdout.write(f"  checksum    {made.checksum}")
        self.stdout.write(
            f"  manifest    {rows} rows in {len(manifest['tables'])} tables; audit chain at "
            f"#{head['sequence']} {head['hash']}; {len(manifest['ledger_chain_heads'])} "
            "ledger chain(s)"
        )
        if made.secret_key is not None:
            self.stdout.write(
                f"  secret key  {made.secret_key}: keep it apart from the archive (another "
                "place or medium); a restore needs it for sessions, links and digests."
            )
        if made.anchor_file is not None:
            self.stdout.write(f"  anchor      audit chain head appended to {made.anchor_file}")
        for old in made.pruned:
            self.stdout.write(f"  deleted     {old.name} (older than {options['keep_days']} days)")

    def _verify(self, archive: str | None) -> None:
        if not archive:
            raise CommandError("Name the archive: `ketaclinic backup verify FILE`.", returncode=2)
        verified = backup_verify(Path(archive))
        manifest = verified.manifest
        head = manifest["audit_chain_head"]
        checksum = "checksum file matches, " if verified.checked_sidecar else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup verified: {Path(archive).name} ({checksum}restored into a scratch "
                f"{manifest['engine']} database: all {len(manifest['tables'])} tables' row "
                f"counts and both chain heads match the manifest)."
            )
        )
        for report in verified.chain_reports:
            self.stdout.write(f"  {report}")
        self.stdout.write(f"  audit chain at #{head['sequence']} {head['hash']}")
