"""Writes to the event ledger: the only code that creates Event, delta and metadata rows.

An event is applied in one transaction: validate everything, lock the touched rows in a
fixed order, insert the event with its deltas and metadata, then have
``ledger.services.state`` update the scores and refresh the touched characters'
snapshots. Any failure raises ``LedgerError`` and the transaction (or the caller's
savepoint) rolls back, so nothing is half-written; only a connection lost during the
COMMIT itself raises ``OutcomeUnknown`` (``pipeworks.transactions``), because then nobody
knows whether the event was written.
"""

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import datetime

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.utils import timezone

from axes.registry import WorldRegistry, get_world_registry
from axes.scoring import apply_delta
from ledger import statements
from ledger.exceptions import ErrorLocation, IdempotencyConflict, LedgerError
from ledger.models import Event, EventEntityAxisDelta, EventMetadata, EventType
from ledger.provenance import SYSTEM, Actor, Provenance, provenance_of
from ledger.records import RecordedDelta, RecordedEvent
from ledger.services import idempotency, locking, state
from ledger.services.validation import (
    APPLY_EVENT_TOO_MANY_EVENT_TYPES,
    APPLY_EVENT_UNKNOWN_WORLD,
    APPLY_EVENT_WORLD_NOT_SYNCED,
    APPLY_EVENTS_EMPTY,
    SYSTEM_EVENT_TYPES,
    EventRequest,
    max_event_types_per_world,
    refuse_system_event_type,
    refuse_too_many_batch_deltas,
    refuse_too_many_events,
    validate_batch_item,
    validate_request,
)
from pipeworks.transactions import OutcomeUnknown, atomic_commit
from worlds.models import World

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
EVENT_COLUMNS = (
    "world_id",
    "event_type_id",
    "timestamp",
    "idempotency_key",
    "request_hash",
    "occurred_at",
    "actor_user_id",
    "actor_name",
    "actor_key",
    "source",
    "request_id",
    "policy_hash",
    "reverses_id",
)

logger = logging.getLogger("pipeworks.ledger")

_MODEL_ORDER = tuple(field.attname for field in Event._meta.concrete_fields)

APPLY_EVENT_IDEMPOTENCY_RACE = (
    "idempotency_key {key!r} was used at the same moment by a different request"
)
APPLY_EVENT_DATABASE_ERROR = (
    "the database failed before the event was committed ({error}); it was rolled back: "
    "nothing was written and a retry is safe"
)
APPLY_EVENT_RETRY_KEYED = (
    "Retry with the same idempotency_key: the retry applies it exactly once, or answers "
    "with the event if it was saved"
)
APPLY_EVENT_RETRY_UNKEYED = (
    "It carried no idempotency_key: a retry may apply it twice, so look for it in the ledger first"
)
REVERSAL_ALREADY_REVERSED = "event {event_id} was already reversed by event {reversal_id}"


