from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ketaclinic.accounts.services import lockout_lift_on_server


class Command(BaseCommand):
    help = (
        "Unlock an account on the server, always possible even when every administrator is "
        "locked out: `unlock USERNAME` lifts its lockout; `--address ADDR` also lets an "
        "address that made too many failed sign-ins sign in again. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", nargs="?", default="", help="The account to unlock.")
        parser.add_argument(
            "--address",
            default="",
            metavar="ADDR",
            help="A network address whose sign-in is paused (IPv6: its whole /64).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username, address = options["username"].strip(), options["address"].strip()
        if not username and not address:
            raise CommandError(
                "Name the account to unlock (`ketaclinic unlock USERNAME`), or give --address.",
                returncode=2,
            )
        try:
            records, failures = lockout_lift_on_server(username=username, address=address)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        if username:
            state = "was locked" if records else "was not locked"
            self.stdout.write(
                self.style.SUCCESS(f"Unlocked {username!r} ({state}); it can sign in now.")
            )
        if address:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Address {address} may sign in again ({failures} failed sign-in(s) cleared)."
                )
            )
