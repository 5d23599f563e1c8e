"""Patients from another system's CSV export: the column mapping, and the check that
reads every row and saves nothing (docs/imports.md). patients.services imports what the
check accepted, all at once."""

# ruff: noqa: E501 - the column table reads best one column a line

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from ketaclinic.patients.models import Patient, SexAtBirth

if TYPE_CHECKING:
    from ketaclinic.organization.models import Location

# The page reads at most this many rows; the `ketaclinic import patients` command has no limit.
PAGE_MAX_ROWS = 20_000
PROGRESS_EVERY = 500
# Set by the import, not read from the file.
IMPORT_EXCLUDES = ("mrn", "primary_location", "nkda_verified_by", "nkda_verified_at")
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")  # no two-digit years: 01/02/45 is not a birth date
SEX_WORDS = {
    "female": SexAtBirth.FEMALE,
    "f": SexAtBirth.FEMALE,
    "male": SexAtBirth.MALE,
    "m": SexAtBirth.MALE,
    "intersex": SexAtBirth.INTERSEX,
    "unknown": SexAtBirth.UNKNOWN,
    "u": SexAtBirth.UNKNOWN,
}


@dataclass(frozen=True)
class Column:
    """One column ketaclinic reads: its name in the file, other names it accepts (another
    system's export), the patient field it fills, and what it holds."""

    name: str
    field: str
    required: bool
    help: str
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("first_name", "legal_first_name", True, "Legal first name.", ("legal_first_name", "given_name")),
    Column("last_name", "legal_last_name", True, "Legal last name.", ("legal_last_name", "family_name", "surname")),
    Column("date_of_birth", "date_of_birth", True, "YYYY-MM-DD or MM/DD/YYYY.", ("dob", "birth_date", "birthdate")),
    Column("sex_at_birth", "sex_at_birth", True, "female, male, intersex or unknown (F, M and U too).", ("sex",)),
    Column("phone", "phone", True, "A 10-digit US number, in any punctuation.", ("phone_number", "mobile_phone")),
    Column("state", "state", True, "State of residence, two letters (decides telehealth licensure).", ("state_of_residence",)),
    Column("location", "primary_location", False, "The clinic location: its short or full name. Empty: the location chosen for the import.", ("primary_location", "clinic")),
    Column("preferred_name", "preferred_name", False, "The name the patient goes by."),
    Column("gender_identity", "gender_identity", False, "As the patient states it."),
    Column("pronouns", "pronouns", False, "For example she/her."),
    Column("email", "email", False, "Email address.", ("email_address",)),
    Column("address_line1", "address_line1", False, "Street address.", ("address", "street")),
    Column("address_line2", "address_line2", False, "Apartment, suite."),
    Column("city", "city", False, "City."),
    Column("postal_code", "postal_code", False, "ZIP code.", ("zip", "zip_code")),
    Column("emergency_contact_name", "emergency_contact_name", False, "Emergency contact."),
    Column("emergency_contact_relationship", "emergency_contact_relationship", False, "For example spouse."),
    Column("emergency_contact_phone", "emergency_contact_phone", False, "A 10-digit US number."),
    Column("escort_name", "escort_name", False, "Who drives the patient home after a session."),
    Column("escort_phone", "escort_phone", False, "A 10-digit US number."),
)  # fmt: skip
COLUMN_OF_FIELD = {column.field: column for column in COLUMNS}


def header_key(text: str) -> str:
    """A header cell as it is matched: `Date of Birth`, `date-of-birth` and
    `DATE_OF_BIRTH` are the same column."""
    return "_".join(text.strip().lower().replace("-", " ").replace("_", " ").split())


_BY_HEADER = {name: column for column in COLUMNS for name in (column.name, *column.aliases)}


@dataclass(frozen=True)
class Problem:
    """Why a line cannot be imported. Line 1 is the header; column "" is the whole line."""

    line: int
    column: str
    message: str