def apply_event(
    *,
    world_id: str,
    event_type: str,
    deltas: Mapping[int, Mapping[str, float]],
    metadata: Mapping[str, str] | None = None,
    idempotency_key: str | None = None,
    occurred_at: datetime | None = None,
    actor: Actor | AbstractBaseUser | None = None,
    source: str | None = None,
    request_id: str | None = None,
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
        occurred_at: Optional game time of the event (an aware datetime, at most
            ``PIPEWORKS_OCCURRED_AT_MAX_SKEW`` in the future); default: the server time.
        actor: Who caused it: an ``Actor`` or a Django user. None: the running
            management command and OS user (``Actor.command()``).
        source: The channel (``ledger.models.Source``): ``api``, ``admin``,
            ``command`` (the default), ``system``.
        request_id: The id of the HTTP request that asked for it, if any.

    Raises:
        LedgerError: The request is invalid (unknown world, character or axis, a
            character of another world, a retired axis, a bad number, metadata,
            occurred_at or provenance); ``location`` names the offending part. Nothing
            was written.
        IdempotencyConflict: The key was used before for a different request.
        LedgerError: With code ``database_error`` when the database failed before the
            COMMIT (a lost connection, a deadlock victim, ``database is locked``): rolled
            back, nothing was written, a retry is safe.
        OutcomeUnknown: The connection was lost during the COMMIT: the event may or may
            not have been written. Retry with the same ``idempotency_key`` (exactly once);
            without a key, look for the event before applying it again.

    Returns:
        The recorded ``Event`` (or the original one for an idempotent retry), as if
        loaded from the database, with ``replayed`` (False for a new event, True for a
        retry that applied nothing) and ``recorded`` (its deltas with labels and its
        metadata) set.
    """
    refuse_system_event_type(event_type)
    request = validate_request(
        world_id=world_id,
        event_type=event_type,
        deltas=deltas,
        metadata=metadata,
        idempotency_key=idempotency_key,
        occurred_at=occurred_at,
    )
    provenance = provenance_of(actor=actor, source=source, request_id=request_id)
    return record_or_refuse([request], provenance, batched=False)[0]


def apply_events(
    *,
    world_id: str,
    events: Sequence[Mapping],
    actor: Actor | AbstractBaseUser | None = None,
    source: str | None = None,
    request_id: str | None = None,
) -> list[Event]:
    """Apply many events in one transaction, all or nothing (a world tick).

    Each item takes the per-event keyword arguments of ``apply_event``: ``event_type``,
    ``deltas`` and optionally ``metadata``, ``idempotency_key`` and ``occurred_at``; the
    provenance (``actor``, ``source``, ``request_id``) is the call's. The
    events are applied in order, each seeing the scores the previous ones left, with the
    same validation, locking, ledger rows and snapshots as one ``apply_event`` call per
    event, but in a fixed number of bulk statements.

    Raises:
        LedgerError: Any event is invalid; its ``location.event_index`` is the event's
            position (``field`` starts with ``events.<index>``). Nothing was written.
        IdempotencyConflict: A key was used before (or earlier in the batch) for a
            different request.
        LedgerError, OutcomeUnknown: A database failure, as for ``apply_event``.

    Returns:
        One ``Event`` per item, in order (the original one for an idempotent retry), as
        ``apply_event`` returns them.
    """
    if not isinstance(events, Sequence) or isinstance(events, str) or not events:
        raise LedgerError(APPLY_EVENTS_EMPTY, code="invalid", location=ErrorLocation(part="events"))
    refuse_too_many_events(events)
    requests = []
    total_deltas = 0
    for index, item in enumerate(events):
        try:
            request = validate_request(world_id=world_id, **validate_batch_item(item))
        except LedgerError as exc:
            raise exc.in_batch(index) from None
        total_deltas += sum(len(axes) for axes in request.deltas.values())
        refuse_too_many_batch_deltas(total_deltas)
        requests.append(request)
    provenance = provenance_of(actor=actor, source=source, request_id=request_id)
    return record_or_refuse(requests, provenance, batched=True)


def record_system_event(
    *,
    world_id: str,
    event_type: str,
    deltas: Mapping[int, Mapping[str, float]],
    metadata: Mapping[str, str] | None = None,
    genesis: bool = False,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> Event:
    """Record an event the product itself makes (character creation, axis backfill).

    Call this inside the transaction that created the score rows it changes; only
    ``worlds.services`` does. With ``genesis=True`` the characters' ``state_seed`` stays
    0 and their ``base_state_json`` is written from the resulting scores. The actor and
    source are ``system``.

    ``idempotency_key`` and ``request_hash`` (the digest of the caller's request, e.g. a
    character's name and scores) are stored on the event, for a caller that looked the
    key up under its own lock: the key's unique index still refuses a second use
    (``IdempotencyConflict``).
    """
    request = validate_request(
        world_id=world_id,
        event_type=event_type,
        deltas=deltas,
        metadata=metadata,
        idempotency_key=idempotency_key,
        max_deltas=None,  # an axis backfill touches every character of the world
    )
    if request_hash is not None:
        request = replace(request, request_digest=request_hash)
    provenance = provenance_of(actor=SYSTEM, source=None, request_id=None)
    # No savepoint: the caller's transaction is the unit; alone, this makes one.
    with transaction.atomic(savepoint=False):
        return _record([request], provenance, genesis=genesis)[0]


def record_or_refuse(
    requests: list[EventRequest], provenance: Provenance, *, batched: bool
) -> list[Event]:
    """Record validated requests of one world in one transaction, telling failures apart.

    A database failure before COMMIT becomes a ``LedgerError`` (code ``database_error``:
    rolled back, nothing written); a connection lost during COMMIT stays
    ``OutcomeUnknown``, told how to retry.

    When every request carries an idempotency key, a lost connection (before or at the
    COMMIT, outside any caller's transaction) is retried once on a new connection after
    ``PIPEWORKS_WRITE_RETRY_DELAY``: the key makes it exactly-once (if the first COMMIT
    landed, the retry finds the events and answers as their idempotent replay). A write
    without a key is never retried: it could be applied twice. If the retry fails too,
    the answer is the first failure's when that one left the outcome unknown.
    """
    try:
        return _record_once(requests, provenance, batched=batched)
    except (LedgerError, OutcomeUnknown) as exc:
        if not _retry_allowed(requests, exc):
            raise
        first = exc
    delay = settings.PIPEWORKS_WRITE_RETRY_DELAY
    logger.warning(
        WRITE_RETRIED,
        ", ".join(request.idempotency_key for request in requests[:5]),
        getattr(first, "code", ""),
        _first_line(first.__cause__ or first),
    )
    _close_quietly()
    time.sleep(delay)
    try:
        return _record_once(requests, provenance, batched=batched)
    except Exception as exc:
        # The first COMMIT may have landed: whatever stopped the retry (a lost connection,
        # a read-only node after a failover, a check that failed before the key was
        # looked up), the outcome is still unknown. (A retry that found the first write
        # answers its replay; it cannot conflict, the request is the same.)
        if isinstance(first, OutcomeUnknown):
            raise first from exc
        raise


WRITE_RETRIED = "write retried on a new connection after a lost one (idempotency key %s): %s: %s"

# SQLSTATEs of a connection lost to the server: the connection exceptions (class 08) and
# the server shutting down or not yet accepting (57P01 admin_shutdown, 57P02
# crash_shutdown, 57P03 cannot_connect_now). Not 57014 (a statement timeout or a cancel):
# the server is there, and retrying would double the load that made it slow. A failure
# without a SQLSTATE is the driver's own lost connection.
_LOST_CONNECTION_SQLSTATE_CLASS = "08"
_LOST_CONNECTION_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def _record_once(requests, provenance, *, batched):
    try:
        with atomic_commit(), statements.one_cursor():
            return _record(requests, provenance, genesis=False, batched=batched)
    except (OperationalError, InterfaceError) as exc:
        # A lost connection, a deadlock victim, a lock timeout: transient, rolled back.
        # Any other database error is a fault of the product (a missing grant, a broken
        # query) that a retry would only repeat: it stays itself, and becomes a 500.
        raise LedgerError(
            APPLY_EVENT_DATABASE_ERROR.format(error=exc.__class__.__name__),
            code="database_error",
        ) from exc
    except OutcomeUnknown as exc:
        keyed = all(request.idempotency_key for request in requests)
        advice = APPLY_EVENT_RETRY_KEYED if keyed else APPLY_EVENT_RETRY_UNKEYED
        raise OutcomeUnknown(f"{exc.message}. {advice}") from exc


def _retry_allowed(requests: list[EventRequest], exc: Exception) -> bool:
    """Whether the server may retry this failed write itself (see ``record_or_refuse``).

    Only on PostgreSQL (SQLite, in-process, has no connection to lose; its ``database is
    locked`` already waited the busy timeout), only keyed, only outside a caller's
    transaction (whose earlier work the lost connection rolled back), and only for a
    lost connection: not a deadlock, a serialization failure or a lock timeout.
    """
    if settings.PIPEWORKS_WRITE_RETRY_DELAY < 0 or connection.vendor != "postgresql":
        return False
    if not all(request.idempotency_key for request in requests) or connection.in_atomic_block:
        return False
    if isinstance(exc, OutcomeUnknown):
        return True
    cause = exc.__cause__
    if exc.code != "database_error" or cause is None:
        return False
    if isinstance(cause, InterfaceError):
        return True
    sqlstate = getattr(cause.__cause__, "sqlstate", None)
    return (
        sqlstate is None
        or sqlstate[:2] == _LOST_CONNECTION_SQLSTATE_CLASS
        or sqlstate in _LOST_CONNECTION_SQLSTATES
    )


def _close_quietly() -> None:
    """Drop the broken connection: the retry opens a new one (Django would not yet)."""
    try:
        connection.close()
    except DatabaseError:
        pass  # closing a dead connection may fail; it is gone either way


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _record(
    requests: list[EventRequest],
    provenance: Provenance,
    *,
    genesis: bool,
    batched: bool = False,
) -> list[Event]:
    """Apply validated requests of one world, in order, in the caller's transaction.

    The statement count does not depend on the number of events, characters or axes:
    every read and write below is one statement (split only at the backend's parameter
    limit).
    """

    def located(error: LedgerError, index: int) -> LedgerError:
        return error.in_batch(index) if batched else error

    world_id = requests[0].world_id
    touched = sorted({cid for request in requests for cid in request.deltas})
    # One statement reads the world and locks the characters with their scores; when it
    # misses a character, the separate reads below let the checks name what is wrong.
    world, locked = locking.lock_rows(world_id, touched)
    if world is None:
        world = statements.fetch_world(world_id)
    if world is None:
        raise LedgerError(
            APPLY_EVENT_UNKNOWN_WORLD.format(world_id=world_id),
            code="unknown_world",
            location=ErrorLocation(part="world_id"),
        )
    if not world.policy_hash:
        raise LedgerError(
            APPLY_EVENT_WORLD_NOT_SYNCED.format(world_id=world_id),
            code="world_not_synced",
            location=ErrorLocation(part="world_id"),
        )
    registry = get_world_registry(world)
    for index, request in enumerate(requests):
        try:
            locking.check_axes(request, registry)
        except LedgerError as exc:
            raise located(exc, index) from None
    try:
        if locked is None:
            characters = locking.lock_characters(touched, world)
            scores = locking.lock_scores(world, touched)
        else:
            characters, scores = locked
        locking.check_scores(requests, scores, world, registry)
    except LedgerError as exc:
        # The checks ran over the whole batch; point at the first event naming the row.
        character_id = exc.location.character_id
        index = next(i for i, r in enumerate(requests) if character_id in r.deltas)
        raise located(exc, index) from None

    # Checked after the locks: a concurrent retry of the same request touches the
    # same rows, so it waits here and then sees the committed original.
    outcomes = idempotency.decide(requests, world_id, located)
    fresh = [
        request
        for request, outcome in zip(requests, outcomes, strict=True)
        if isinstance(outcome, idempotency.Apply)
    ]
    if not fresh:
        return idempotency.line_up(outcomes, [])
    _refuse_reversed_twice(fresh)

    now = timezone.now()
    # What each event writes, computed under the locks before anything is written: its
    # deltas and metadata (without the event's id, known once it is inserted), the
    # scores and the snapshots.
    pending: list[tuple[list[tuple], list[tuple]]] = []
    changed: dict[int, state.LockedScore] = {}
    events_per_character: dict[int, int] = {}
    for request in fresh:
        deltas = []
        for character_id in sorted(request.deltas):
            events_per_character[character_id] = events_per_character.get(character_id, 0) + 1
            for axis_name, requested in sorted(request.deltas[character_id].items()):
                axis_id = registry.by_name[axis_name].id
                score = scores[(character_id, axis_id)]
                new_score, applied = apply_delta(score.axis_score, requested)
                deltas.append(
                    (
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
        metadata = [(world_id, key, value) for key, value in sorted(request.metadata.items())]
        pending.append((deltas, metadata))
    by_character: dict[int, dict[int, float]] = {}
    for score in scores.values():
        by_character.setdefault(score.character_id, {})[score.axis_id] = score.axis_score
    event_state = {
        "scores": [(score.id, score.axis_score) for score in changed.values()],
        "registry": registry,
        "states": [
            state.CharacterState(
                character_id=character.id,
                seed=character.state_seed + (0 if genesis else events_per_character[character.id]),
                scores=by_character.get(character.id, {}),
            )
            for character in characters
            if character.id in events_per_character
        ],
        "now": now,
        "base": genesis,
    }

    def make_types() -> dict[str, tuple[int, str]]:
        return _event_types(
            world, fresh, located=lambda error, request: located(error, requests.index(request))
        )

    # One event: its INSERT looks up the type's id (None in the row until then); on
    # PostgreSQL that INSERT also carries the deltas, metadata, scores and snapshots.
    rows = [_event_row(request, None, world.policy_hash, provenance, now) for request in fresh]
    whole = len(fresh) == 1 and statements.on_postgresql()
    if len(fresh) == 1:
        (request,), ((deltas, metadata),) = fresh, pending
        if whole:
            rows_of_event = statements.EventRows(
                columns=EVENT_COLUMNS,
                row=rows[0],
                event_type=request.event_type,
                inserts=(
                    (EventEntityAxisDelta, DELTA_COLUMNS[1:], deltas),
                    (EventMetadata, METADATA_COLUMNS[1:], metadata),
                ),
            )

            def write():
                return state.write_event_state(**event_state, event=rows_of_event)
        else:

            def write():
                return statements.insert_event_of_type(EVENT_COLUMNS, rows[0], request.event_type)

        written = _guarded_insert(fresh, write)
        if written is None:  # a type the world does not have yet: nothing was written
            make_types()
            written = _guarded_insert(fresh, write)
        event_id, type_id, description = written
        event_ids, types = [event_id], {request.event_type: (type_id, description)}
    else:
        types = make_types()
        rows = [
            _event_row(request, types[request.event_type][0], world.policy_hash, provenance, now)
            for request in fresh
        ]
        event_ids = _guarded_insert(fresh, lambda: statements.insert_events(EVENT_COLUMNS, rows))
    delta_rows = [
        (event_id, *delta)
        for event_id, (deltas, _) in zip(event_ids, pending, strict=True)
        for delta in deltas
    ]
    if not whole:
        metadata_rows = [
            (event_id, *entry)
            for event_id, (_, metadata) in zip(event_ids, pending, strict=True)
            for entry in metadata
        ]
        statements.insert_rows_together(
            [
                (EventEntityAxisDelta, DELTA_COLUMNS, delta_rows),
                (EventMetadata, METADATA_COLUMNS, metadata_rows),
            ]
        )
        state.write_event_state(**event_state)
    created = _recorded_events(event_ids, rows, fresh, types, delta_rows, registry)
    return idempotency.line_up(outcomes, created)


@dataclass(frozen=True)
class ComputedEvent:
    """A system event whose deltas its writer computed under its own locks (drift).

    ``deltas`` are ``(character_id, axis_id, old, new, applied, requested)``, each already
    clamped and quantised as ``apply_delta`` would (``verify_ledger`` checks it);
    ``occurred_at`` is the game time it stands for.
    """

    event_type: str
    deltas: list[tuple[int, int, float, float, float, float]]
    metadata: dict[str, str]
    occurred_at: datetime

    @property
    def request_hash(self) -> str:
        """The digest of what was asked, as a client event's (the column is required)."""
        request = {
            "event_type": self.event_type,
            "deltas": [[cid, axis_id, requested] for cid, axis_id, *_, requested in self.deltas],
            "metadata": self.metadata,
        }
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def record_computed_events(
    *,
    world: World,
    registry: WorldRegistry,
    events: list[ComputedEvent],
    provenance: Provenance,
    seeds: Mapping[int, int],
    scores: Mapping[int, list[state.LockedScore]],
    now: datetime,
) -> list[int]:
    """Write events computed by the caller, with the same rows ``apply_events`` writes.

    Call inside the caller's transaction, after locking the touched characters (their
    ``seeds``) and all their score rows (``scores``, by character; updated here). The
    scores, seeds (+1 per event touching a character) and snapshots move as for any
    event. Returns the new event ids, in order.
    """
    names = sorted({event.event_type for event in events})
    types = statements.find_event_types(world.world_id, names)
    for name in names:
        if name not in types:
            types[name] = (EventType.objects.get_or_create(world=world, name=name)[0].pk, "")
    rows = [
        (
            world.world_id,
            types[event.event_type][0],
            now,
            None,
            event.request_hash,
            event.occurred_at,
            provenance.actor.user_id,
            provenance.actor.name,
            provenance.actor.key,
            provenance.source,
            provenance.request_id,
            world.policy_hash,
            None,
        )
        for event in events
    ]
    event_ids = statements.insert_events(EVENT_COLUMNS, rows)
    by_key = {
        (score.character_id, score.axis_id): score
        for character_scores in scores.values()
        for score in character_scores
    }
    delta_rows, metadata_rows, changed = [], [], {}
    touched: dict[int, int] = {}  # character -> events touching it
    for event_id, event in zip(event_ids, events, strict=True):
        for character_id, axis_id, old, new, applied, requested in event.deltas:
            delta_rows.append(
                (event_id, world.world_id, character_id, axis_id, old, new, applied, requested)
            )
            score = by_key[(character_id, axis_id)]
            score.axis_score = new
            changed[score.id] = new
        for character_id in {delta[0] for delta in event.deltas}:
            touched[character_id] = touched.get(character_id, 0) + 1
        metadata_rows += [
            (event_id, world.world_id, key, value) for key, value in sorted(event.metadata.items())
        ]
    statements.insert_rows(EventEntityAxisDelta, DELTA_COLUMNS, delta_rows)
    statements.insert_rows(EventMetadata, METADATA_COLUMNS, metadata_rows)
    state.update_scores(sorted(changed.items()), now=now)
    state.write_snapshots(
        registry=registry,
        states=[
            state.CharacterState(
                character_id=character_id,
                seed=seeds[character_id] + count,
                scores={score.axis_id: score.axis_score for score in scores[character_id]},
            )
            for character_id, count in sorted(touched.items())
        ],
        now=now,
    )
    return event_ids


def _event_types(world: World, requests: list[EventRequest], located) -> dict[str, tuple[int, str]]:
    """Return ``{name: (id, description)}`` of the requests' event types, creating missing ones.

    A world holds at most ``PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD`` types made by clients
    (the reserved ones do not count): the count is read only when a new type is about to
    be made. ``located(error, request)`` places a refusal on the request that named the
    first type past the limit.
    """
    names = {request.event_type for request in requests}
    found = statements.find_event_types(world.world_id, sorted(names))
    new = [  # client types to create, in order of first use
        name
        for name in dict.fromkeys(request.event_type for request in requests)
        if name not in found and name not in SYSTEM_EVENT_TYPES
    ]
    if new:
        limit = max_event_types_per_world()
        count = EventType.objects.filter(world=world).exclude(name__in=SYSTEM_EVENT_TYPES).count()
        if count + len(new) > limit:
            refused = new[max(limit - count, 0)]
            request = next(request for request in requests if request.event_type == refused)
            error = LedgerError(
                APPLY_EVENT_TOO_MANY_EVENT_TYPES.format(
                    value=refused, world_id=world.world_id, count=count, limit=limit
                ),
                code="too_many_event_types",
                location=ErrorLocation(part="event_type"),
            )
            raise located(error, request)
    for name in sorted(names - found.keys()):
        event_type = EventType.objects.get_or_create(world=world, name=name)[0]
        found[name] = (event_type.pk, event_type.description)
    return found


def _event_row(request: EventRequest, type_id, policy_hash, provenance: Provenance, now) -> tuple:
    """Return the event's row, in ``EVENT_COLUMNS`` order."""
    return (
        request.world_id,
        type_id,
        now,
        request.idempotency_key,
        request.request_hash,
        request.occurred_at or now,
        provenance.actor.user_id,
        provenance.actor.name,
        provenance.actor.key,
        provenance.source,
        provenance.request_id,
        policy_hash,
        request.reverses,
    )


def _refuse_reversed_twice(requests: list[EventRequest]) -> None:
    """Refuse a reversal of an event that already has one (checked under the locks)."""
    reversed_ids = [request.reverses for request in requests if request.reverses is not None]
    done = statements.find_reversals(reversed_ids) if reversed_ids else {}
    for event_id, reversal_id in sorted(done.items()):
        raise LedgerError(
            REVERSAL_ALREADY_REVERSED.format(event_id=event_id, reversal_id=reversal_id),
            code="already_reversed",
            location=ErrorLocation(part="event_id"),
        )


def _guarded_insert(requests: list[EventRequest], insert):
    """Return ``insert()``, the statement inserting the events; a unique index refusing
    an event (a concurrent use of its idempotency key, or reversal of its event) is told
    as such."""
    keyed = any(request.idempotency_key for request in requests)
    reversal = any(request.reverses is not None for request in requests)
    try:
        # A savepoint only when a unique index could refuse a row, so the common path
        # stays short.
        with transaction.atomic() if keyed or reversal else nullcontext():
            return insert()
    except IntegrityError as exc:
        if reversal:
            # A concurrent reversal of the same event won the race (the locks make this
            # rare: both lock the same rows); name it if it is visible, else fall through.
            _refuse_reversed_twice(requests)
        if not keyed:
            raise
        # Only the idempotency key is unique on this table: a concurrent request with
        # the same key but other rows won the race; its payload necessarily differs.
        raise IdempotencyConflict(
            APPLY_EVENT_IDEMPOTENCY_RACE.format(
                key=", ".join(r.idempotency_key for r in requests if r.idempotency_key)
            ),
            code="idempotency_conflict",
            location=ErrorLocation(part="idempotency_key"),
        ) from exc


def _recorded_events(
    event_ids, rows, requests: list[EventRequest], types, delta_rows, registry: WorldRegistry
) -> list[Event]:
    """Return the new events as loaded model instances carrying what was written."""
    deltas: dict[int, list[RecordedDelta]] = {}
    for event_id, _, character_id, axis_id, old, new, applied, requested in delta_rows:
        deltas.setdefault(event_id, []).append(
            RecordedDelta.labelled(
                registry.by_id[axis_id], character_id, old, new, applied, requested
            )
        )
    events = []
    for event_id, row, request in zip(event_ids, rows, requests, strict=True):
        # from_db takes the values in the model's field order.
        values = dict(zip(EVENT_COLUMNS, row, strict=True), id=event_id)
        values["event_type_id"] = types[request.event_type][0]
        event = Event.from_db(
            connection.alias, _MODEL_ORDER, [values[column] for column in _MODEL_ORDER]
        )
        event.replayed = False
        event.recorded = RecordedEvent.of(
            (request.event_type, types[request.event_type][1]), deltas[event_id], request.metadata
        )
        events.append(event)
    return events
