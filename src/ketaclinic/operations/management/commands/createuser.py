from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from ketaclinic.accounts.roles import Role
from ketaclinic.accounts.services import user_create
from ketaclinic.organization.models import Location
from ketaclinic.patients.models import Patient


class Command(BaseCommand):
    help = (
        "Add an account. Staff roles: coordinator, nurse, prescriber, medical_director, admin; "
        "a patient account is linked to one patient by MRN. The password is asked for, or read "
        "from KETACLINIC_NEW_USER_PASSWORD for scripts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", required=True, choices=[r.value for r in Role])
        parser.add_argument("--username", required=True)
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--title", default="", help="Credentials, e.g. RN, MD, NP.")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--location",
            action="append",
            default=[],
            metavar="SHORT_NAME",
            help="A location (short name) whose patients the user sees; repeat for several.",
        )
        parser.add_argument("--patient-mrn", help="For --role patient: the patient's MRN.")

    def handle(self, *args: Any, **options: Any) -> None:
        locations = []
        for short_name in options["location"]:
            location = Location.objects.filter(short_name__iexact=short_name).first()
            if location is None:
                known = ", ".join(Location.objects.values_list("short_name", flat=True)) or "none"
                raise CommandError(f"No location {short_name!r}. Known locations: {known}.")
            locations.append(location)
        patient = None
        if options["patient_mrn"]:
            patient = Patient.objects.filter(mrn=options["patient_mrn"].strip().upper()).first()
            if patient is None:
                raise CommandError(f"No patient with MRN {options['patient_mrn']!r}.")
        password = os.environ.get("KETACLINIC_NEW_USER_PASSWORD") or self._ask_password()
        try:
            user = user_create(
                username=options["username"],
                password=password,
                role=Role(options["role"]),
                first_name=options["first_name"],
                last_name=options["last_name"],
                title=options["title"],
                email=options["email"],
                locations=locations,
                patient=patient,
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            self.style.SUCCESS(f"Created {user.role_enum.label.lower()} {user.username}.")
        )

    def _ask_password(self) -> str:
        no_password = CommandError(
            "No password given: type it at the prompt, or set KETACLINIC_NEW_USER_PASSWORD."
        )
        if not sys.stdin.isatty():  # a script or cron job: nobody to ask
            raise no_password
        try:
            first = getpass.getpass("Password: ")
            again = getpass.getpass("Password (again): ")
        except EOFError as error:
            raise no_password from error
        if first != again:
            raise CommandError("The passwords did not match.")
        return first
