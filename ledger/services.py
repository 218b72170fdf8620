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
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from axes.models import CharacterAxisScore
from axes.scoring import apply_delta
from axes.selectors import WorldRegistry, get_world_registry
from ledger import statements
from ledger.exceptions import IdempotencyConflict, LedgerError
from ledger.models import Event, EventType
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
    try:
        return _record(request, genesis=False)
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
    return _record(request, genesis=genesis)


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
            clean_axes[axis_name] = float(delta)
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
def _record(request: _EventRequest, *, genesis: bool) -> Event:
    world = statements.fetch_world(request.world_id)
    if world is None:
        raise LedgerError(
            APPLY_EVENT_UNKNOWN_WORLD.format(world_id=request.world_id),
            code="unknown_world",
            field="world_id",
        )
    if not world.policy_hash:
        raise LedgerError(
            APPLY_EVENT_WORLD_NOT_SYNCED.format(world_id=world.world_id),
            code="world_not_synced",
            field="world_id",
        )
    registry = get_world_registry(world)
    _check_axes(request, registry)
    characters = _lock_characters(request, world)
    scores = _lock_scores(request, world, registry)

    if request.idempotency_key is not None:
        # Checked after the locks: a concurrent retry of the same request touches the
        # same rows, so it waits here and then sees the committed original.
        original = statements.find_event_by_key(world.world_id, request.idempotency_key)
        if original is not None:
            return _replay(original, request)

    now = timezone.now()
    event_type_id = statements.find_event_type(world.world_id, request.event_type)
    if event_type_id is None:
        event_type_id = EventType.objects.get_or_create(world=world, name=request.event_type)[0].pk
    try:
        # A savepoint only when a key could collide, so the common path stays short.
        with transaction.atomic() if request.idempotency_key else nullcontext():
            event_id = statements.insert_event(
                world_id=world.world_id,
                event_type_id=event_type_id,
                timestamp=now,
                idempotency_key=request.idempotency_key,
                request_hash=request.request_hash,
            )
    except IntegrityError as exc:
        if request.idempotency_key is None:
            raise
        # Only the idempotency key is unique on this table: a concurrent request with
        # the same key but other rows won the race; its payload necessarily differs.
        raise IdempotencyConflict(
            APPLY_EVENT_IDEMPOTENCY_RACE.format(key=request.idempotency_key),
            code="idempotency_conflict",
            field="idempotency_key",
        ) from exc

    delta_rows = []
    score_rows = []
    for character_id in sorted(request.deltas):
        for axis_name, requested in sorted(request.deltas[character_id].items()):
            axis_id = registry.by_name[axis_name].id
            score = scores[(character_id, axis_id)]
            new_score, applied = apply_delta(score.axis_score, requested)
            delta_rows.append(
                (
                    event_id,
                    world.world_id,
                    character_id,
                    axis_id,
                    score.axis_score,
                    new_score,
                    applied,
                    requested,
                )
            )
            score.axis_score = new_score
            score_rows.append((new_score, now, score.id))
    statements.insert_rows("event_entity_axis_delta", DELTA_COLUMNS, delta_rows)
    if request.metadata:
        statements.insert_rows(
            "event_metadata",
            METADATA_COLUMNS,
            [
                (event_id, world.world_id, key, value)
                for key, value in sorted(request.metadata.items())
            ],
        )
    statements.update_rows(CharacterAxisScore, ["axis_score", "updated_at"], score_rows)
    _refresh_snapshots(characters, scores.values(), registry, now=now, genesis=genesis)
    event = Event(
        id=event_id,
        world_id=world.world_id,
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


def _lock_characters(request: _EventRequest, world: World) -> list[_Character]:
    """Lock the touched characters in id order, and check they live in ``world``.

    Every writer locks characters before scores and each set in id order, so two events
    touching the same characters queue instead of deadlocking.
    """
    found = {row[0]: _Character(*row) for row in statements.lock_characters(list(request.deltas))}
    for character_id in sorted(request.deltas):
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
    request: _EventRequest, world: World, registry: WorldRegistry
) -> dict[tuple[int, int], _Score]:
    """Lock every score row of the touched characters, in id order.

    All of a character's scores are needed to re-derive its snapshot, so one locking
    read serves both purposes.
    """
    scores = {
        (row[1], row[2]): _Score(*row)
        for row in statements.lock_scores(world.world_id, list(request.deltas))
    }
    for character_id, axes in sorted(request.deltas.items()):
        for axis_name in sorted(axes):
            if (character_id, registry.by_name[axis_name].id) not in scores:
                raise LedgerError(
                    APPLY_EVENT_MISSING_SCORE.format(
                        character_id=character_id, axis=axis_name, world_id=world.world_id
                    ),
                    code="missing_score",
                    field=f"deltas.{character_id}.{axis_name}",
                )
    return scores


def _replay(original: tuple[int, str], request: _EventRequest) -> Event:
    event_id, request_hash = original
    if request_hash != request.request_hash:
        raise IdempotencyConflict(
            APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(key=request.idempotency_key, event_id=event_id),
            code="idempotency_conflict",
            field="idempotency_key",
        )
    event = Event.objects.get(pk=event_id)
    event.replayed = True
    return event


def _refresh_snapshots(characters, scores, registry: WorldRegistry, *, now, genesis: bool) -> None:
    by_character: dict[int, dict[int, float]] = {}
    for score in scores:
        by_character.setdefault(score.character_id, {})[score.axis_id] = score.axis_score
    fields = ["current_state_json", "state_seed", "state_version", "state_updated_at"]
    if genesis:
        fields.append("base_state_json")
    rows = []
    for character in characters:
        seed = character.state_seed if genesis else character.state_seed + 1
        snapshot = registry.snapshot(seed=seed, scores=by_character.get(character.id, {}))
        row = [snapshot, seed, registry.policy_hash, now]
        if genesis:
            row.append(snapshot)
        rows.append((*row, character.id))
    statements.update_rows(Character, fields, rows)
