"""`ketaclinic dose`: IV ketamine and esketamine dose arithmetic from the command line.

The rules live in `ketaclinic.clinical.dosing` (clinical-reference.md section 4); this
command parses text, prints the result and sets the exit status: 0 computed, 2 input
that cannot give a dose (one line on stderr, no traceback). The helpers for one-line
errors are shared with `ketaclinic pk`.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    DjangoHelpFormatter,
)

from ketaclinic.clinical.dosing import (
    ESKETAMINE_DOSES_MG,
    DosingInputError,
    EsketamineDose,
    IvDose,
    WeightBasis,
    esketamine_dose,
    iv_ketamine_dose,
)

INVALID_INPUT = 2  # exit status for input that could not be computed


class HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Django's option order, with our descriptions and epilogs kept as written."""


class OneLineErrorParser(CommandParser):
    """A CommandParser whose usage errors are one line on stderr and exit status 2.

    argparse prints the whole usage block before the error; a script calling us wants
    one line naming the problem. Called from Python (call_command) it raises
    CommandError instead, as Django's own parser does.
    """

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        if self.called_from_command_line:
            sys.stderr.write(f"error: {text}; see `{self.prog} --help`\n")
            raise SystemExit(INVALID_INPUT)
        raise CommandError(f"Error: {text}", returncode=INVALID_INPUT)


def one_line_errors(parser: CommandParser) -> CommandParser:
    """Give the parser Django built in `create_parser` our one-line `error`.

    BaseCommand.create_parser constructs a plain CommandParser with no hook for the
    class, so we change the instance's class (same layout, one overridden method).
    """
    parser.__class__ = OneLineErrorParser
    return parser


def decimal_type(name: str) -> Callable[[str], Decimal]:
    """An argparse type: a finite decimal number; range checks stay in clinical/."""

    def parse(text: str) -> Decimal:
        try:
            value = Decimal(text.strip())
        except InvalidOperation:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not value.is_finite():
            raise argparse.ArgumentTypeError(f"{name} must be a finite number, got {text!r}")
        return value

    return parse


