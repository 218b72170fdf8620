"""The checks of an event request that need no database, and their error messages.

``validate_request`` turns the keyword arguments of ``apply_event`` (or one item of a
batch) into an ``EventRequest``, or raises ``LedgerError`` naming the offending part of
the request. What needs the database (the world, its axes, the characters) is checked by
``ledger.services.events`` once the rows are read.
"""

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from django.conf import settings
from django.utils import timezone

from ledger.exceptions import ErrorLocation, LedgerError
from ledger.provenance import check_occurred_at

# Event types the product itself writes; clients may not forge them. Events clients
# wrote under these names before a name was reserved stay valid history.
CHARACTER_CREATED = "character_created"
AXES_ADDED = "policy_axes_added"
REVERSAL = "reversal"
DRIFT = "drift"
SYSTEM_EVENT_TYPES = frozenset({CHARACTER_CREATED, AXES_ADDED, REVERSAL, DRIFT})

EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
MAX_METADATA_ENTRIES = 50
MAX_METADATA_KEY_LENGTH = 100
MAX_METADATA_VALUE_LENGTH = 1000
MAX_IDEMPOTENCY_KEY_LENGTH = 200
# Bounded cost per request (docs/security.md). A trade touches 2 characters, a raid some
# 50 characters on a few axes (~250 deltas); 1,000 leaves four times that and keeps one
# event's write, its admin page and its reversal well under a second. A world tick of
# 5,000 one-character events of up to 4 axes is 20,000 deltas; a bigger change is
# several requests. System events (character creation, the axis backfill of
# ``sync_policies``) are exempt: the product bounds them by the world's size.
MAX_DELTAS_PER_EVENT = 1_000
MAX_BATCH_EVENTS = 5_000
MAX_BATCH_DELTAS = 20_000
DEFAULT_MAX_EVENT_TYPES_PER_WORLD = 1_000
BATCH_ITEM_KEYS = frozenset({"event_type", "deltas", "metadata", "idempotency_key", "occurred_at"})

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
APPLY_EVENT_TOO_MANY_DELTAS = (
    f"an event takes at most {MAX_DELTAS_PER_EVENT} deltas (character and axis pairs); "
    "split a bigger change into several events"
)
APPLY_EVENT_TOO_MANY_EVENT_TYPES = (
    "event_type {value!r} would be a new event type of world {world_id!r}, which has "
    "{count} of the {limit} allowed (PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD); reuse an "
    "existing type"
)
APPLY_EVENTS_EMPTY = "events must be a non-empty list of events"
APPLY_EVENTS_TOO_MANY = (
    f"a batch takes at most {MAX_BATCH_EVENTS} events (got {{count}}); send several batches"
)
APPLY_EVENTS_TOO_MANY_DELTAS = (
    f"a batch takes at most {MAX_BATCH_DELTAS} deltas in all; send several batches"
)
APPLY_EVENTS_NOT_MAPPING = "an event must be an object"
APPLY_EVENTS_UNKNOWN_KEYS = "unknown key(s) {keys}"


@dataclass(frozen=True)
class EventRequest:
    """A request that passed the checks that need no database, normalised."""

    world_id: str
    event_type: str
    deltas: dict[int, dict[str, float]]
    metadata: dict[str, str]
    idempotency_key: str | None
    occurred_at: datetime | None = None
    """The game time the client gave; None: the server's time is recorded."""
    reverses: int | None = None
    """The id of the event a reversal undoes (reversals only)."""
    request_digest: str | None = None
    """The digest of the caller's own request, when the event is not what it asked for
    (a character creation asks for a name and scores); None: the event's digest."""

    @cached_property
    def request_hash(self) -> str:
        """Return the digest an idempotent retry must match (key order and -0.0 aside).

        ``occurred_at`` counts only when the client gave it, so the digest of a request
        without one is what it was before the field existed.
        """
        if self.request_digest is not None:
            return self.request_digest
        request = {
            "event_type": self.event_type,
            "deltas": {str(cid): axes for cid, axes in self.deltas.items()},
            "metadata": self.metadata,
        }
        if self.occurred_at is not None:
            request["occurred_at"] = self.occurred_at.astimezone(UTC).isoformat()
        if self.reverses is not None:
            request["reverses"] = self.reverses
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def refuse_system_event_type(event_type) -> None:
    """Refuse the event types only the product writes, for a client's request."""
    if isinstance(event_type, str) and event_type in SYSTEM_EVENT_TYPES:
        raise LedgerError(
            APPLY_EVENT_RESERVED_EVENT_TYPE.format(value=event_type),
            code="reserved_event_type",
            location=ErrorLocation(part="event_type"),
        )


def validate_batch_item(item) -> dict:
    """Return one batch item as ``validate_request`` keyword arguments, or refuse it."""
    if not isinstance(item, Mapping):
        raise LedgerError(APPLY_EVENTS_NOT_MAPPING, code="invalid")
    unknown = set(item) - BATCH_ITEM_KEYS
    if unknown:
        raise LedgerError(
            APPLY_EVENTS_UNKNOWN_KEYS.format(keys=", ".join(sorted(map(str, unknown)))),
            code="invalid",
        )
    refuse_system_event_type(item.get("event_type"))
    return {key: item.get(key) for key in BATCH_ITEM_KEYS}


def max_event_types_per_world() -> int:
    """Return how many event types clients may create per world (reserved ones aside)."""
    return getattr(
        settings, "PIPEWORKS_MAX_EVENT_TYPES_PER_WORLD", DEFAULT_MAX_EVENT_TYPES_PER_WORLD
    )