@dataclass(frozen=True)
class Duplicate:
    """A line whose patient (same name and date of birth) is already registered, or is an
    earlier line of the file: reported and not created again."""

    line: int
    name: str
    date_of_birth: date
    existing: Patient | None  # the registered patient, or None for an earlier line
    earlier_line: int | None = None


@dataclass
class ImportCheck:
    rows: int = 0  # lines with patients (blank lines are not counted)
    new: list[tuple[int, Patient]] = field(default_factory=list)  # (line, unsaved patient)
    problems: list[Problem] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def importable(self) -> bool:
        """Nothing wrong and at least one new patient: the import may go ahead."""
        return not self.problems and bool(self.new)


def decode(data: bytes) -> str:
    """The file's text; ValueError in one line when it is not UTF-8 text."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"The file is not UTF-8 text (byte {error.start + 1}): save it from the other "
            "system or the spreadsheet as \u201cCSV UTF-8\u201d."
        ) from None


def _location_finder(locations: Iterable[Location]) -> dict[str, Location]:
    found: dict[str, Location] = {}
    for location in locations:
        found.setdefault(location.short_name.strip().lower(), location)
        found.setdefault(location.name.strip().lower(), location)
    return found


def import_check(
    text: str,
    *,
    locations: Sequence[Location],
    default_location: Location | None = None,
    max_rows: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportCheck:
    """Read every line of `text` (CSV with a header line) as a patient to register at one
    of `locations` (those the importer may register at). Saves nothing: the unsaved
    patients of the lines that pass, every problem with its line, and the duplicates.
    `progress(n)` is told after every PROGRESS_EVERY patient lines and at the end."""
    check = ImportCheck()
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        check.problems.append(Problem(1, "", "The file is empty: it needs a header line."))
        return check
    except csv.Error as error:
        check.problems.append(Problem(1, "", f"The header line is not CSV ({error})."))
        return check
    columns: list[Column | None] = []
    for cell in header:
        column = _BY_HEADER.get(header_key(cell))
        if column is not None and column in columns:
            check.problems.append(
                Problem(1, cell.strip(), f"Two columns fill {column.name}: keep one.")
            )
        if column is None and cell.strip():
            check.ignored_columns.append(cell.strip())
        columns.append(column)
    for column in COLUMNS:
        if column.required and column not in columns:
            names = ", ".join((column.name, *column.aliases))
            check.problems.append(
                Problem(1, column.name, f"The file has no {column.name} column (named {names}).")
            )
    if COLUMN_OF_FIELD["primary_location"] not in columns and default_location is None:
        check.problems.append(
            Problem(1, "location", "The file has no location column: choose the location.")
        )
    if check.problems:
        return check
    finder = _location_finder(locations)
    names = ", ".join(sorted({location.short_name for location in locations}))
    keys: dict[tuple[str, str, date], int] = {}
    while True:
        line = reader.line_num + 1  # where this record starts (a quoted value may span lines)
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            check.problems.append(Problem(line, "", f"This line is not CSV ({error})."))
            break
        if not any(cell.strip() for cell in cells):
            continue
        check.rows += 1
        if progress is not None and check.rows % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
        if max_rows is not None and check.rows > max_rows:
            check.problems.append(
                Problem(
                    line,
                    "",
                    f"The page reads up to {max_rows:,} patients: split the file, or use "
                    "`ketaclinic import patients FILE` on the server.",
                )
            )
            break
        if len(cells) > len(columns):
            check.problems.append(
                Problem(
                    line,
                    "",
                    f"This line has {len(cells)} cells and the header {len(columns)}: "
                    "a comma inside a value needs the value in double quotes.",
                )
            )
            continue
        values: dict[str, str] = {}
        for column, cell in zip(columns, cells, strict=False):
            if column is not None:
                values[column.field] = cell.strip()
        patient = _patient_of(line, values, check, finder, default_location, names)
        if patient is None:
            continue
        key = (patient.first_name_key, patient.last_name_key, patient.date_of_birth)
        if key in keys:
            check.duplicates.append(
                Duplicate(line, patient.display_name, patient.date_of_birth, None, keys[key])
            )
            continue
        keys[key] = line
        check.new.append((line, patient))
    if progress is not None and check.rows % PROGRESS_EVERY:
        progress(check.rows % PROGRESS_EVERY)
    if check.rows == 0 and not check.problems:
        check.problems.append(Problem(2, "", "The file has no patients below its header line."))
    _find_registered(check)
    return check


def _patient_of(
    line: int,
    values: dict[str, str],
    check: ImportCheck,
    finder: dict[str, Location],
    default_location: Location | None,
    location_names: str,
) -> Patient | None:
    """The unsaved patient of one line, or None with its problems added to `check`."""
    where = values.pop("primary_location", "")
    location = finder.get(where.lower()) if where else default_location
    if location is None:
        message = (
            f"No location \u201c{where}\u201d among yours ({location_names})."
            if where
            else "No location: fill it in, or choose a location for the import."
        )
        check.problems.append(Problem(line, "location", message))
    sex = values.get("sex_at_birth", "")
    if sex:
        values["sex_at_birth"] = SEX_WORDS.get(sex.lower(), sex)
    if values.get("state"):
        values["state"] = values["state"].upper()
    born = values.pop("date_of_birth", "")
    patient = Patient(**values, date_of_birth=_date(born))
    patient.derive_fields()
    problems = []
    if born and patient.date_of_birth is None:
        problems.append(Problem(line, "date_of_birth", _plain("date_of_birth", "date", born)))
    try:
        # The model's rules, as registration applies them (services.patient_register); the
        # location was resolved above and the MRN is given on import.
        patient.full_clean(exclude=IMPORT_EXCLUDES, validate_unique=False)
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            if name == "date_of_birth" and problems:
                continue
            column = COLUMN_OF_FIELD[name].name if name in COLUMN_OF_FIELD else ""
            given = values.get(name, "") if name != "date_of_birth" else born
            for message in messages:
                problems.append(Problem(line, column, _plain(column, message, given)))
    if problems or location is None:
        check.problems.extend(problems)
        return None
    patient.primary_location = location
    return patient


def _date(text: str) -> date | None:
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None


def _plain(column: str, message: str, given: str) -> str:
    """The model's messages, with what the line held when it helps."""
    if not given and message in ("This field cannot be blank.", "This field cannot be null."):
        return "Empty: it is required."
    if column == "sex_at_birth" and given and "is not a valid choice" in message:
        return f"\u201c{given}\u201d is not female, male, intersex or unknown."
    if column == "date_of_birth" and message == "date":
        return f"\u201c{given}\u201d is not a date as YYYY-MM-DD or MM/DD/YYYY."
    if column == "state" and given and "is not a valid choice" in message:
        return f"\u201c{given}\u201d is not a US state's two letters."
    return message


def _find_registered(check: ImportCheck, chunk: int = 500) -> None:
    """Move the lines whose patient is registered already (same name keys and birth date)
    from `new` to `duplicates`. One query per `chunk` birth dates."""
    if not check.new:
        return
    births = sorted({patient.date_of_birth for _, patient in check.new})
    registered: dict[tuple[str, str, date], Patient] = {}
    for at in range(0, len(births), chunk):
        for existing in Patient.objects.filter(date_of_birth__in=births[at : at + chunk]).only(
            "mrn", "legal_first_name", "legal_last_name", "preferred_name", "first_name_key",
            "last_name_key", "date_of_birth", "primary_location_id",
        ):  # fmt: skip
            key = (existing.first_name_key, existing.last_name_key, existing.date_of_birth)
            registered.setdefault(key, existing)
    kept = []
    for line, patient in check.new:
        existing = registered.get(
            (patient.first_name_key, patient.last_name_key, patient.date_of_birth)
        )
        if existing is None:
            kept.append((line, patient))
        else:
            check.duplicates.append(
                Duplicate(line, patient.display_name, patient.date_of_birth, existing)
            )
    check.new = kept
    check.duplicates.sort(key=lambda d: d.line)
