from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ketaclinic.accounts.models import User
from ketaclinic.fhir.importing import bundle_import
from ketaclinic.fhir.models import SystemClient
from ketaclinic.fhir.services import client_create
from ketaclinic.organization.models import Location


class Command(BaseCommand):
    help = (
        "The FHIR API (docs/fhir.md). `fhir client add NAME --account USERNAME --scope "
        "system/*.read` registers a system that reads the API with OAuth2 client credentials "
        "and prints its secret once; `fhir client list` lists them; `fhir import BUNDLE.json "
        "--by USERNAME --location SHORT_NAME` imports a Bundle of patients with their "
        "conditions, medications, allergies and questionnaire responses, all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
        client = sub.add_parser("client", help="Register or list system clients.")
        client_sub = client.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = client_sub.add_parser("add", help="Register a system client.")
        add.add_argument("name", help="The system, e.g. 'State PDMP registry'.")
        add.add_argument(
            "--account",
            required=True,
            metavar="USERNAME",
            help="The staff account it reads as: its role and locations limit what it sees.",
        )
        add.add_argument(
            "--scope",
            action="append",
            required=True,
            help="A scope it may ask for (repeat): system/Patient.read, system/*.read.",
        )
        client_sub.add_parser("list", help="List system clients.")
        bundle = sub.add_parser("import", help="Import a FHIR Bundle (JSON).")
        bundle.add_argument("file", type=Path, help="The Bundle, as JSON.")
        bundle.add_argument("--by", required=True, metavar="USERNAME", help="Who imports.")
        bundle.add_argument(
            "--location", required=True, help="The location (short name) of the new patients."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["what"] == "client":
            if options["action"] == "list":
                self._list()
            else:
                self._add(options)
        else:
            self._import(options)

    def _list(self) -> None:
        clients = SystemClient.objects.select_related("account").order_by("name")
        if not clients:
            self.stdout.write("No system clients yet: `ketaclinic fhir client add` adds one.")
        for client in clients:
            state = "active" if client.is_active else "disabled"
            self.stdout.write(
                f"{client.client_id}  {client.name}  as {client.account.username}  "
                f"{' '.join(client.scopes)}  ({state})"
            )

    def _add(self, options: dict[str, Any]) -> None:
        account = User.objects.filter(username=options["account"]).first()
        if account is None:
            raise CommandError(f"No account {options['account']!r}.")
        try:
            client, secret = client_create(
                name=options["name"], account=account, scopes=options["scope"]
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(f"client_id:     {client.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write("Keep the secret now: it is not shown again.")

    def _import(self, options: dict[str, Any]) -> None:
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.") from error
        actor = User.objects.filter(username=options["by"], is_active=True).first()
        if actor is None:
            raise CommandError(f"No active account {options['by']!r}.")
        location = Location.objects.filter(short_name=options["location"]).first()
        if location is None:
            raise CommandError(f"No location with the short name {options['location']!r}.")
        try:
            report = bundle_import(actor=actor, data=data, location=location)
        except PermissionDenied as error:
            raise CommandError(str(error)) from error
        except ValidationError as error:
            if len(error.messages) == 1:
                raise CommandError(f"Nothing was imported: {error.messages[0]}") from error
            lines = "\n".join(f"  {m}" for m in error.messages)
            raise CommandError(
                f"Nothing was imported ({len(error.messages)} problems):\n{lines}"
            ) from error
        self.stdout.write(
            f"Imported {report.patients} patient(s), {report.conditions} condition(s), "
            f"{report.medications} medication(s), {report.allergies} allerg(ies), "
            f"{report.responses} questionnaire response(s)."
        )
        for line in report.duplicates:
            self.stdout.write(f"  Not imported again: {line}")
        for kind, count in sorted(report.not_imported.items()):
            self.stdout.write(f"  Left out: {count} {kind} (not imported by ketaclinic)")
