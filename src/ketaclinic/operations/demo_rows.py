"""Writing the demo's largest tables fast: rows as plain tuples, not model instances.

A network-scale demo (ketaclinic demo --sessions 1000000) writes about ten million
vital-sign readings and millions of register entries. Building a model instance for each
and letting the ORM prepare every value costs about ten times the database's own work, so
these tables are written from tuples, each value converted as Django would store it:
`executemany` on SQLite, `COPY` on PostgreSQL. The database's triggers and constraints
apply as to any other write. Only the demo writes this way; the clinic's own writes go
through the services.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models
from django.db.models.fields.json import JSONField

BATCH = 5000


class Statistics:
    """Refreshes the planner's statistics while tables grow from nothing to millions of
    rows in one run: PostgreSQL plans its foreign-key checks with the statistics of the
    moment, and with those of an empty table each check reads the whole referenced table
    (the first 5,000 sessions' vital signs took 20 s instead of 0.9 s). Call `grew()` after
    each batch; ANALYZE runs after the 1st, 2nd, 4th, 8th... batch."""

    def __init__(self) -> None:
        self.batches = 0

    def grew(self) -> None:
        self.batches += 1
        # SQLite checks foreign keys through their indexes whatever its statistics, and its
        # ANALYZE reads whole tables: the demo's last ANALYZE is enough there.
        if connection.vendor == "postgresql" and self.batches & (self.batches - 1) == 0:
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")


def _sqlite_datetime(value: datetime | None) -> str | None:
    """As Django stores an aware datetime in SQLite: naive UTC, str() format."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")


def _converter(field: models.Field) -> Callable[[Any], Any] | None:
    """How a value of `field` goes to the database, as the ORM would send it (None: as
    it is)."""
    postgres = connection.vendor == "postgresql"
    if isinstance(field, JSONField):
        return lambda value: json.dumps(value, default=str)
    if isinstance(field, models.DateTimeField):
        return None if postgres else _sqlite_datetime
    if isinstance(field, models.DateField) and not postgres:
        return lambda value: None if value is None else value.isoformat()
    if isinstance(field, models.DecimalField) and not postgres:
        return lambda value: None if value is None else str(value)
    return None


def _convert(columns: list[models.Field]) -> Callable[[Sequence[Any]], list[Any]]:
    """A function from a row of Python values to the values sent to the database."""
    converters = [(i, c) for i, c in enumerate(map(_converter, columns)) if c is not None]
    width = len(columns)

    def convert(row: Sequence[Any]) -> list[Any]:
        if len(row) != width:
            raise ValueError(f"A row of {len(row)} values for {width} columns.")
        values = list(row)
        for index, converter in converters:
            values[index] = converter(values[index])
        return values

    return convert


def _columns(model: type[models.Model], fields: Sequence[str]) -> list[models.Field]:
    """The fields named (by name or attname, e.g. "session" or "session_id")."""
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    return [by_attname.get(name) or model._meta.get_field(name) for name in fields]


def rows_insert(model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple]) -> int:
    """Insert `rows` (values in the order of `fields`) into the model's table; returns how
    many. Values are Python values (aware datetimes, dates, Decimals, lists and dicts for
    JSON fields); every column without a database default must be given (the model's
    defaults are not applied)."""
    columns = _columns(model, fields)
    convert = _convert(columns)
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(convert(row))
                    count += 1
            return count
        marks = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 - model names
        batch: list[list[Any]] = []
        for row in rows:
            batch.append(convert(row))
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def rows_update(model: type[models.Model], fields: Sequence[str], rows: Iterable[tuple]) -> None:
    """Set `fields` of rows by primary key: each row is (pk, *values in `fields` order)."""
    columns = _columns(model, fields)
    convert = _convert(columns)
    table = connection.ops.quote_name(model._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in columns)
    pk = connection.ops.quote_name(model._meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {pk} = %s"  # noqa: S608 - model names
    values = [[*convert(row[1:]), row[0]] for row in rows]
    if values:
        with connection.cursor() as cursor:
            cursor.executemany(sql, values)


def instance_row(instance: models.Model, fields: Sequence[str]) -> tuple:
    """The values of `fields` (attnames) of an unsaved instance, for rows_insert."""
    return tuple(getattr(instance, name) for name in fields)


def _value(instance: models.Model, field: models.Field) -> Any:
    """What the ORM would save for `field`: auto_now times filled in, and the key of a
    related object assigned before it was saved."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return field.pre_save(instance, add=True)
    value = getattr(instance, field.attname)
    if value is None and field.is_relation and field.is_cached(instance):
        related = field.get_cached_value(instance)
        value = None if related is None else related.pk
    return value


def instances_insert(model: type[models.Model], instances: Sequence[models.Model]) -> None:
    """Insert unsaved instances as rows, giving them the primary keys that follow the
    table's largest (so that rows naming them can be written next), and move PostgreSQL's
    key sequence past them. Only for the demo, which is the database's one writer while it
    seeds."""
    if not instances:
        return
    largest = model._default_manager.aggregate(largest=models.Max("pk"))["largest"] or 0
    for offset, instance in enumerate(instances, 1):
        instance.pk = largest + offset
        instance._state.adding = False
        instance._state.db = connection.alias
    fields = list(model._meta.concrete_fields)
    rows_insert(
        model,
        [f.attname for f in fields],
        (tuple(_value(instance, f) for f in fields) for instance in instances),
    )
    statements = connection.ops.sequence_reset_sql(no_style(), [model])
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
