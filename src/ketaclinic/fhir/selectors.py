"""Reads of the FHIR API: one resource, a search page, a patient's everything.

Every read goes through `types.Source.scoped`, which applies the pages' patient scope
(locations, the patient's own record) and the reader's capability. Query counts do not grow
with the rows: one query per source, plus one count for a one-table search.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q, QuerySet
from django.utils import timezone

from ketaclinic.accounts.models import User
from ketaclinic.clinical.search import name_key
from ketaclinic.fhir.mapping import Resource
from ketaclinic.fhir.types import TYPES, ResourceType, Source, questionnaires, source_for_id

DEFAULT_COUNT = 50
MAX_COUNT = 500
IGNORED_PARAMS = frozenset({"_format", "_pretty"})
GENDER_TO_SEX = {"female": "female", "male": "male", "other": "intersex", "unknown": "unknown"}


class SearchError(ValueError):
    """A search the API cannot run: the message is the OperationOutcome's diagnostics."""


@dataclass(frozen=True)
class SearchPage:
    resources: list[Resource]
    total: int
    offset: int
    count: int


def patient_of(resource: Resource) -> int | None:
    """The patient a resource is about, from its reference (None for clinic resources)."""
    if resource["resourceType"] == "Patient":
        return int(resource["id"])
    for key in ("subject", "patient"):
        reference = resource.get(key, {}).get("reference", "")
        if reference.startswith("Patient/"):
            return int(reference.removeprefix("Patient/"))
    if resource["resourceType"] == "Appointment":
        return int(resource["participant"][0]["actor"]["reference"].removeprefix("Patient/"))
    return None


def read(user: User, type_name: str, resource_id: str) -> Resource | None:
    """One resource, or None when it does not exist or the user may not see it."""
    kind = TYPES[type_name]
    if type_name == "Questionnaire":
        return next((q for q in questionnaires() if q["id"] == resource_id), None)
    found = source_for_id(kind, resource_id)
    if found is None:
        return None
    source, pk = found
    row = source.scoped(user).filter(pk=pk).first()
    if row is None:
        return None
    return next((r for r in source.build(row) if r["id"] == resource_id), None)


# Parameters ----------------------------------------------------------------------------------

_PREFIX = re.compile(r"^(eq|ne|ge|gt|le|lt|sa|eb|ap)?(.+)$")


def _interval(value: str) -> tuple[datetime, datetime]:
    """A FHIR date or dateTime as the half-open interval it names, in the clinic's zone."""
    zone = timezone.get_current_timezone()
    try:
        if re.fullmatch(r"\d{4}", value):
            start = date(int(value), 1, 1)
            end = date(int(value) + 1, 1, 1)
        elif re.fullmatch(r"\d{4}-\d{2}", value):
            year, month = (int(p) for p in value.split("-"))
            start = date(year, month, 1)
            end = date(year + month // 12, month % 12 + 1, 1)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            start = date.fromisoformat(value)
            end = start + timedelta(days=1)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, zone)
            return moment, moment + timedelta(seconds=1)
    except ValueError as error:
        raise SearchError(f"{value!r} is not a FHIR date or dateTime.") from error
    return (
        timezone.make_aware(datetime.combine(start, time()), zone),
        timezone.make_aware(datetime.combine(end, time()), zone),
    )


def _date_condition(field: str, raw: str, *, is_date: bool) -> Q:
    match = _PREFIX.match(raw)
    assert match  # the pattern matches any non-empty text
    prefix, value = match.group(1) or "eq", match.group(2)
    start, end = _interval(value)
    low: Any = start
    high: Any = end
    if is_date:  # a date column: compare whole local days
        low, high = timezone.localtime(start).date(), timezone.localtime(end).date()
    conditions = {
        "eq": Q(**{f"{field}__gte": low, f"{field}__lt": high}),
        "ge": Q(**{f"{field}__gte": low}),
        "gt": Q(**{f"{field}__gte": high}),
        "le": Q(**{f"{field}__lt": high}),
        "lt": Q(**{f"{field}__lt": low}),
        "ne": ~Q(**{f"{field}__gte": low, f"{field}__lt": high}),
    }
    if prefix not in conditions:
        raise SearchError(
            f"The date prefix {prefix!r} is not supported (use eq, ne, ge, gt, le, lt)."
        )
    return conditions[prefix]


