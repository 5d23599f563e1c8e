from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from ketaclinic.fhir.services import export_claim, export_run, exports_purge


class Command(BaseCommand):
    help = (
        "Run the background jobs: FHIR bulk exports, one at a time, with their progress; and "
        "delete export files past their 24 hours. Runs until stopped (Ctrl+C), or with --once "
        "until nothing is waiting. Several workers may run at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="Run what is waiting, then stop.")
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=2.0,
            help="How long to wait between looks for new jobs (default 2).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            expired = exports_purge()
            if expired:
                self.stdout.write(f"Deleted the files of {expired} expired export(s).")
            job = export_claim()
            if job is None:
                if options["once"]:
                    self.stdout.write("No export is waiting.")
                    return
                time.sleep(options["poll_seconds"])
                continue
            self.stdout.write(f"{timezone.localtime():%H:%M:%S} export {job.pk}: started")
            try:
                export_run(
                    job,
                    on_progress=lambda percent, text, job=job: self.stdout.write(
                        f"  export {job.pk}: {percent}% {text}"
                    ),
                )
            except Exception as error:  # the job records why; the worker goes on
                self.stderr.write(f"export {job.pk} failed: {error}")
                continue
            self.stdout.write(f"{timezone.localtime():%H:%M:%S} export {job.pk}: done")
