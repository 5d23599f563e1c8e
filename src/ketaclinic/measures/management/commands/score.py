"""`ketaclinic score`: score one instrument response, or a CSV file of them.

Scoring rules live in `ketaclinic.clinical.scoring` (clinical-reference.md section 2); this
command only parses text, prints results and sets the exit status.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser, DjangoHelpFormatter

from ketaclinic.clinical.scoring import (
    INSTRUMENT_KEYS,
    InvalidResponseError,
    ScoreResult,
    UnknownInstrumentError,
    get_instrument,
    score,
)
from ketaclinic.instruments.schema import InstrumentOverrideError

WHOLE_NUMBER = re.compile(r"-?[0-9]+")
INVALID_INPUT = 2  # exit status for anything that could not be scored


class UsageError(Exception):
    """A one-line problem with how the command was called."""


class _HelpFormatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _answer(text: str) -> int | str:
    """A whole number, or the text itself so that scoring names it in its error."""
    text = text.strip()
    return int(text) if WHOLE_NUMBER.fullmatch(text) else text


def _instrument_table() -> str:
    lines = []
    for key in INSTRUMENT_KEYS:
        instrument = get_instrument(key)
        ranges = sorted(set(instrument.item_ranges))
        span = ", ".join(f"{low}-{high}" for low, high in ranges)
        items = f"{instrument.item_count} item" + ("s" if instrument.item_count > 1 else "")
        lines.append(f"  {key:<13} {items:>8}, {span:<10} {instrument.title}")
    return "\n".join(lines)


def describe(result: ScoreResult) -> str:
    """One human line, e.g. "phq9: total 14 (moderate); alerts: suicidal_ideation"."""
    if result.risk is not None:
        parts = [f"{result.instrument}: risk {result.risk}"]
    else:
        band = f" ({result.severity})" if result.severity else ""
        parts = [f"{result.instrument}: total {result.total}{band}"]
    if result.subscores:
        parts.append("subscores: " + ", ".join(f"{k} {v}" for k, v in result.subscores.items()))
    parts.append("alerts: " + (", ".join(result.alerts) or "none"))
    return "; ".join(parts)


class Command(BaseCommand):
    help = "Score an instrument response given as item answers, or a CSV file of responses."
    requires_system_checks: list[str] = []  # pure computation: no database, no checks

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs["formatter_class"] = _HelpFormatter
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.description = (
            f"{self.help}\n\n"
            "Answers are whole numbers in item order. Instruments (items, range per item):\n"
            f"{_instrument_table()}"
        )
        parser.epilog = (
            "examples:\n"
            "  ketaclinic score phq9 2 2 2 2 2 1 1 1 1\n"
            "  ketaclinic score cssrs-screen 1 1 1 0 0 0 --json\n"
            "  ketaclinic score madrs --csv responses.csv --output scored.csv\n\n"
            "CSV input: one response per row, the items in order. A first row with any\n"
            "non-number cell is a header; a column named `id` is carried through. Output\n"
            "columns: id (or row number), total, severity (risk for cssrs-screen), alerts,\n"
            "subscores, error.\n\n"
            "exit status: 0 scored; 2 input could not be scored (one line on stderr), or\n"
            "any CSV row was invalid (named in its error column)."
        )
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("instrument", help="instrument key: " + ", ".join(INSTRUMENT_KEYS))
        # REMAINDER so that negative numbers reach our own range check as values.
        parser.add_argument(
            "answers",
            nargs=argparse.REMAINDER,
            metavar="ANSWER",
            help="one whole number per item, in item order",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--csv", metavar="FILE", help="score every row of this CSV file")
        parser.add_argument("--output", metavar="OUT", help="with --csv: write results to OUT")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            answers = self._take_options(options)
            if answers is None:
                return
            if options["csv"]:
                status = self._score_csv(options["instrument"], options["csv"], options["output"])
            else:
                self._score_one(options["instrument"], answers, as_json=options["json"])
                status = 0
        except (
            UsageError,
            InvalidResponseError,
            UnknownInstrumentError,
            InstrumentOverrideError,
        ) as exc:
            self.stderr.write(f"error: {exc}".replace("\n", " "))
            raise SystemExit(INVALID_INPUT) from None
        if status:
            raise SystemExit(status)

    def _take_options(self, options: dict[str, Any]) -> list[str] | None:
        """Pull our options out of the answers; None when help was printed."""
        answers: list[str] = []
        args: Iterator[str] = iter(options["answers"])
        for arg in args:
            name, has_value, value = arg.partition("=")
            if arg == "--":  # conventional end of options: nothing to do
                continue
            if arg == "--json":
                options["json"] = True
            elif name in {"--csv", "--output"}:
                if not has_value:
                    value = next(args, "")
                if not value:
                    raise UsageError(f"{name} needs a file name")
                options[name[2:]] = value
            elif arg in {"-h", "--help"}:
                self.print_help("ketaclinic", "score")
                return None
            elif arg.startswith("-") and not WHOLE_NUMBER.fullmatch(arg):
                raise UsageError(f"unknown option {arg}; see `ketaclinic score --help`")
            else:
                answers.append(arg)
        if options["output"] and not options["csv"]:
            raise UsageError("--output works only with --csv FILE")
        if options["csv"] and answers:
            raise UsageError("give the answers or --csv FILE, not both")
        return answers

    def _score_one(self, key: str, answers: list[str], *, as_json: bool) -> None:
        result = score(key, [_answer(a) for a in answers])
        self.stdout.write(json.dumps(result.as_dict()) if as_json else describe(result))

    def _score_csv(self, key: str, source: str, output: str | None) -> int:
        get_instrument(key)  # an unknown instrument fails before any file is read
        try:
            text = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {source}: {exc}") from exc
        rows = [row for row in csv.reader(io.StringIO(text)) if any(c.strip() for c in row)]
        id_column = None
        if rows and any(not WHOLE_NUMBER.fullmatch(c.strip()) for c in rows[0]):
            header = [c.strip().lower() for c in rows.pop(0)]
            id_column = header.index("id") if "id" in header else None
        level = "risk" if key == "cssrs-screen" else "severity"
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["id", "total", level, "alerts", "subscores", "error"])
        invalid = 0
        for number, row in enumerate(rows, 1):
            cells = list(row)
            row_id = str(number)
            if id_column is not None and id_column < len(cells):
                row_id = cells.pop(id_column).strip()
            try:
                result = score(key, [_answer(c) for c in cells])
            except InvalidResponseError as exc:
                invalid += 1
                writer.writerow([row_id, "", "", "", "", str(exc)])
                continue
            writer.writerow(
                [
                    row_id,
                    "" if result.total is None else result.total,
                    result.risk if level == "risk" else (result.severity or ""),
                    ";".join(result.alerts),
                    ";".join(f"{k}={v}" for k, v in result.subscores.items()),
                    "",
                ]
            )
        if output:
            try:
                Path(output).write_text(buffer.getvalue(), encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"cannot write {output}: {exc}") from exc
        else:
            self.stdout.write(buffer.getvalue(), ending="")
        if invalid:
            self.stderr.write(
                f"error: {invalid} of {len(rows)} rows could not be scored (see the error column)"
            )
            return INVALID_INPUT
        return 0