def _is_date_field(source: Source, field: str) -> bool:
    """A date column (compared by whole days), not a moment."""
    return source.queryset().model._meta.get_field(field).get_internal_type() == "DateField"


def _tokens(raw: str) -> set[str]:
    """`system|code,code` as the set of codes (the system is not needed to tell ours apart)."""
    return {part.split("|")[-1] for part in raw.split(",") if part.split("|")[-1]}


def _ids(raw: str, prefix: str = "") -> list[int]:
    out = []
    for part in raw.split(","):
        text = part.strip().removeprefix(prefix) if prefix else part.strip()
        if not re.fullmatch(r"\d{1,18}", text):
            raise SearchError(f"{part!r} is not a {prefix.rstrip('/') or 'resource'} id.")
        out.append(int(text))
    return out


@dataclass
class _Query:
    count: int
    offset: int
    codes: set[str] | None
    categories: set[str] | None
    filters: dict[str, list[tuple[str, str]]]


def _parse(kind: ResourceType, params: dict[str, list[str]]) -> _Query:
    count, offset = DEFAULT_COUNT, 0
    codes: set[str] | None = None
    categories: set[str] | None = None
    filters: dict[str, list[tuple[str, str]]] = {}
    for name, values in params.items():
        base = name.split(":")[0]
        if base in IGNORED_PARAMS:
            continue
        if base not in kind.search_params:
            supported = ", ".join(sorted(kind.search_params))
            raise SearchError(
                f"{kind.name} cannot be searched by {name!r}. Supported: {supported}."
            )
        for value in values:
            if value == "":
                raise SearchError(f"The search parameter {name!r} has no value.")
            if base in {"_count", "_offset"}:
                if not value.isdigit():
                    raise SearchError(f"{name} must be a whole number, not {value!r}.")
                number = int(value)
                if base == "_count":
                    count = max(1, min(number, MAX_COUNT))
                else:
                    offset = number
            elif base == "code":
                # Repeated parameters must all hold (FHIR: AND); commas within one: OR.
                codes = _tokens(value) if codes is None else codes & _tokens(value)
            elif base == "category":
                found = _tokens(value)
                categories = found if categories is None else categories & found
            else:
                filters.setdefault(base, []).append((name, value))
    return _Query(count, offset, codes, categories, filters)


def _source_filter(source: Source, query: _Query) -> Q | None:
    """The source's rows the query asks for, or None when the source can match nothing."""
    if query.categories is not None and not (query.categories & source.categories):
        return None
    condition = Q()
    if query.codes is not None:
        if source.code_filter is None:
            return None
        if source.codes and not (query.codes & source.codes):
            return None
        condition &= source.code_filter(query.codes)
    for base, entries in query.filters.items():
        for name, value in entries:
            condition &= _param_condition(source, base, name, value)
    return condition


def _param_condition(source: Source, base: str, name: str, value: str) -> Q:
    if base == "_id":
        pks = [source.pk_of(part) for part in value.split(",")]
        return Q(pk__in=[pk for pk in pks if pk is not None])
    if base in {"patient", "subject"}:
        if source.patient_path is None:
            return Q(pk__in=[])
        return Q(**{f"{source.patient_lookup()}__in": _ids(value, "Patient/")})
    if base in {"date", "authored"}:
        if source.date_field is None:
            raise SearchError(f"{source.resource_type} has no date to search by.")
        field = source.date_field
        return _date_condition(field, value, is_date=_is_date_field(source, field))
    if base == "_lastUpdated":
        if source.updated_field is None:
            raise SearchError(f"{source.resource_type} keeps no last-updated time to search by.")
        return _date_condition(source.updated_field, value, is_date=False)
    if base == "birthdate":
        return _date_condition("date_of_birth", value, is_date=True)
    if base == "identifier":
        return Q(mrn__in=[part.split("|")[-1] for part in value.split(",")])
    if base == "gender":
        sexes = [GENDER_TO_SEX.get(part) for part in value.split(",")]
        return Q(sex_at_birth__in=[s for s in sexes if s])
    if base in {"name", "family", "given"}:
        return _name_condition(source, base, name, value)
    raise SearchError(f"{name!r} is not supported.")  # pragma: no cover: _parse refuses it


