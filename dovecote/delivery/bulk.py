"""Bulk writes for the delivery hot path: one ``executemany`` per statement.

The ORM's ``bulk_update`` and ``bulk_create`` compile one big statement per
batch (a ``CASE`` per varying field, a ``VALUES`` tuple per row), and that
compilation, not the database, was most of the worker's CPU per message.
Here each statement is written once and its rows are passed as parameters:
SQLite runs the loop in C and psycopg 3 pipelines it, so a batch of outcomes
costs one round of Python per row and field, not a compiled expression tree.

The rows of one call are written in one transaction (the caller's, if one
is open). Values go through each field's ``get_db_prep_save`` (and ``pre_save`` on
insert), so they are stored exactly as the ORM would store them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Field, Model
from django.db.models.fields import AutoFieldMixin

from dovecote.models import DeliveryEvent

#: The columns of a DeliveryEvent written by :func:`insert_events`.
EVENT_FIELDS = ["delivery", "status", "source", "detail", "created_at"]


def _fields(model: type[Model], names: Iterable[str]) -> list[Field[Any, Any]]:
    fields: list[Field[Any, Any]] = []
    for name in names:
        field = model._meta.get_field(name)
        assert isinstance(field, Field)
        fields.append(field)
    return fields


class _Prepared:
    """``field.get_db_prep_save`` with each distinct value prepared once.

    The rows of a batch share most values (one status, one timestamp, empty
    errors), and preparing a datetime is the costly part.
    """

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.memo: dict[tuple[str, type, Any], Any] = {}

    def __call__(self, field: Field[Any, Any], value: Any) -> Any:
        key = (field.attname, type(value), value)
        try:
            return self.memo[key]
        except KeyError:
            prepared = self.memo[key] = field.get_db_prep_save(value, self.connection)
            return prepared
        except TypeError:  # unhashable (a JSON value): prepare each time
            return field.get_db_prep_save(value, self.connection)


def insert_many(
    model: type[Model], objs: Sequence[Model], names: Sequence[str]
) -> None:
    """Insert ``objs`` (fields ``names``) with one statement; no pks come back."""
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    fields = _fields(model, names)
    columns = ", ".join(quote(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"
    prep = _Prepared(connection)
    rows = [[prep(f, f.pre_save(obj, True)) for f in fields] for obj in objs]
    # One transaction: in autocommit mode each row would be its own.
    with (
        transaction.atomic(using=connection.alias, savepoint=False),
        connection.cursor() as cursor,
    ):
        cursor.executemany(sql, rows)


def update_many(
    model: type[Model],
    objs: Sequence[Model],
    names: Sequence[str],
    where: Sequence[str],
    **constant: Any,
) -> None:
    """Write fields ``names`` of each of ``objs`` with one statement.

    Each row is matched on the fields ``where`` (their values on the object,
    e.g. its pk and claim token) and on the ``constant`` field values, so a
    row that changed hands since it was read is left alone.
    """
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    fields = _fields(model, names)
    keys = _fields(model, where)
    fixed = _fields(model, constant)
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    condition = " AND ".join(f"{quote(f.column)} = %s" for f in (*keys, *fixed))
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {condition}"
    prep = _Prepared(connection)
    tail = [prep(f, constant[f.name]) for f in fixed]
    columns = [*fields, *keys]
    rows = [[prep(f, getattr(obj, f.attname)) for f in columns] + tail for obj in objs]
    # One transaction: in autocommit mode each row would be its own.
    with (
        transaction.atomic(using=connection.alias, savepoint=False),
        connection.cursor() as cursor,
    ):
        cursor.executemany(sql, rows)


def insert_events(events: Sequence[DeliveryEvent]) -> None:
    """Insert delivery events (their pks are not set)."""
    insert_many(DeliveryEvent, events, EVENT_FIELDS)


def create_many(model: type[Model], objs: Sequence[Model]) -> None:
    """Insert new ``objs`` and set their pks, as ``bulk_create`` does.

    For a model with an automatic pk on a database that returns the rows of
    a multi-row insert (SQLite, PostgreSQL): the same batches and statements
    as ``bulk_create``, with the values prepared as above (each distinct one
    once) instead of through the insert compiler. Elsewhere, ``bulk_create``.
    """
    if not objs:
        return
    connection = connections[router.db_for_write(model)]
    opts = model._meta
    pk = opts.pk
    auto_pk = isinstance(pk, AutoFieldMixin)  # AutoField, BigAutoField, ...
    if not (auto_pk and connection.features.can_return_rows_from_bulk_insert):
        model._default_manager.bulk_create(objs)
        return
    fields = [f for f in opts.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    head = (
        f"INSERT INTO {quote(opts.db_table)} "
        f"({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = f" RETURNING {quote(pk.column)}"
    size = max(1, connection.ops.bulk_batch_size(fields, objs))
    prep = _Prepared(connection)
    with (
        transaction.atomic(using=connection.alias, savepoint=False),
        connection.cursor() as cursor,
    ):
        for start in range(0, len(objs), size):
            batch = objs[start : start + size]
            params = [prep(f, f.pre_save(obj, True)) for obj in batch for f in fields]
            cursor.execute(head + ", ".join([row] * len(batch)) + tail, params)
            for obj, (value,) in zip(batch, cursor.fetchall(), strict=True):
                setattr(obj, pk.attname, value)
                obj._state.adding = False
                obj._state.db = connection.alias
