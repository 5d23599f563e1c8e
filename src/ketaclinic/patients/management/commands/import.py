from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ketaclinic.accounts.models import User
from ketaclinic.organization.models import Location
from ketaclinic.patients.importing import ImportCheck, decode
from ketaclinic.patients.services import (
    patients_import_check,
    patients_import_discard,
    patients_import_run,
)


def report_lines(check: ImportCheck) -> list[str]:
    """The check as the command prints it: every problem and duplicate with its line."""
    lines = [
        f"{check.rows} patient line(s): {len(check.new)} new, "
        f"{len(check.duplicates)} registered already, {len(check.problems)} problem(s)."
    ]
    if check.ignored_columns:
        lines.append("Columns not imported: " + ", ".join(check.ignored_columns) + ".")
    for problem in check.problems:
        where = f", {problem.column}" if problem.column else ""
        lines.append(f"  line {problem.line}{where}: {problem.message}")
    for duplicate in check.duplicates:
        if duplicate.existing is not None:
            already = f"registered already as {duplicate.existing.mrn}"
        else:
            already = f"the same patient as line {duplicate.earlier_line}"
        lines.append(
            f"  line {duplicate.line}: {duplicate.name}, born {duplicate.date_of_birth}, "
            f"is {already}; not imported again."
        )
    return lines


class Command(BaseCommand):
    help = (
        "Import patients from another system's CSV export (docs/imports.md): "
        "`import patients FILE.csv --by USERNAME`. Every line is checked first; a file with "
        "any problem changes nothing and each problem is listed with its line. Patients "
        "registered already (same name and date of birth) are listed and not created again. "
        "Then, after confirmation, every new patient is registered at once, or none."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
        patients = sub.add_parser("patients", help="Import patients from a CSV file.")
        patients.add_argument("file", type=Path, help="The CSV file, UTF-8, with a header line.")
        patients.add_argument(
            "--by",
            required=True,
            metavar="USERNAME",
            help="Who imports (a medical director's account): named in the audit log.",
        )
        patients.add_argument(
            "--location",
            default="",
            help="The location (short name) of lines that name none.",
        )
        patients.add_argument(
            "--dry-run", action="store_true", help="Check the file and save nothing."
        )
        patients.add_argument("--yes", action="store_true", help="Import without asking.")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from error
        actor = User.objects.filter(username=options["by"], is_active=True).first()
        if actor is None:
            raise CommandError(f"There is no active account named {options['by']!r}.")
        if not actor.can("patient.import"):
            raise CommandError(
                f"{actor.username!r} may not import patients (patient.import, docs/roles.md)."
            )
        location = None
        if options["location"]:
            location = Location.objects.filter(
                short_name__iexact=options["location"], is_active=True
            ).first()
            if location is None:
                raise CommandError(f"No location {options['location']!r}.")
        try:
            text = decode(data)
            with tqdm(total=text.count("\n"), unit="lines", desc="Checking", leave=False) as bar:
                staged, check = patients_import_check(
                    actor=actor,
                    file_name=path.name,
                    text=text,
                    default_location=location,
                    keep=not options["dry_run"],
                    progress=bar.update,
                )
        except (ValueError, PermissionDenied) as error:
            raise CommandError(str(error)) from error
        for line in report_lines(check):
            self.stdout.write(line)
        if check.problems:
            raise CommandError("Nothing was imported: correct the lines above and run again.")
        if not check.new:
            self.stdout.write(self.style.SUCCESS("Nothing to import: no new patient."))
            return
        if staged is None:  # a dry run
            self.stdout.write(
                self.style.SUCCESS(
                    f"Dry run: {len(check.new)} patient(s) would be imported; nothing was saved."
                )
            )
            return
        if not options["yes"] and not self._confirmed(len(check.new)):
            patients_import_discard(actor=actor, import_id=staged.pk)
            raise CommandError(
                "Not confirmed: nothing was imported (--yes imports without asking)."
            )
        phases = {
            "checking": (check.rows, "lines", "Checking again"),
            "importing": (len(check.new), "patients", "Importing"),
        }
        bars: dict[str, tqdm] = {}

        def progress(phase: str, n: int) -> None:
            if phase not in bars:  # each bar's clock starts with its phase
                total, unit, desc = phases[phase]
                bars[phase] = tqdm(total=total, unit=unit, desc=desc)
            bars[phase].update(n)

        try:
            staged, _ = patients_import_run(actor=actor, import_id=staged.pk, progress=progress)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        finally:
            for bar in bars.values():
                bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {staged.imported} patient(s) from {path.name}"
                + (f"; {staged.duplicates} registered already." if staged.duplicates else ".")
            )
        )

    def _confirmed(self, count: int) -> bool:
        if not sys.stdin.isatty():
            return False
        answer = input(f"Import {count} patient(s)? Type yes to go on: ")
        return answer.strip().lower() == "yes"
