"""Writes to the event ledger: the only code that creates Event, delta and metadata rows.

An event is applied in one transaction: validate everything, lock the touched rows in a
fixed order, insert the event with its deltas and metadata, update the scores, refresh
the touched characters' snapshots. Any failure raises ``LedgerError`` and the
transaction (or the caller's savepoint) rolls back, so nothing is half-written.
"""

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from axes.models import CharacterAxisScore
from axes.scoring import apply_delta
from axes.selectors import WorldRegistry, get_world_registry
from ledger import statements
from ledger.exceptions import IdempotencyConflict, LedgerError
from ledger.models import Event, EventEntityAxisDelta, EventMetadata, EventType
from worlds.models import Character, World

# Event types the product itself writes; clients may not forge them.
CHARACTER_CREATED = "character_created"
AXES_ADDED = "policy_axes_added"
SYSTEM_EVENT_TYPES = frozenset({CHARACTER_CREATED, AXES_ADDED})

DELTA_COLUMNS = (
    "event_id",
    "world_id",
    "character_id",
    "axis_id",
    "old_score",
    "new_score",
    "delta",
    "requested_delta",
)
METADATA_COLUMNS = ("event_id", "world_id", "key", "value")

EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
MAX_METADATA_ENTRIES = 50
MAX_METADATA_KEY_LENGTH = 100
MAX_METADATA_VALUE_LENGTH = 1000
MAX_IDEMPOTENCY_KEY_LENGTH = 200

APPLY_EVENT_UNKNOWN_WORLD = "unknown world {world_id!r}"
APPLY_EVENT_WORLD_NOT_SYNCED = (
    "world {world_id!r} has no synced policy; run `manage.py sync_policies {world_id}`"
)
APPLY_EVENT_BAD_EVENT_TYPE = (
    "event_type must be a string of 1-100 letters, digits, '_', '.', ':' or '-', "
    "starting with a letter (got {value!r})"
)
APPLY_EVENT_RESERVED_EVENT_TYPE = "event_type {value!r} is reserved for the system"
APPLY_EVENT_NO_DELTAS = "an event needs at least one delta"
APPLY_EVENT_DELTAS_NOT_MAPPING = (
    "deltas must map character ids to {{axis name: delta}} (got {kind})"
)
APPLY_EVENT_BAD_CHARACTER_ID = "character id must be a positive integer (got {value!r})"
APPLY_EVENT_AXES_NOT_MAPPING = "deltas of character {character_id} must map axis names to numbers"
APPLY_EVENT_BAD_AXIS_NAME = "axis name must be a non-empty string (got {value!r})"
APPLY_EVENT_BAD_DELTA = "delta for axis {axis!r} must be a finite number (got {value!r})"
APPLY_EVENT_UNKNOWN_AXIS = "unknown axis {axis!r} in world {world_id!r}"
APPLY_EVENT_RETIRED_AXIS = "axis {axis!r} is retired in world {world_id!r} and takes no deltas"
APPLY_EVENT_UNKNOWN_CHARACTER = "unknown character {character_id}"
APPLY_EVENT_FOREIGN_CHARACTER = (
    "character {character_id} belongs to world {other!r}, not {world_id!r}"
)
APPLY_EVENT_MISSING_SCORE = (
    "character {character_id} has no score on axis {axis!r}; "
    "run `manage.py sync_policies {world_id}` to backfill it"
)
APPLY_EVENT_METADATA_NOT_MAPPING = "metadata must map strings to strings (got {kind})"
APPLY_EVENT_TOO_MUCH_METADATA = f"metadata takes at most {MAX_METADATA_ENTRIES} entries"
APPLY_EVENT_BAD_METADATA_KEY = (
    f"metadata keys must be non-empty strings of at most {MAX_METADATA_KEY_LENGTH} "
    "characters (got {value!r})"
)
APPLY_EVENT_BAD_METADATA_VALUE = (
    f"metadata value of {{key!r}} must be a string of at most {MAX_METADATA_VALUE_LENGTH} "
    "characters (got {kind})"
)
APPLY_EVENT_BAD_IDEMPOTENCY_KEY = (
    f"idempotency_key must be a non-empty string of at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters"
)
APPLY_EVENT_IDEMPOTENCY_CONFLICT = (
    "idempotency_key {key!r} was already used for a different request (event {event_id})"
)
APPLY_EVENT_DATABASE_ERROR = "the database refused the event ({error}); nothing was written"
APPLY_EVENTS_EMPTY = "events must be a non-empty list of events"
APPLY_EVENTS_NOT_MAPPING = "an event must be an object"
APPLY_EVENTS_UNKNOWN_KEYS = "unknown key(s) {keys}"
APPLY_EVENT_IDEMPOTENCY_RACE = (
    "idempotency_key {key!r} was used at the same moment by a different request"
)