def _name_condition(source: Source, base: str, name: str, value: str) -> Q:
    exact = name.endswith(":exact")
    key = name_key(value)
    lookup = "" if exact else "__startswith"
    model = source.resource_type
    if model == "Patient":
        fields = {
            "family": ["last_name_key"],
            "given": ["first_name_key", "preferred_name_key"],
            "name": ["last_name_key", "first_name_key", "preferred_name_key"],
        }[base]
        condition = Q(pk__in=[])
        for field in fields:
            condition |= Q(**{f"{field}{lookup}": key})
        return condition
    if model == "Practitioner":
        return Q(last_name__istartswith=value) | Q(first_name__istartswith=value)
    return Q(name__icontains=value)


def _matches(resource: Resource, query: _Query) -> bool:
    """For sources whose row holds several resources: keep those the codes ask for."""
    if query.codes is None:
        return True
    coding = resource.get("code", {}).get("coding", [])
    return any(c.get("code") in query.codes for c in coding)


def search(user: User, type_name: str, params: dict[str, list[str]]) -> SearchPage:
    """A page of a search. Raises SearchError for parameters it cannot run."""
    kind = TYPES[type_name]
    query = _parse(kind, params)
    if type_name == "Questionnaire":
        found = questionnaires()
        if "_id" in query.filters:
            wanted = {p for _n, v in query.filters["_id"] for p in v.split(",")}
            found = [q for q in found if q["id"] in wanted]
        page = found[query.offset : query.offset + query.count]
        return SearchPage(page, len(found), query.offset, query.count)
    sources = [(s, _source_filter(s, query)) for s in kind.sources]
    sources = [(s, condition) for s, condition in sources if condition is not None]
    if kind.pages_in_sql:
        if not sources:
            return SearchPage([], 0, query.offset, query.count)
        source, condition = sources[0]
        rows: QuerySet[Any] = source.scoped(user).filter(condition)
        total = rows.count()
        page_rows = list(rows[query.offset : query.offset + query.count])
        resources = [r for row in page_rows for r in source.build(row)]
        return SearchPage(resources, total, query.offset, query.count)
    # Several tables, or rows holding several resources: searched within patients, as US
    # Core asks (`patient=`), so that the whole match is small enough to page in memory.
    if not ({"patient", "subject", "_id"} & set(query.filters)):
        raise SearchError(
            f"Searching {type_name} needs a patient (patient=Patient/ID) or an _id, as US "
            "Core asks; use $export for every patient's."
        )
    found: list[Resource] = []
    for source, condition in sources:
        for row in source.scoped(user).filter(condition):
            found.extend(r for r in source.build(row) if _matches(r, query))
    if "_id" in query.filters:
        wanted = {p for _n, v in query.filters["_id"] for p in v.split(",")}
        found = [r for r in found if r["id"] in wanted]
    page = found[query.offset : query.offset + query.count]
    return SearchPage(page, len(found), query.offset, query.count)


def everything(user: User, patient_id: int) -> list[Resource] | None:
    """Patient $everything: the patient and every resource of their record the user may
    read, then the clinic resources they refer to; None when the patient is not visible."""
    patient = read(user, "Patient", str(patient_id))
    if patient is None:
        return None
    out = [patient]
    used_instruments: set[str] = set()
    for kind in TYPES.values():
        if kind.name == "Patient" or not kind.in_patient_compartment:
            continue
        for source in kind.sources:
            if source.patient_path is None:
                continue
            rows = source.scoped(user).filter(**{source.patient_lookup(): patient_id})
            for row in rows:
                out.extend(source.build(row))
                if kind.name == "QuestionnaireResponse":
                    used_instruments.add(row.instrument_key)
    out.extend(q for q in questionnaires() if q["id"] in used_instruments)
    return out


def search_links(
    base_url: str, params: dict[str, list[str]], page: SearchPage
) -> list[dict[str, str]]:
    """self, first, previous and next links of a searchset, as FHIR paging asks."""

    def url(offset: int) -> str:
        query = [
            (k, v) for k, values in params.items() if k not in {"_offset", "_count"} for v in values
        ]
        query += [("_count", str(page.count)), ("_offset", str(offset))]
        return f"{base_url}?{urlencode(query)}"

    links = [{"relation": "self", "url": url(page.offset)}, {"relation": "first", "url": url(0)}]
    if page.offset > 0:
        links.append({"relation": "previous", "url": url(max(0, page.offset - page.count))})
    if page.offset + page.count < page.total:
        links.append({"relation": "next", "url": url(page.offset + page.count)})
    return links
