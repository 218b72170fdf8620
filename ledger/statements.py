"""The SQL of ``apply_event``'s hot path, written by hand.

A profile of ``apply_event`` showed the ORM building and compiling its ten queries costing
about 3 ms of CPU per event, several times what PostgreSQL spends executing them (see the
notes in ``bench/results.md``). The statements here are written by hand, fewer than the
ORM would send (one reads the world and locks the characters with their scores; on
PostgreSQL one more writes an event with all its rows): parameterised, portable between
SQLite and PostgreSQL through Django's own cursor and value adapters, their texts built
once per shape so that psycopg can prepare each by name after a few executions
(``PIPEWORKS_PG_PREPARE_THRESHOLD``; off behind PgBouncer's transaction pooling, see
settings), and sent with server-side binding. Everything that is not on the per-event
path stays in the ORM.
"""

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC
from functools import cache, lru_cache, partial

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from axes.models import CharacterAxisScore
from ledger.models import Event, EventType
from worlds.models import Character, World

_shared = threading.local()


@contextmanager
def one_cursor():
    """Run the block's statements on one cursor of the default connection.

    Opening a cursor goes through Django's wrappers (thread and health checks, the
    choice of the debug wrapper) each time: an event's statements share one, 4% of an
    ``apply_event`` on SQLite. Per thread, as the connection is; a nested block reuses
    the outer cursor.
    """
    if getattr(_shared, "cursor", None) is not None:
        yield
        return
    with connection.cursor() as cursor:
        _shared.cursor = cursor
        try:
            yield
        finally:
            _shared.cursor = None


def _cursor():
    cursor = getattr(_shared, "cursor", None)
    return nullcontext(cursor) if cursor is not None else connection.cursor()


@cache
def on_postgresql() -> bool:
    """Whether the database is PostgreSQL: fixed for the process, so asked once (each
    ``connection.vendor`` is a lookup in Django's per-thread connection registry)."""
    return connection.vendor == "postgresql"


@cache
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


# Every backend takes this many parameters in one statement (SQLite's oldest default);
# below it the limit is not looked up, which a single event's statements never reach.
SAFE_PARAMETERS = 999


