"""Normalising names and parsing search input, so search works the way staff type."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime


def name_key(name: str) -> str:
    """Lower-case, accents removed, spaces folded: 'José  Núñez' -> 'jose nunez'."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")


def parse_birth_date(text: str) -> date | None:
    """A date typed as 1980-04-02, 04/02/1980, 04-02-1980 or 4/2/80; None otherwise."""
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class PatientQuery:
    """What a search box entry means: an MRN, a birth date, or name words."""

    mrn: str | None = None
    birth_date: date | None = None
    name_words: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.mrn or self.birth_date or self.name_words)


_MRN_LIKE = re.compile(r"^(KC-?)?\d[\d-]*$", re.IGNORECASE)


def parse_patient_query(text: str) -> PatientQuery:
    text = text.strip()
    if not text:
        return PatientQuery()
    birth_date = parse_birth_date(text)
    if birth_date:
        return PatientQuery(birth_date=birth_date)
    if _MRN_LIKE.match(text):
        digits = re.sub(r"\D", "", text)
        return PatientQuery(mrn=digits)
    words = tuple(w.strip(",") for w in name_key(text).split() if w.strip(","))
    return PatientQuery(name_words=words)