@dataclass(frozen=True)
class _EventRequest:
    """A request that passed the checks that need no database."""

    world_id: str
    event_type: str
    deltas: dict[int, dict[str, float]]
    metadata: dict[str, str]
    idempotency_key: str | None

    @property
    def request_hash(self) -> str:
        canonical = json.dumps(
            {
                "event_type": self.event_type,
                "deltas": {str(cid): axes for cid, axes in self.deltas.items()},
                "metadata": self.metadata,
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def apply_event(
    *,
    world_id: str,
    event_type: str,
    deltas: Mapping[int, Mapping[str, float]],
    metadata: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
) -> Event:
    """Apply one event to one or more characters of a world, atomically.

    Args:
        world_id: The world the event happens in.
        event_type: Name of the kind of event; the type is created on first use.
        deltas: Character id -> {axis name -> requested change}. New scores are clamped
            to [0, 1] and kept at a precision of 1e-6.
        metadata: Optional string tags stored with the event.
        idempotency_key: Optional client key; a retry with the same key and payload
            returns the original event without applying anything again.

    Raises:
        LedgerError: The request is invalid (unknown world, character or axis, a
            character of another world, a retired axis, a bad number or metadata).
            Nothing was written.
        IdempotencyConflict: The key was used before for a different request.
        LedgerError: With code ``database_error`` when the database failed midway (a
            lost connection, a deadlock victim); nothing was written, a retry is safe.

    Returns:
        The recorded ``Event`` (or the original one for an idempotent retry). Its
        ``replayed`` attribute tells the two apart: False for a new event, True for a
        retry that applied nothing.
    """
    if isinstance(event_type, str) and event_type in SYSTEM_EVENT_TYPES:
        raise LedgerError(
            APPLY_EVENT_RESERVED_EVENT_TYPE.format(value=event_type),
            code="reserved_event_type",
            field="event_type",
        )
    request = _validate_request(
        world_id=world_id,
        event_type=event_type,
        deltas=deltas,
        metadata=metadata,
        idempotency_key=idempotency_key,
    )
    return _record_or_refuse([request], batched=False)[0]


def apply_events(*, world_id: str, events: Sequence[Mapping]) -> list[Event]:
    """Apply many events in one transaction, all or nothing (a world tick).

    Each item takes the keyword arguments of ``apply_event`` but ``world_id``:
    ``event_type``, ``deltas`` and optionally ``metadata`` and ``idempotency_key``. The
    events are applied in order, each seeing the scores the previous ones left, with the
    same validation, locking, ledger rows and snapshots as one ``apply_event`` call per
    event, but in a fixed number of bulk statements.

    Raises:
        LedgerError: Any event is invalid; its ``field`` starts with ``events.<index>``.
            Nothing was written.
        IdempotencyConflict: A key was used before (or earlier in the batch) for a
            different request.

    Returns:
        One ``Event`` per item, in order (the original one for an idempotent retry).
    """
    if not isinstance(events, Sequence) or isinstance(events, str) or not events:
        raise LedgerError(APPLY_EVENTS_EMPTY, code="invalid", field="events")
    requests = []
    for index, item in enumerate(events):
        try:
            if not isinstance(item, Mapping):
                raise LedgerError(APPLY_EVENTS_NOT_MAPPING, code="invalid", field=None)
            unknown = set(item) - {"event_type", "deltas", "metadata", "idempotency_key"}
            if unknown:
                raise LedgerError(
                    APPLY_EVENTS_UNKNOWN_KEYS.format(keys=", ".join(sorted(map(str, unknown)))),
                    code="invalid",
                    field=None,
                )
            event_type = item.get("event_type")
            if isinstance(event_type, str) and event_type in SYSTEM_EVENT_TYPES:
                raise LedgerError(
                    APPLY_EVENT_RESERVED_EVENT_TYPE.format(value=event_type),
                    code="reserved_event_type",
                    field="event_type",
                )
            requests.append(
                _validate_request(
                    world_id=world_id,
                    event_type=event_type,
                    deltas=item.get("deltas"),
                    metadata=item.get("metadata"),
                    idempotency_key=item.get("idempotency_key"),
                )
            )
        except LedgerError as exc:
            raise _in_batch(exc, index) from None
    return _record_or_refuse(requests, batched=True)


def _in_batch(error: LedgerError, index: int) -> LedgerError:
    """Return ``error`` with its field prefixed by the event's position in the batch."""
    field = f"events.{index}" + (f".{error.field}" if error.field else "")
    return type(error)(f"event {index}: {error.message}", code=error.code, field=field)


def _record_or_refuse(requests: list["_EventRequest"], *, batched: bool) -> list[Event]:
    try:
        return _record(requests, genesis=False, batched=batched)
    except DatabaseError as exc:
        raise LedgerError(
            APPLY_EVENT_DATABASE_ERROR.format(error=exc.__class__.__name__),
            code="database_error",
        ) from exc


def record_system_event(
    *,
    world_id: str,
    event_type: str,
    deltas: Mapping[int, Mapping[str, float]],
    metadata: Mapping[str, str] | None = None,
    genesis: bool = False,
) -> Event:
    """Record an event the product itself makes (character creation, axis backfill).

    Call this inside the transaction that created the score rows it changes; only
    ``worlds.services`` does. With ``genesis=True`` the characters' ``state_seed`` stays
    0 and their ``base_state_json`` is written from the resulting scores.
    """
    request = _validate_request(
        world_id=world_id,
        event_type=event_type,
        deltas=deltas,
        metadata=metadata,
        idempotency_key=None,
    )
    return _record([request], genesis=genesis)[0]


def _validate_request(*, world_id, event_type, deltas, metadata, idempotency_key) -> _EventRequest:
    """Check everything that needs no database, and normalise the request."""
    if not isinstance(world_id, str) or not world_id:
        raise LedgerError(
            APPLY_EVENT_UNKNOWN_WORLD.format(world_id=world_id),
            code="unknown_world",
            field="world_id",
        )
    if not isinstance(event_type, str) or not EVENT_TYPE_PATTERN.match(event_type):
        raise LedgerError(
            APPLY_EVENT_BAD_EVENT_TYPE.format(value=event_type),
            code="invalid",
            field="event_type",
        )
    if not isinstance(deltas, Mapping):
        raise LedgerError(
            APPLY_EVENT_DELTAS_NOT_MAPPING.format(kind=type(deltas).__name__),
            code="invalid",
            field="deltas",
        )
    clean_deltas: dict[int, dict[str, float]] = {}
    for character_id, axes in deltas.items():
        if isinstance(character_id, bool) or not isinstance(character_id, int) or character_id < 1:
            raise LedgerError(
                APPLY_EVENT_BAD_CHARACTER_ID.format(value=character_id),
                code="invalid",
                field="deltas",
            )
        if not isinstance(axes, Mapping):
            raise LedgerError(
                APPLY_EVENT_AXES_NOT_MAPPING.format(character_id=character_id),
                code="invalid",
                field=f"deltas.{character_id}",
            )
        clean_axes = {}
        for axis_name, delta in axes.items():
            if not isinstance(axis_name, str) or not axis_name:
                raise LedgerError(
                    APPLY_EVENT_BAD_AXIS_NAME.format(value=axis_name),
                    code="invalid",
                    field=f"deltas.{character_id}",
                )
            if (
                isinstance(delta, bool)
                or not isinstance(delta, int | float)
                or not math.isfinite(delta)
            ):
                raise LedgerError(
                    APPLY_EVENT_BAD_DELTA.format(axis=axis_name, value=delta),
                    code="invalid",
                    field=f"deltas.{character_id}.{axis_name}",
                )
            clean_axes[axis_name] = float(delta) + 0.0  # -0.0 is 0.0 (one request hash)
        if clean_axes:
            clean_deltas[character_id] = clean_axes
    if not clean_deltas:
        raise LedgerError(APPLY_EVENT_NO_DELTAS, code="invalid", field="deltas")
    return _EventRequest(
        world_id=world_id,
        event_type=event_type,
        deltas=clean_deltas,
        metadata=_validate_metadata(metadata),
        idempotency_key=_validate_idempotency_key(idempotency_key),
    )


def _validate_metadata(metadata) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise LedgerError(
            APPLY_EVENT_METADATA_NOT_MAPPING.format(kind=type(metadata).__name__),
            code="invalid",
            field="metadata",
        )
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise LedgerError(APPLY_EVENT_TOO_MUCH_METADATA, code="invalid", field="metadata")
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise LedgerError(
                APPLY_EVENT_BAD_METADATA_KEY.format(value=key), code="invalid", field="metadata"
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE_LENGTH:
            kind = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
            raise LedgerError(
                APPLY_EVENT_BAD_METADATA_VALUE.format(key=key, kind=kind),
                code="invalid",
                field=f"metadata.{key}",
            )
    return dict(metadata)


def _validate_idempotency_key(key) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise LedgerError(APPLY_EVENT_BAD_IDEMPOTENCY_KEY, code="invalid", field="idempotency_key")
    return key


@transaction.atomic
def _record(requests: list[_EventRequest], *, genesis: bool, batched: bool = False) -> list[Event]:
    """Apply validated requests of one world, in order, in one transaction.

    The statement count does not depend on the number of events, characters or axes:
    every read and write below is one statement (split only at the backend's parameter
    limit).
    """
    world_id = requests[0].world_id
    world = statements.fetch_world(world_id)
    if world is None:
        raise LedgerError(
            APPLY_EVENT_UNKNOWN_WORLD.format(world_id=world_id),
            code="unknown_world",
            field="world_id",
        )
    if not world.policy_hash:
        raise LedgerError(
            APPLY_EVENT_WORLD_NOT_SYNCED.format(world_id=world_id),
            code="world_not_synced",
            field="world_id",
        )
    registry = get_world_registry(world)
    for index, request in enumerate(requests):
        try:
            _check_axes(request, registry)
        except LedgerError as exc:
            raise _in_batch(exc, index) if batched else exc from None
    touched = sorted({cid for request in requests for cid in request.deltas})
    try:
        characters = _lock_characters(touched, world)
        scores = _lock_scores(requests, touched, world, registry)
    except LedgerError as exc:
        if not batched:
            raise
        # The checks ran over the whole batch; point at the first event naming the row.
        character_id = int(exc.field.split(".")[1])
        index = next(i for i, r in enumerate(requests) if character_id in r.deltas)
        raise _in_batch(exc, index) from None

    # Checked after the locks: a concurrent retry of the same request touches the
    # same rows, so it waits here and then sees the committed original.
    outcomes = _idempotency_outcomes(requests, world_id, batched=batched)
    fresh = [
        request for request, outcome in zip(requests, outcomes, strict=True) if outcome is None
    ]
    if not fresh:
        return _events_for(outcomes, [])

    now = timezone.now()
    type_ids = _event_type_ids(world, {request.event_type for request in fresh})
    event_ids = _insert_events(world_id, fresh, type_ids, now)

    delta_rows, metadata_rows = [], []
    changed: dict[int, _Score] = {}
    events_per_character: dict[int, int] = {}
    for event_id, request in zip(event_ids, fresh, strict=True):
        for character_id in sorted(request.deltas):
            events_per_character[character_id] = events_per_character.get(character_id, 0) + 1
            for axis_name, requested in sorted(request.deltas[character_id].items()):
                axis_id = registry.by_name[axis_name].id
                score = scores[(character_id, axis_id)]
                new_score, applied = apply_delta(score.axis_score, requested)
                delta_rows.append(
                    (
                        event_id,
                        world_id,
                        character_id,
                        axis_id,
                        score.axis_score,
                        new_score,
                        applied,
                        requested,
                    )
                )
                score.axis_score = new_score
                changed[score.id] = score
        metadata_rows += [
            (event_id, world_id, key, value) for key, value in sorted(request.metadata.items())
        ]
    statements.insert_rows(EventEntityAxisDelta, DELTA_COLUMNS, delta_rows)
    if metadata_rows:
        statements.insert_rows(EventMetadata, METADATA_COLUMNS, metadata_rows)
    statements.update_rows(
        CharacterAxisScore,
        ["axis_score", "updated_at"],
        [(score.axis_score, now, score.id) for score in changed.values()],
    )
    touched_now = [c for c in characters if c.id in events_per_character]
    _refresh_snapshots(
        touched_now, scores.values(), registry, events_per_character, now=now, genesis=genesis
    )
    created = [
        _stored_event(event_id, world_id, type_ids[request.event_type], now, request)
        for event_id, request in zip(event_ids, fresh, strict=True)
    ]
    return _events_for(outcomes, created)


def _idempotency_outcomes(requests: list[_EventRequest], world_id: str, *, batched: bool) -> list:
    """For each request: None to apply it, or the (event id, hash) it replays.

    A key already in the ledger replays its event; a key repeated within the batch
    replays the earlier request (marked by its index as a str).
    """
    keys = [request.idempotency_key for request in requests if request.idempotency_key]
    stored = statements.find_events_by_key(world_id, keys) if keys else {}
    outcomes: list = []
    first_use: dict[str, int] = {}
    for index, request in enumerate(requests):
        key = request.idempotency_key
        if key is None:
            outcomes.append(None)
        elif key in stored:
            try:
                outcomes.append(_replay(stored[key], request))
            except IdempotencyConflict as exc:
                raise _in_batch(exc, index) if batched else exc from None
        elif key in first_use:
            earlier = requests[first_use[key]]
            if earlier.request_hash != request.request_hash:
                raise IdempotencyConflict(
                    APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(key=key, event_id="in this batch"),
                    code="idempotency_conflict",
                    field=f"events.{index}.idempotency_key",
                )
            outcomes.append(str(first_use[key]))
        else:
            first_use[key] = index
            outcomes.append(None)
    return outcomes


def _events_for(outcomes: list, created: list[Event]) -> list[Event]:
    """Line up the new events and the replayed originals in request order."""
    replayed_ids = [o for o in outcomes if isinstance(o, int)]
    originals = Event.objects.in_bulk(replayed_ids) if replayed_ids else {}
    new = iter(created)
    result: list[Event] = []
    for outcome in outcomes:
        if outcome is None:
            result.append(next(new))
        elif isinstance(outcome, int):
            event = originals[outcome]
            event.replayed = True
            result.append(event)
        else:  # a repeat within the batch: the same event as the earlier request
            result.append(result[int(outcome)])
    return result


def _event_type_ids(world: World, names: set[str]) -> dict[str, int]:
    type_ids = statements.find_event_types(world.world_id, sorted(names))
    for name in sorted(names - type_ids.keys()):
        type_ids[name] = EventType.objects.get_or_create(world=world, name=name)[0].pk
    return type_ids


def _insert_events(world_id, requests: list[_EventRequest], type_ids, now) -> list[int]:
    rows = [
        (
            world_id,
            type_ids[request.event_type],
            now,
            request.idempotency_key,
            request.request_hash,
        )
        for request in requests
    ]
    keyed = any(request.idempotency_key for request in requests)
    try:
        # A savepoint only when a key could collide, so the common path stays short.
        with transaction.atomic() if keyed else nullcontext():
            return statements.insert_events(rows)
    except IntegrityError as exc:
        if not keyed:
            raise
        # Only the idempotency key is unique on this table: a concurrent request with
        # the same key but other rows won the race; its payload necessarily differs.
        raise IdempotencyConflict(
            APPLY_EVENT_IDEMPOTENCY_RACE.format(
                key=", ".join(r.idempotency_key for r in requests if r.idempotency_key)
            ),
            code="idempotency_conflict",
            field="idempotency_key",
        ) from exc


def _stored_event(event_id, world_id, event_type_id, now, request: _EventRequest) -> Event:
    event = Event(
        id=event_id,
        world_id=world_id,
        event_type_id=event_type_id,
        timestamp=now,
        idempotency_key=request.idempotency_key,
        request_hash=request.request_hash,
    )
    event._state.adding = False
    event._state.db = connection.alias
    event.replayed = False
    return event


def _check_axes(request: _EventRequest, registry: WorldRegistry) -> None:
    for character_id, axes in request.deltas.items():
        for axis_name in axes:
            axis = registry.by_name.get(axis_name)
            if axis is None or not axis.is_active:
                message = APPLY_EVENT_UNKNOWN_AXIS if axis is None else APPLY_EVENT_RETIRED_AXIS
                raise LedgerError(
                    message.format(axis=axis_name, world_id=registry.world_id),
                    code="unknown_axis" if axis is None else "retired_axis",
                    field=f"deltas.{character_id}.{axis_name}",
                )


@dataclass
class _Character:
    id: int
    world_id: str
    state_seed: int


@dataclass
class _Score:
    id: int
    character_id: int
    axis_id: int
    axis_score: float


def _lock_characters(touched: list[int], world: World) -> list[_Character]:
    """Lock the touched characters in id order, and check they live in ``world``.

    Every writer locks characters before scores and each set in id order, so two events
    touching the same characters queue instead of deadlocking.
    """
    found = {row[0]: _Character(*row) for row in statements.lock_characters(touched)}
    for character_id in touched:
        character = found.get(character_id)
        if character is None:
            raise LedgerError(
                APPLY_EVENT_UNKNOWN_CHARACTER.format(character_id=character_id),
                code="unknown_character",
                field=f"deltas.{character_id}",
            )
        if character.world_id != world.world_id:
            raise LedgerError(
                APPLY_EVENT_FOREIGN_CHARACTER.format(
                    character_id=character_id, other=character.world_id, world_id=world.world_id
                ),
                code="foreign_character",
                field=f"deltas.{character_id}",
            )
    return list(found.values())


def _lock_scores(
    requests: list[_EventRequest], touched: list[int], world: World, registry: WorldRegistry
) -> dict[tuple[int, int], _Score]:
    """Lock every score row of the touched characters, in id order.

    All of a character's scores are needed to re-derive its snapshot, so one locking
    read serves both purposes.
    """
    scores = {
        (row[1], row[2]): _Score(*row) for row in statements.lock_scores(world.world_id, touched)
    }
    needed = {
        (cid, name) for request in requests for cid, axes in request.deltas.items() for name in axes
    }
    for character_id, axis_name in sorted(needed):
        if (character_id, registry.by_name[axis_name].id) not in scores:
            raise LedgerError(
                APPLY_EVENT_MISSING_SCORE.format(
                    character_id=character_id, axis=axis_name, world_id=world.world_id
                ),
                code="missing_score",
                field=f"deltas.{character_id}.{axis_name}",
            )
    return scores


def _replay(original: tuple[int, str], request: _EventRequest) -> int:
    """Return the id of the event a retry replays, or refuse a reused key."""
    event_id, request_hash = original
    if request_hash != request.request_hash:
        raise IdempotencyConflict(
            APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(key=request.idempotency_key, event_id=event_id),
            code="idempotency_conflict",
            field="idempotency_key",
        )
    return event_id


def _refresh_snapshots(
    characters, scores, registry: WorldRegistry, events_per_character, *, now, genesis: bool
) -> None:
    by_character: dict[int, dict[int, float]] = {}
    for score in scores:
        by_character.setdefault(score.character_id, {})[score.axis_id] = score.axis_score
    fields = ["current_state_json", "state_seed", "state_version", "state_updated_at"]
    if genesis:
        fields.append("base_state_json")
    rows = []
    for character in characters:
        seed = character.state_seed + (0 if genesis else events_per_character[character.id])
        snapshot = registry.snapshot(seed=seed, scores=by_character.get(character.id, {}))
        row = [snapshot, seed, registry.policy_hash, now]
        if genesis:
            row.append(snapshot)
        rows.append((*row, character.id))
    statements.update_rows(Character, fields, rows)
