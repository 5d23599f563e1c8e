from __future__ import annotations

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from ketaclinic.operations.demo import (
    DEFAULT_PATIENTS,
    DEMO_ACCOUNTS,
    DEMO_PASSWORD,
    LOCATIONS,
    MAX_LOCATIONS,
    demo_is_seeded,
    seed_demo,
)
from ketaclinic.operations.maintenance import database_unmigrated


class Command(BaseCommand):
    help = (
        "Seed the fictional demo clinic (three locations, staff of every role, patients with "
        "histories) into an empty database. Deterministic from a fixed seed; never use in "
        "production, it creates accounts with a published password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--patients",
            type=int,
            default=DEFAULT_PATIENTS,
            help=f"How many patients to create (default {DEFAULT_PATIENTS}; up to 100000 or more).",
        )
        parser.add_argument(
            "--sessions",
            type=int,
            default=None,
            help=(
                "Size the past treatment courses to about this many charted sessions in all, "
                "each with its booking, vital signs, scores, register entries and audit entry "
                "(a network-scale demo, e.g. --patients 100000 --sessions 1000000). Default: "
                "the demo's own histories (about 30 sessions a 100 patients)."
            ),
        )
        parser.add_argument(
            "--locations",
            type=int,
            default=len(LOCATIONS),
            help=(
                f"How many locations (default {len(LOCATIONS)}; up to {MAX_LOCATIONS}: the "
                "further ones are the network's, with ten chairs and staff such as nurse.denver)."
            ),
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing (but list the demo accounts) when the database already has data.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.conf import settings

        if settings.PRODUCTION:
            raise CommandError("The demo clinic is refused when KETACLINIC_ENV=production.")
        if options["patients"] < 1:
            raise CommandError("--patients must be at least 1.")
        if options["sessions"] is not None and options["sessions"] < 1:
            raise CommandError("--sessions must be at least 1.")
        if not len(LOCATIONS) <= options["locations"] <= MAX_LOCATIONS:
            raise CommandError(
                f"--locations must be from {len(LOCATIONS)} to {MAX_LOCATIONS}, "
                f"not {options['locations']}."
            )
        if database_unmigrated():
            # A new database (the first `make demo`, or `ketaclinic demo` straight away).
            self.stdout.write("Setting up the database tables first (ketaclinic migrate).")
            call_command("migrate", interactive=False, verbosity=0)
        if demo_is_seeded():
            if options["if_empty"]:
                self.stdout.write("The database already has a clinic; not seeding again.")
                self._print_accounts()
                return
            raise CommandError(
                "The database already has an organization. Demo data only goes into an empty "
                "database (delete var/ketaclinic.sqlite3 to start over)."
            )
        started = time.monotonic()
        sessions = tqdm(
            total=options["sessions"] or 0,
            unit="sessions",
            desc="Treatment histories",
            disable=not options["sessions"],
            position=1,
        )
        register = tqdm(
            total=options["sessions"] or 0,
            unit="doses",
            desc="Register (draw, give, waste)",
            disable=not options["sessions"],
            position=2,
        )
        patients = tqdm(total=options["patients"], unit="patients", desc="Seeding demo clinic")
        with patients, sessions, register:
            seed_demo(
                patients=options["patients"],
                progress=patients.update,
                locations=options["locations"],
                sessions=options["sessions"],
                session_progress=sessions.update,
                register_progress=register.update,
            )
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo clinic ready: {options['patients']} patients in {elapsed:.1f} s."
            )
        )
        self._print_accounts()

    def _print_accounts(self) -> None:
        self.stdout.write("\nDemo accounts (password for all: " + DEMO_PASSWORD + "):")
        for username, what in DEMO_ACCOUNTS:
            self.stdout.write(f"  {username:<12} {what}")
        self.stdout.write("Log in at /accounts/login/\n")