def float_type(name: str) -> Callable[[str], float]:
    """An argparse type: a finite number as float; range checks stay in clinical/."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number, got {text!r}")
        return value

    return parse


def whole_type(name: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            return int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, got {text!r}"
            ) from None

    return parse


def fail(command: BaseCommand, message: str) -> NoReturn:
    """Report input that cannot be computed: one stderr line and exit status 2."""
    text = " ".join(message.split())
    if getattr(command, "_called_from_command_line", False):
        command.stderr.write(f"error: {text}")
        raise SystemExit(INVALID_INPUT)
    raise CommandError(text, returncode=INVALID_INPUT)


def describe_iv(dose: IvDose) -> list[str]:
    """Readable lines for an IV ketamine preparation."""
    lines = [
        f"IV ketamine {dose.dose_mg} mg = {dose.mg_per_kg} mg/kg x {dose.basis_weight_kg} kg "
        f"({dose.weight_basis} weight), over {dose.minutes} minutes",
        f"draw up {dose.drug_volume_ml} mL of {dose.stock_mg_per_ml} mg/mL stock into the "
        f"{dose.bag_ml} mL bag (total {dose.total_volume_ml} mL)",
        f"pump rate {dose.rate_ml_per_h} mL/h (bag volume / minutes x 60)",
    ]
    lines += [f"warning: {warning}" for warning in dose.warnings] or ["warnings: none"]
    return lines


def describe_esketamine(dose: EsketamineDose) -> list[str]:
    """Readable lines for an esketamine session."""
    plural = "s" if dose.devices > 1 else ""
    times = ", ".join(
        f"device {number} at {minute} min" for number, minute in enumerate(dose.device_times_min, 1)
    )
    return [
        f"esketamine {dose.dose_mg} mg: {dose.devices} device{plural} of 28 mg, "
        f"{dose.sprays} sprays, {dose.minutes_between_devices} minutes between devices",
        times,
    ]


class Command(BaseCommand):
    help = "Compute an IV ketamine preparation or an esketamine device plan."
    requires_system_checks: list[str] = []  # pure computation: no database, no checks

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs["formatter_class"] = HelpFormatter
        parser = one_line_errors(super().create_parser(prog_name, subcommand, **kwargs))
        parser.description = (
            f"{self.help}\n\n"
            "Arithmetic from clinical-reference.md section 4; it flags departures from the\n"
            "standard 0.5 mg/kg over 40 minutes but does not choose a patient's dose."
        )
        parser.epilog = (
            "examples:\n"
            "  ketaclinic dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40\n"
            "  ketaclinic dose iv-ketamine --weight-kg 110 --mg-per-kg 0.5 --minutes 40 \\\n"
            "      --weight-basis adjusted --height-cm 170 --sex female --json\n"
            "  ketaclinic dose esketamine --dose-mg 56\n\n"
            "`ketaclinic dose FORM --help` explains one form.\n"
            "exit status: 0 computed; 2 input that cannot give a dose (one line on stderr)."
        )
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        forms = parser.add_subparsers(
            dest="form",
            metavar="FORM",
            required=True,
            title="forms",
            parser_class=OneLineErrorParser,
        )
        iv = forms.add_parser(
            "iv-ketamine",
            help="IV racemic ketamine: dose, drug volume and pump rate",
            formatter_class=HelpFormatter,
            description=(
                "IV racemic ketamine: dose = basis weight x mg/kg (to 0.1 mg); drug volume =\n"
                "dose / stock concentration (to 0.01 mL), added to the bag; pump rate = bag\n"
                "volume / minutes x 60 (to 0.1 mL/h). Warnings name a dose above a protocol\n"
                "maximum, mg/kg above the standard 0.5, an infusion under 40 minutes, and more."
            ),
            epilog=(
                "example:\n"
                "  ketaclinic dose iv-ketamine --weight-kg 70 --mg-per-kg 0.5 --minutes 40\n"
                "  -> 35.0 mg, 0.35 mL of 100 mg/mL stock, 150.0 mL/h"
            ),
        )
        iv.add_argument(
            "--weight-kg",
            required=True,
            type=decimal_type("weight"),
            metavar="KG",
            help="actual body weight in kg",
        )
        iv.add_argument(
            "--mg-per-kg",
            required=True,
            type=decimal_type("mg/kg"),
            metavar="MG",
            help="dose per kg of basis weight (standard 0.5)",
        )
        iv.add_argument(
            "--minutes",
            required=True,
            type=whole_type("minutes"),
            metavar="MIN",
            help="infusion time in whole minutes (standard 40)",
        )
        iv.add_argument(
            "--weight-basis",
            default=WeightBasis.ACTUAL.value,
            choices=[basis.value for basis in WeightBasis],
            help="weight the mg/kg applies to (default actual); ideal and adjusted use "
            "Devine IBW and need --height-cm and --sex",
        )
        iv.add_argument(
            "--height-cm",
            type=decimal_type("height"),
            metavar="CM",
            help="height in cm (for ideal or adjusted weight)",
        )
        iv.add_argument(
            "--sex",
            choices=["female", "male"],
            help="sex for the Devine formula (for ideal or adjusted weight)",
        )
        iv.add_argument(
            "--bag-ml",
            type=decimal_type("bag volume"),
            default=Decimal("100"),
            metavar="ML",
            help="saline bag volume in mL (default 100)",
        )
        iv.add_argument(
            "--stock-mg-per-ml",
            type=decimal_type("stock concentration"),
            default=Decimal("100"),
            metavar="MG",
            help="vial concentration in mg/mL (default 100; 50 also common)",
        )
        iv.add_argument(
            "--max-dose-mg",
            type=decimal_type("maximum dose"),
            metavar="MG",
            help="protocol maximum dose in mg; a larger dose is flagged",
        )
        iv.add_argument(
            "--max-mg-per-kg",
            type=decimal_type("maximum mg/kg"),
            metavar="MG",
            help="protocol maximum mg/kg; a larger mg/kg is flagged",
        )
        iv.add_argument("--json", action="store_true", help="print one JSON object")

        esk = forms.add_parser(
            "esketamine",
            help="intranasal esketamine (Spravato): devices, sprays and timing",
            formatter_class=HelpFormatter,
            description=(
                "Intranasal esketamine (Spravato label): each device is 28 mg in 2 sprays;\n"
                "56 mg is 2 devices and 84 mg is 3, with 5 minutes between devices."
            ),
            epilog="example:\n  ketaclinic dose esketamine --dose-mg 84 --json",
        )
        esk.add_argument(
            "--dose-mg",
            required=True,
            type=whole_type("esketamine dose"),
            metavar="MG",
            help="session dose: " + ", ".join(str(mg) for mg in ESKETAMINE_DOSES_MG),
        )
        esk.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["form"] == "esketamine":
                result: IvDose | EsketamineDose = esketamine_dose(dose_mg=options["dose_mg"])
                lines = describe_esketamine(result)
            else:
                result = iv_ketamine_dose(
                    weight_kg=options["weight_kg"],
                    mg_per_kg=options["mg_per_kg"],
                    minutes=options["minutes"],
                    basis=WeightBasis(options["weight_basis"]),
                    height_cm=options["height_cm"],
                    sex=options["sex"],
                    bag_ml=options["bag_ml"],
                    stock_mg_per_ml=options["stock_mg_per_ml"],
                    max_dose_mg=options["max_dose_mg"],
                    max_mg_per_kg=options["max_mg_per_kg"],
                )
                lines = describe_iv(result)
        except DosingInputError as exc:
            fail(self, str(exc))
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        else:
            self.stdout.write("\n".join(lines))