def _chunks(items: Sequence, columns: int = 1) -> Iterable[Sequence]:
    """Split ``items`` so no statement exceeds the backend's parameter limit."""
    if len(items) * columns < SAFE_PARAMETERS:
        yield items
        return
    limit = _parameter_limit()
    size = max(1, (limit - 1) // columns)
    for start in range(0, len(items), size):
        yield items[start : start + size]


# From this many rows PostgreSQL gets one array parameter per column instead of a
# placeholder per value: for a single event the plain statements are faster (measured in
# bench/results.md), for a world tick of thousands of rows the arrays are.
ARRAYS_FROM = 20


def _use_arrays(count: int) -> bool:
    return count >= ARRAYS_FROM and on_postgresql()


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
    with _cursor() as cursor:
        cursor.execute(
            "SELECT world_id, policy_hash, policy_version, synced_at "
            f"FROM {World._meta.db_table} WHERE world_id = %s",
            [world_id],
        )
        row = cursor.fetchone()
    return None if row is None else _world(*row)


def lock_event_rows(
    world_id: str, character_ids: Sequence[int]
) -> tuple[World | None, list[tuple[int, int, int, int, float]]]:
    """Read the world and lock the characters of it with their scores, in one statement.

    Returns the world (None when no row matched) and ``(character id, state_seed, score
    id, axis id, score)`` rows. Locks are taken in output order, each character before
    its scores (``OF`` lists the character first) and characters in id order, which is
    the order of every other writer: a score is only ever locked by the holder of its
    character's lock, so the interleaving cannot deadlock. A character of another world,
    unknown, or without a score row in this world returns no row: the caller falls back
    to ``fetch_world``, ``lock_characters`` and ``lock_scores`` to name the fault.
    """
    locking = _for_update()
    if locking:
        locking += " OF c, s"
    # The world's columns come with every row: as text, psycopg does not parse the
    # timestamp once per score row (``_world`` parses the first row's).
    synced_at = "w.synced_at::text" if on_postgresql() else "w.synced_at"
    rows: list[tuple[int, int, int, int, float]] = []
    world = None
    with _cursor() as cursor:
        for chunk, condition in _id_lists(sorted(character_ids)):
            cursor.execute(
                f"SELECT w.world_id, w.policy_hash, w.policy_version, {synced_at}, "
                "c.id, c.state_seed, s.id, s.axis_id, s.axis_score "
                f"FROM {Character._meta.db_table} c "
                f"JOIN {CharacterAxisScore._meta.db_table} s ON s.character_id = c.id "
                f"JOIN {World._meta.db_table} w ON w.world_id = c.world_id "
                f"WHERE c.world_id = %s AND s.world_id = %s AND c.id {condition} "
                f"ORDER BY c.id, s.id{locking}",
                [world_id, world_id, *chunk],
            )
            found = cursor.fetchall()
            if found and world is None:
                world = _world(*found[0][:4])
            rows += [row[4:] for row in found]
    return world, rows


@lru_cache(maxsize=64)
def _world(world_id, policy_hash, policy_version, synced_at) -> World:
    """The world of a row, one instance per row's values (a world changes only at a sync).

    Kept because building it (and parsing SQLite's text date) was 2% of an event on
    SQLite. Shared between events and threads: callers read it and never change it.
    """
    if isinstance(synced_at, str):
        synced_at = parse_datetime(synced_at)
    if synced_at is not None and timezone.is_naive(synced_at):
        # SQLite keeps naive UTC; the registry cache key must equal the ORM's aware value.
        synced_at = timezone.make_aware(synced_at, UTC)
    return World(
        world_id=world_id,
        policy_hash=policy_hash,
        policy_version=policy_version,
        synced_at=synced_at,
    )


def lock_characters(character_ids: Sequence[int]) -> list[tuple[int, str, int]]:
    """Lock characters in id order; return ``(id, world_id, state_seed)`` rows."""
    rows = []
    with _cursor() as cursor:
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
    with _cursor() as cursor:
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
    with _cursor() as cursor:
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
    with _cursor() as cursor:
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
    with _cursor() as cursor:
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
    with _cursor() as cursor:
        for sql, params in _insert_statements(Event, columns, rows, returning=True):
            cursor.execute(sql, params)
            ids += sorted(row[0] for row in cursor.fetchall())
    return ids


def insert_event_of_type(
    columns: Sequence[str], row: tuple, event_type: str
) -> tuple[int, int, str] | None:
    """Insert one event row of ``columns``, its ``event_type_id`` looked up by name.

    The type is read in the INSERT itself (``INSERT ... SELECT FROM event_type``), which
    saves a round trip and never trusts a cached id. Returns ``(event id, type id, type
    description)``, or None, inserting nothing, when the world has no type of that name.
    """
    columns = tuple(columns)
    type_at = columns.index("event_type_id")
    (values,) = _prepared(Event, columns, [row])
    with _cursor() as cursor:
        cursor.execute(
            _insert_event_of_type_sql(columns),
            [*values[:type_at], *values[type_at + 1 :], row[0], event_type],
        )
        return cursor.fetchone()


@cache
def _insert_event_of_type_sql(columns: tuple[str, ...], returning: str | None = None) -> str:
    """The INSERT of one event; RETURNING ``returning`` or its id, type and description."""
    meta, types = Event._meta, EventType._meta.db_table
    casts = _casts(Event, columns)
    # INSERT ... SELECT does not type its parameters from the target columns: cast them.
    selected = [
        "t.id" if column == "event_type_id" else f"%s{cast}"
        for column, cast in zip(columns, casts, strict=True)
    ]
    return (
        f"INSERT INTO {meta.db_table} ({', '.join(_column_names(Event, columns))}) "
        f"SELECT {', '.join(selected)} FROM {types} t WHERE t.world_id = %s AND t.name = %s "
        "RETURNING "
        + (
            returning
            or "id, event_type_id, "
            f"(SELECT d.description FROM {types} d WHERE d.id = {meta.db_table}.event_type_id)"
        )
    )


@dataclass(frozen=True)
class EventRows:
    """One event and the rows that reference it, for ``write_event``.

    ``inserts`` are ``(model, columns, rows)`` whose ``event_id`` (not in ``columns``)
    is the new event's.
    """

    columns: tuple[str, ...]
    row: tuple
    event_type: str
    inserts: tuple[tuple, ...]


def write_event(event: EventRows, updates: Sequence[tuple]) -> tuple[int, int, str] | None:
    """PostgreSQL: insert an event with its rows and run ``updates``, in one statement.

    The event's INSERT looks its type up by name (as ``insert_event_of_type``), the
    rows that reference it take its id, and ``updates`` (``(model, fields, rows)`` as for
    ``update_rows``) join it: every part is a data-modifying CTE that depends on the
    event's row, so when the world has no such type yet nothing at all is written and
    None is returned. Otherwise ``(event id, type id, type description)``.
    """
    columns = event.columns
    type_at = columns.index("event_type_id")
    (values,) = _prepared(Event, columns, [event.row])
    params = [*values[:type_at], *values[type_at + 1 :], event.row[0], event.event_type]
    inserts, updates = [group for group in event.inserts if group[2]], [g for g in updates if g[2]]
    shape = []
    for model, group_columns, rows in inserts:
        group_columns = tuple(group_columns)
        prepared = _prepared(model, group_columns, rows)
        arrays = _use_arrays(len(prepared))
        params += _source_params(prepared, arrays)
        shape.append(("insert", model, group_columns, None if arrays else len(prepared)))
    for model, fields, rows in updates:
        fields = tuple(fields)
        prepared = _prepared_updates(model, fields, rows)
        arrays = _use_arrays(len(prepared))
        params += _source_params(prepared, arrays)
        shape.append(("update", model, fields, None if arrays else len(prepared)))
    with _cursor() as cursor:
        cursor.execute(_write_event_sql(columns, tuple(shape)), params)
        return cursor.fetchone()


def _source_params(prepared: list[tuple], arrays: bool) -> list:
    if arrays:
        return [list(column) for column in zip(*prepared, strict=True)]
    return [value for row in prepared for value in row]


def _source(casts: Sequence[str], count: int | None) -> str:
    """Rows as a FROM item: a VALUES list of ``count`` rows, or arrays (None)."""
    if count is None:
        return f"unnest({', '.join(f'%s{cast}[]' for cast in casts)})"
    row = "(" + ", ".join(f"%s{cast}" for cast in casts) + ")"
    return f"(VALUES {', '.join([row] * count)})"


@lru_cache(maxsize=256)
def _write_event_sql(columns: tuple[str, ...], shape: tuple) -> str:
    parts = [f"e AS ({_insert_event_of_type_sql(columns, returning='id, event_type_id')})"]
    for index, (kind, model, names, count) in enumerate(shape):
        table = model._meta.db_table
        if kind == "insert":
            source = _source(_casts(model, names), count)
            target = ", ".join(["event_id", *_column_names(model, names)])
            sql = f"INSERT INTO {table} ({target}) SELECT e.id, v.* FROM e, {source} AS v"
        else:
            columns_ = _column_names(model, names)
            source = _source([*_casts(model, names), "::bigint"], count)
            assignments = ", ".join(f"{name} = v.{name}" for name in columns_)
            sql = (
                f"UPDATE {table} AS t SET {assignments} FROM e, {source} "
                f"AS v({', '.join([*columns_, 'id'])}) WHERE t.id = v.id"
            )
        parts.append(f"w{index} AS ({sql})")
    return (
        f"WITH {', '.join(parts)} SELECT e.id, e.event_type_id, d.description "
        f"FROM e JOIN {EventType._meta.db_table} d ON d.id = e.event_type_id"
    )


# The statements' texts depend on the model, the columns, the number of rows and the
# engine (one per process): built once, as building them (``cast_db_type`` above all)
# cost more CPU than the database spent running them.


@cache
def _fields(model, columns: tuple[str, ...]) -> tuple:
    return tuple(model._meta.get_field(column) for column in columns)


@cache
def _column_names(model, columns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(field.column for field in _fields(model, columns))


@cache
def _casts(model, columns: tuple[str, ...]) -> tuple[str, ...]:
    """``::type`` suffixes casting parameters to the columns' types (PostgreSQL), or ''."""
    if not on_postgresql():
        return ("",) * len(columns)
    return tuple(f"::{field.cast_db_type(connection)}" for field in _fields(model, columns))


@cache
def _datetime_positions(model, columns: tuple[str, ...]) -> frozenset[int]:
    fields = _fields(model, columns)
    return frozenset(i for i, f in enumerate(fields) if f.get_internal_type() == "DateTimeField")


def _prepared(model, columns: tuple[str, ...], rows: Sequence[tuple]) -> list[tuple]:
    """Adapt datetimes as Django would; every other value is already the database's."""
    datetimes = _datetime_positions(model, columns)
    if not datetimes:
        return list(rows)
    adapt = _adapt_datetime
    return [
        tuple(adapt(value) if i in datetimes else value for i, value in enumerate(row))
        for row in rows
    ]


def insert_rows(model, columns: Sequence[str], rows: Sequence[tuple]) -> None:
    """Insert many rows of ``model`` in as few statements as the backend allows."""
    with _cursor() as cursor:
        for sql, params in _insert_statements(model, columns, rows):
            cursor.execute(sql, params)


def insert_rows_together(groups: Sequence[tuple]) -> None:
    """Insert ``(model, columns, rows)`` groups: one statement on PostgreSQL.

    PostgreSQL runs each INSERT but the last as a data-modifying CTE of the last, so an
    event's deltas and metadata cost one round trip; SQLite (in-process) runs them one
    after the other.
    """
    _execute_together(
        [
            statement
            for model, columns, rows in groups
            if rows
            for statement in _insert_statements(model, columns, rows)
        ]
    )


def update_rows_together(groups: Sequence[tuple]) -> None:
    """Update ``(model, fields, rows)`` groups as ``update_rows`` does: one statement on
    PostgreSQL (data-modifying CTEs), one ``update_rows`` per group on SQLite."""
    groups = [group for group in groups if group[2]]
    if not on_postgresql():
        for model, fields, rows in groups:
            update_rows(model, fields, rows)
        return
    _execute_together([_update_statement(*group) for group in groups])


def _execute_together(statements: list[tuple[str, list]]) -> None:
    """Run ``(sql, params)`` statements; on PostgreSQL as one (all but the last in CTEs)."""
    with _cursor() as cursor:
        if len(statements) < 2 or not on_postgresql():
            for sql, params in statements:
                cursor.execute(sql, params)
            return
        *first, (last_sql, last_params) = statements
        ctes = ", ".join(f"w{index} AS ({sql})" for index, (sql, _) in enumerate(first))
        cursor.execute(
            f"WITH {ctes} {last_sql}", [p for _, params in first for p in params] + last_params
        )


def _insert_statements(model, columns, rows, *, returning=False):
    """Yield ``(sql, params)`` inserting ``rows``; values already in Python types.

    Many rows go to PostgreSQL as one array parameter per column (``INSERT ... SELECT
    FROM unnest``): a few parameters whatever the number of rows, so psycopg does not
    rewrite thousands of placeholders. Otherwise multi-row VALUES.
    """
    columns = tuple(columns)
    prepared = _prepared(model, columns, rows)
    if _use_arrays(len(prepared)):
        yield (
            _insert_sql(model, columns, None, returning),
            [list(column) for column in zip(*prepared, strict=True)],
        )
        return
    for chunk in _chunks(prepared, len(columns)):
        yield (
            _insert_sql(model, columns, len(chunk), returning),
            [value for row in chunk for value in row],
        )


@lru_cache(maxsize=512)
def _insert_sql(model, columns: tuple[str, ...], count: int | None, returning: bool) -> str:
    """The INSERT of ``count`` rows as VALUES, or of arrays of any length (None)."""
    names = ", ".join(_column_names(model, columns))
    suffix = " RETURNING id" if returning else ""
    if count is None:
        arrays = ", ".join(f"%s{cast}[]" for cast in _casts(model, columns))
        return (
            f"INSERT INTO {model._meta.db_table} ({names}) SELECT * FROM unnest({arrays}){suffix}"
        )
    values = ", ".join([f"({_marks(len(columns))})"] * count)
    return f"INSERT INTO {model._meta.db_table} ({names}) VALUES {values}{suffix}"


# Fields whose Python values are already the database's: no adapter needed.
_PLAIN_FIELDS = frozenset({"FloatField", "CharField", "PositiveIntegerField"})


@cache
def _save_kinds(model, fields: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(field.get_internal_type() for field in _fields(model, fields))


def _adapt_datetime(value):
    """``adapt_datetimefield_value``, remembering its last answer per thread.

    An event writes one time in four columns (the event's two, the scores' and the
    snapshot's); on SQLite each adaptation formats a string. Remembered by identity,
    so only the very same datetime object reuses it.
    """
    last = getattr(_shared, "adapted", None)
    if last is not None and last[0] is value:
        return last[1]
    adapted = connection.ops.adapt_datetimefield_value(value)
    _shared.adapted = (value, adapted)
    return adapted


def _save_adapters(model, fields: tuple[str, ...]) -> list:
    """Return what ``get_db_prep_save`` does to each field's value, without its generic
    steps (None: the value as it is).

    ``get_db_prep_save`` per value cost more than the statement itself for one event;
    the values here are the writers' own (aware datetimes, dicts, floats, ints, strings).
    """
    ops = connection.ops
    adapters = []
    for field, kind in zip(_fields(model, fields), _save_kinds(model, fields), strict=True):
        if kind in _PLAIN_FIELDS:
            adapters.append(None)
        elif kind == "DateTimeField":
            adapters.append(_adapt_datetime)
        elif kind == "JSONField":
            adapters.append(partial(ops.adapt_json_value, encoder=field.encoder))
        else:
            adapters.append(partial(field.get_db_prep_save, connection=connection))
    return adapters


def update_rows(model, fields: list[str], rows: list[tuple]) -> None:
    """Update many rows by id: ``rows`` are ``(*values, pk)`` tuples.

    ``QuerySet.bulk_update`` spent 40% of ``apply_event`` building its CASE expression.
    An ``executemany`` of one statement is one in-process call on SQLite and one
    pipelined round trip on psycopg; for many rows on PostgreSQL, one
    ``UPDATE ... FROM unnest(...)`` with an array per column updates them all at once.
    """
    if _use_arrays(len(rows)):
        _execute_together([_update_statement(model, fields, rows)])
        return
    fields = tuple(fields)
    with _cursor() as cursor:
        cursor.executemany(_update_sql(model, fields, 1), _prepared_updates(model, fields, rows))


def _prepared_updates(model, fields: tuple[str, ...], rows: list[tuple]) -> list[tuple]:
    adapters = _save_adapters(model, fields)
    return [
        tuple(
            value if adapt is None else adapt(value)
            for adapt, value in zip(adapters, row[:-1], strict=True)
        )
        + (row[-1],)
        for row in rows
    ]


def _update_statement(model, fields: list[str], rows: list[tuple]) -> tuple[str, list]:
    """Return one PostgreSQL ``UPDATE ... FROM`` setting ``rows`` (``(*values, pk)``).

    Many rows come as one array per column (``unnest``); a few as a VALUES list, each
    value cast since VALUES in FROM is not typed by the columns it sets.
    """
    fields = tuple(fields)
    prepared = _prepared_updates(model, fields, rows)
    if _use_arrays(len(prepared)):
        return (
            _update_sql(model, fields, None),
            [list(column) for column in zip(*prepared, strict=True)],
        )
    return _update_sql(model, fields, len(prepared)), [v for row in prepared for v in row]


@lru_cache(maxsize=256)
def _update_sql(model, fields: tuple[str, ...], count: int | None) -> str:
    """The UPDATE of rows by id: one row (SQLite's ``executemany``), ``count`` rows as a
    VALUES list or arrays of any length (None) on PostgreSQL."""
    names = _column_names(model, fields)
    table = model._meta.db_table
    if not on_postgresql():
        assignments = ", ".join(f"{name} = %s" for name in names)
        return f"UPDATE {table} SET {assignments} WHERE id = %s"
    assignments = ", ".join(f"{name} = v.{name}" for name in names)
    source = _source([*_casts(model, fields), "::bigint"], count)
    return (
        f"UPDATE {table} AS t SET {assignments} "
        f"FROM {source} AS v({', '.join([*names, 'id'])}) WHERE t.id = v.id"
    )