def refuse_too_many_events(events) -> None:
    """Refuse a batch of more than ``MAX_BATCH_EVENTS`` events, before reading any."""
    if len(events) > MAX_BATCH_EVENTS:
        raise LedgerError(
            APPLY_EVENTS_TOO_MANY.format(count=len(events)),
            code="batch_too_large",
            location=ErrorLocation(part="events"),
        )


def refuse_too_many_batch_deltas(total: int) -> None:
    """Refuse a batch whose events hold more than ``MAX_BATCH_DELTAS`` deltas so far."""
    if total > MAX_BATCH_DELTAS:
        raise LedgerError(
            APPLY_EVENTS_TOO_MANY_DELTAS,
            code="batch_too_large",
            location=ErrorLocation(part="events"),
        )


def validate_request(
    *,
    world_id,
    event_type,
    deltas,
    metadata,
    idempotency_key,
    occurred_at=None,
    reverses=None,
    max_deltas: int | None = MAX_DELTAS_PER_EVENT,
) -> EventRequest:
    """Check everything that needs no database, and normalise the request.

    ``max_deltas`` bounds the (character, axis) pairs of a client's request; None (the
    product's own events only) lifts the bound.
    """
    if not isinstance(world_id, str) or not world_id:
        raise LedgerError(
            APPLY_EVENT_UNKNOWN_WORLD.format(world_id=world_id),
            code="unknown_world",
            location=ErrorLocation(part="world_id"),
        )
    if not isinstance(event_type, str) or not EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise LedgerError(
            APPLY_EVENT_BAD_EVENT_TYPE.format(value=event_type),
            code="invalid",
            location=ErrorLocation(part="event_type"),
        )
    return EventRequest(
        world_id=world_id,
        event_type=event_type,
        deltas=_validate_deltas(deltas, max_deltas=max_deltas),
        metadata=_validate_metadata(metadata),
        idempotency_key=_validate_idempotency_key(idempotency_key),
        occurred_at=check_occurred_at(occurred_at, now=timezone.now()),
        reverses=reverses,
    )


def _validate_deltas(deltas, *, max_deltas: int | None) -> dict[int, dict[str, float]]:
    if not isinstance(deltas, Mapping):
        raise LedgerError(
            APPLY_EVENT_DELTAS_NOT_MAPPING.format(kind=type(deltas).__name__),
            code="invalid",
            location=ErrorLocation(part="deltas"),
        )
    clean_deltas: dict[int, dict[str, float]] = {}
    pairs = 0
    for character_id, axes in deltas.items():
        if isinstance(character_id, bool) or not isinstance(character_id, int) or character_id < 1:
            raise LedgerError(
                APPLY_EVENT_BAD_CHARACTER_ID.format(value=character_id),
                code="invalid",
                location=ErrorLocation(part="deltas"),
            )
        character = ErrorLocation(part="deltas", character_id=character_id)
        if not isinstance(axes, Mapping):
            raise LedgerError(
                APPLY_EVENT_AXES_NOT_MAPPING.format(character_id=character_id),
                code="invalid",
                location=character,
            )
        pairs += len(axes)
        if max_deltas is not None and pairs > max_deltas:
            # Before reading the pairs: the work done on a refused request stays bounded.
            raise LedgerError(
                APPLY_EVENT_TOO_MANY_DELTAS,
                code="too_many_deltas",
                location=ErrorLocation(part="deltas"),
            )
        clean_axes = {}
        for axis_name, delta in axes.items():
            if not isinstance(axis_name, str) or not axis_name:
                raise LedgerError(
                    APPLY_EVENT_BAD_AXIS_NAME.format(value=axis_name),
                    code="invalid",
                    location=character,
                )
            if (
                isinstance(delta, bool)
                or not isinstance(delta, int | float)
                or not math.isfinite(delta)
            ):
                raise LedgerError(
                    APPLY_EVENT_BAD_DELTA.format(axis=axis_name, value=delta),
                    code="invalid",
                    location=ErrorLocation(
                        part="deltas", character_id=character_id, axis=axis_name
                    ),
                )
            clean_axes[axis_name] = float(delta) + 0.0  # -0.0 is 0.0 (one request hash)
        if clean_axes:
            clean_deltas[character_id] = clean_axes
    if not clean_deltas:
        raise LedgerError(
            APPLY_EVENT_NO_DELTAS, code="invalid", location=ErrorLocation(part="deltas")
        )
    return clean_deltas


def _validate_metadata(metadata) -> dict[str, str]:
    if metadata is None:
        return {}
    whole = ErrorLocation(part="metadata")
    if not isinstance(metadata, Mapping):
        raise LedgerError(
            APPLY_EVENT_METADATA_NOT_MAPPING.format(kind=type(metadata).__name__),
            code="invalid",
            location=whole,
        )
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise LedgerError(APPLY_EVENT_TOO_MUCH_METADATA, code="invalid", location=whole)
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or len(key) > MAX_METADATA_KEY_LENGTH:
            raise LedgerError(
                APPLY_EVENT_BAD_METADATA_KEY.format(value=key), code="invalid", location=whole
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE_LENGTH:
            kind = f"{len(value)} characters" if isinstance(value, str) else type(value).__name__
            raise LedgerError(
                APPLY_EVENT_BAD_METADATA_VALUE.format(key=key, kind=kind),
                code="invalid",
                location=ErrorLocation(part="metadata", key=key),
            )
    return dict(metadata)


def _validate_idempotency_key(key) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise LedgerError(
            APPLY_EVENT_BAD_IDEMPOTENCY_KEY,
            code="invalid",
            location=ErrorLocation(part="idempotency_key"),
        )
    return key
