"""The SQL of ``apply_event``'s hot path, written by hand.

A profile of ``apply_event`` showed the ORM building and compiling its ten queries costing
about 3 ms of CPU per event, several times what PostgreSQL spends executing them (see the
notes in ``bench/results.md``). The statements here are the same ones the ORM would send,
written once: parameterised, portable between SQLite and PostgreSQL through Django's own
cursor and value adapters, and prepared by psycopg after a few executions (server-side
binding, see settings). Everything that is not on the per-event path stays in the ORM.
"""

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from axes.models import CharacterAxisScore
from ledger.models import Event, EventType
from worlds.models import Character, World


def _for_update() -> str:
    # NO KEY UPDATE: scores and snapshots change, keys never do, so inserts that
    # reference these rows through foreign keys (new deltas) are not blocked.
    if connection.features.has_select_for_no_key_update:
        return " FOR NO KEY UPDATE"
    if connection.features.has_select_for_update:
        return " FOR UPDATE"
    return ""  # SQLite: the IMMEDIATE transaction already holds the write lock.


def _parameter_limit() -> int:
    if connection.vendor == "sqlite":
        # Django assumes SQLite's old default of 999; ask the library for the real one.
        connection.ensure_connection()
        return connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return connection.features.max_query_params or 65_535


def _chunks(items: Sequence, columns: int = 1) -> Iterable[Sequence]:
    """Split ``items`` so no statement exceeds the backend's parameter limit."""
    limit = _parameter_limit()
    size = max(1, (limit - 1) // columns)
    for start in range(0, len(items), size):
        yield items[start : start + size]


# From this many rows PostgreSQL gets one array parameter per column instead of a
# placeholder per value: for a single event the plain statements are faster (measured in
# bench/results.md), for a world tick of thousands of rows the arrays are.
ARRAYS_FROM = 20


def _use_arrays(count: int) -> bool:
    return connection.vendor == "postgresql" and count >= ARRAYS_FROM


def _id_lists(ids: Sequence[int]) -> Iterable[tuple[list, str]]:
    """Yield ``(params, condition)`` pairs matching ``ids`` in as few statements as possible.

    Long lists go to PostgreSQL as one array parameter (``= ANY(%s)``), so the statement
    text does not depend on their length; otherwise an ``IN`` list per chunk.
    """
    if _use_arrays(len(ids)):
        yield [list(ids)], "= ANY(%s::bigint[])"
        return
    for chunk in _chunks(ids):
        yield list(chunk), f"IN ({_marks(len(chunk))})"


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


def fetch_world(world_id: str) -> World | None:
    """Return the world row (without touching the ORM's query machinery)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT world_id, policy_hash, policy_version, synced_at "
            f"FROM {World._meta.db_table} WHERE world_id = %s",
            [world_id],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    synced_at = row[3]
    if isinstance(synced_at, str):
        synced_at = parse_datetime(synced_at)
    if synced_at is not None and timezone.is_naive(synced_at):
        # SQLite keeps naive UTC; the registry cache key must equal the ORM's aware value.
        synced_at = timezone.make_aware(synced_at, UTC)
    return World(world_id=row[0], policy_hash=row[1], policy_version=row[2], synced_at=synced_at)


def lock_characters(character_ids: Sequence[int]) -> list[tuple[int, str, int]]:
    """Lock characters in id order; return ``(id, world_id, state_seed)`` rows."""
    rows = []
    with connection.cursor() as cursor:
        for chunk, condition in _id_lists(sorted(character_ids)):
            cursor.execute(
                f"SELECT id, world_id, state_seed FROM {Character._meta.db_table} "
                f"WHERE id {condition} ORDER BY id{_for_update()}",
                chunk,
            )
            rows += cursor.fetchall()
    return rows


def lock_scores(world_id: str, character_ids: Sequence[int]) -> list[tuple[int, int, int, float]]:
    """Lock the characters' score rows in id order; return ``(id, character, axis, score)``."""
    rows = []
    with connection.cursor() as cursor:
        for chunk, condition in _id_lists(sorted(character_ids)):
            cursor.execute(
                "SELECT id, character_id, axis_id, axis_score "
                f"FROM {CharacterAxisScore._meta.db_table} "
                f"WHERE world_id = %s AND character_id {condition} ORDER BY id{_for_update()}",
                [world_id, *chunk],
            )
            rows += cursor.fetchall()
    return rows


def find_events_by_key(world_id: str, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Return ``{key: (event id, request_hash)}`` for the world's events with these keys."""
    found = {}
    with connection.cursor() as cursor:
        for chunk in _chunks(sorted(set(keys))):
            cursor.execute(
                f"SELECT idempotency_key, id, request_hash FROM {Event._meta.db_table} "
                f"WHERE world_id = %s AND idempotency_key IN ({_marks(len(chunk))})",
                [world_id, *chunk],
            )
            found.update({key: (event_id, digest) for key, event_id, digest in cursor.fetchall()})
    return found


def find_reversals(event_ids: Sequence[int]) -> dict[int, int]:
    """Return ``{event id: id of the reversal that undid it}`` for those that have one."""
    found = {}
    with connection.cursor() as cursor:
        for chunk in _chunks(sorted(set(event_ids))):
            cursor.execute(
                f"SELECT reverses_id, id FROM {Event._meta.db_table} "
                f"WHERE reverses_id IN ({_marks(len(chunk))})",
                list(chunk),
            )
            found.update(dict(cursor.fetchall()))
    return found


def find_event_types(world_id: str, names: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Return ``{name: (id, description)}`` of the world's event types with these names."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT name, id, description FROM {EventType._meta.db_table} "
            f"WHERE world_id = %s AND name IN ({_marks(len(names))})",
            [world_id, *names],
        )
        return {name: (type_id, description) for name, type_id, description in cursor.fetchall()}


def insert_events(columns: Sequence[str], rows: Sequence[tuple]) -> list[int]:
    """Insert event rows of ``columns``.

    Returns the new ids in the order of ``rows``: ids are assigned in row order on both
    engines, so sorting the returned ids lines them up whatever order RETURNING
    reports them in.
    """
    ids: list[int] = []
    with connection.cursor() as cursor:
        for sql, params in _insert_statements(Event, columns, rows, returning=True):
            cursor.execute(sql, params)
            ids += sorted(row[0] for row in cursor.fetchall())
    return ids


def insert_rows(model, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert many rows of ``model`` in as few statements as the backend allows."""
    with connection.cursor() as cursor:
        for sql, params in _insert_statements(model, columns, rows):
            cursor.execute(sql, params)


def _insert_statements(model, columns, rows, *, returning=False):
    """Yield ``(sql, params)`` inserting ``rows``; values already in Python types.

    Many rows go to PostgreSQL as one array parameter per column (``INSERT ... SELECT
    FROM unnest``): a few parameters whatever the number of rows, so psycopg does not
    rewrite thousands of placeholders. Otherwise multi-row VALUES.
    """
    meta = model._meta
    fields = [meta.get_field(column) for column in columns]
    prepared = [
        tuple(
            connection.ops.adapt_datetimefield_value(value)
            if field.get_internal_type() == "DateTimeField"
            else value
            for field, value in zip(fields, row, strict=True)
        )
        for row in rows
    ]
    suffix = " RETURNING id" if returning else ""
    names = ", ".join(field.column for field in fields)
    if _use_arrays(len(prepared)):
        arrays = ", ".join(f"%s::{field.cast_db_type(connection)}[]" for field in fields)
        yield (
            f"INSERT INTO {meta.db_table} ({names}) SELECT * FROM unnest({arrays}){suffix}",
            [list(column) for column in zip(*prepared, strict=True)],
        )
        return
    for chunk in _chunks(prepared, len(fields)):
        values = ", ".join([f"({_marks(len(fields))})"] * len(chunk))
        yield (
            f"INSERT INTO {meta.db_table} ({names}) VALUES {values}{suffix}",
            [value for row in chunk for value in row],
        )


def update_rows(model, fields: list[str], rows: list[tuple]) -> None:
    """Update many rows by id: ``rows`` are ``(*values, pk)`` tuples.

    ``QuerySet.bulk_update`` spent 40% of ``apply_event`` building its CASE expression.
    An ``executemany`` of one statement is one in-process call on SQLite and one
    pipelined round trip on psycopg; for many rows on PostgreSQL, one
    ``UPDATE ... FROM unnest(...)`` with an array per column updates them all at once.
    """
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    prepared = [
        tuple(
            field.get_db_prep_save(value, connection)
            for field, value in zip(model_fields, row[:-1], strict=True)
        )
        + (row[-1],)
        for row in rows
    ]
    with connection.cursor() as cursor:
        if not _use_arrays(len(prepared)):
            assignments = ", ".join(f"{field.column} = %s" for field in model_fields)
            cursor.executemany(f"UPDATE {meta.db_table} SET {assignments} WHERE id = %s", prepared)
            return
        arrays = ", ".join(
            [*(f"%s::{field.cast_db_type(connection)}[]" for field in model_fields), "%s::bigint[]"]
        )
        names = ", ".join([*(field.column for field in model_fields), "id"])
        assignments = ", ".join(f"{field.column} = v.{field.column}" for field in model_fields)
        cursor.execute(
            f"UPDATE {meta.db_table} AS t SET {assignments} "
            f"FROM unnest({arrays}) AS v({names}) WHERE t.id = v.id",
            [list(column) for column in zip(*prepared, strict=True)],
        )
