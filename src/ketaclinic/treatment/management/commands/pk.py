"""`ketaclinic pk`: predicted plasma ketamine for an IV infusion (educational preview).

The models live in `ketaclinic.clinical.pk` (clinical-reference.md section 4). They come
from anaesthetic populations: the output is an educational estimate, not dosing
guidance. Exit status 0 computed; 2 unusable input (one line on stderr).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ketaclinic.clinical.pk import MODELS, PkInputError, PkPrediction, predict_infusion
from ketaclinic.treatment.management.commands.dose import (
    HelpFormatter,
    fail,
    float_type,
    one_line_errors,
)

NOTE = "educational estimate, not dosing guidance"
SUMMARY_EVERY_MIN = 30


def describe(
    prediction: PkPrediction, *, weight_kg: float, mg_per_kg: float, minutes: float
) -> list[str]:
    """A short readable summary of a prediction."""
    model = MODELS[prediction.model]
    end_min, end_conc = prediction.series[-1]
    marks = ", ".join(
        f"{minute:g} min {conc:.1f}"
        for minute, conc in prediction.series
        if abs(minute / SUMMARY_EVERY_MIN - round(minute / SUMMARY_EVERY_MIN)) < 1e-9
    )
    return [
        f"{model.key} ({model.name}): {weight_kg * mg_per_kg:g} mg "
        f"({mg_per_kg:g} mg/kg x {weight_kg:g} kg) over {minutes:g} min",
        f"peak plasma ketamine {prediction.cmax_ng_ml:.1f} ng/mL at minute "
        f"{prediction.tmax_min:g}; {end_conc:.1f} ng/mL at minute {end_min:g}",
        f"ng/mL every {SUMMARY_EVERY_MIN} min: {marks}",
        f"source: {model.source}",
        f"{NOTE}: the model was fitted to anaesthetic populations",
    ]


class Command(BaseCommand):
    help = "Predict plasma ketamine over time for an IV infusion (educational estimate)."
    requires_system_checks: list[str] = []  # pure computation: no database, no checks

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs["formatter_class"] = HelpFormatter
        parser = one_line_errors(super().create_parser(prog_name, subcommand, **kwargs))
        models = "\n".join(f"  {m.key:<9} {m.name}\n  {'':<9} {m.source}" for m in MODELS.values())
        parser.description = (
            f"{self.help}\n\n"
            "A linear compartment model, solved exactly, for a constant-rate infusion of\n"
            "weight x mg/kg over the given minutes, then washout. The models come from\n"
            f"anaesthetic populations: this is an {NOTE}.\n\nmodels:\n{models}"
        )
        parser.epilog = (
            "examples:\n"
            "  ketaclinic pk --model domino --weight-kg 70 --mg-per-kg 0.5 --minutes 40\n"
            "  ketaclinic pk --model clements --weight-kg 70 --mg-per-kg 0.5 --minutes 40 "
            "--json\n\n"
            "--json prints one object: model, cmax_ng_ml, tmax_min, series as\n"
            "[[minute, ng_per_ml], ...] at least every minute, and note.\n"
            "exit status: 0 computed; 2 unusable input (one line on stderr)."
        )
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model",
            required=True,
            metavar="MODEL",
            help="model: " + ", ".join(MODELS),
        )
        parser.add_argument(
            "--weight-kg",
            required=True,
            type=float_type("weight"),
            metavar="KG",
            help="body weight in kg",
        )
        parser.add_argument(
            "--mg-per-kg",
            required=True,
            type=float_type("mg/kg"),
            metavar="MG",
            help="dose per kg (standard 0.5)",
        )
        parser.add_argument(
            "--minutes",
            required=True,
            type=float_type("minutes"),
            metavar="MIN",
            help="infusion time in minutes (standard 40)",
        )
        parser.add_argument(
            "--hours",
            type=float_type("hours"),
            default=3.0,
            metavar="H",
            help="length of the prediction in hours from the start (default 3)",
        )
        parser.add_argument(
            "--step-min",
            type=float_type("step"),
            default=1.0,
            metavar="MIN",
            help="minutes between series points, 0.01 to 1 (default 1)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            prediction = predict_infusion(
                model=options["model"],
                weight_kg=options["weight_kg"],
                mg_per_kg=options["mg_per_kg"],
                minutes=options["minutes"],
                hours=options["hours"],
                step_min=options["step_min"],
            )
        except PkInputError as exc:
            fail(self, str(exc))
        if options["json"]:
            self.stdout.write(json.dumps({**prediction.as_dict(), "note": NOTE}))
        else:
            lines = describe(
                prediction,
                weight_kg=options["weight_kg"],
                mg_per_kg=options["mg_per_kg"],
                minutes=options["minutes"],
            )
            self.stdout.write("\n".join(lines))
