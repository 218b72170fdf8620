"""Corrections: a reversal is a new event that undoes what an earlier one applied.

The ledger is never edited. A game master who fixes a mistake writes a ``reversal`` event
whose deltas are the negated *applied* deltas of the original, on the same characters and
axes, clamped to [0, 1] like any delta (the requested delta is kept). The reversal points
at the original (``reverses``); a unique index lets an event be reversed at most once.
"""

from django.contrib.auth.base_user import AbstractBaseUser

from axes.registry import get_world_registry
from ledger.exceptions import ErrorLocation, LedgerError
from ledger.models import Event, EventEntityAxisDelta
from ledger.provenance import Actor, provenance_of
from ledger.services.events import record_or_refuse
from ledger.services.validation import (
    MAX_DELTAS_PER_EVENT,
    MAX_METADATA_VALUE_LENGTH,
    REVERSAL,
    validate_request,
)

REASON_KEY = "reason"
"""The metadata key under which a reversal records its reason."""

REVERSAL_UNKNOWN_EVENT = "unknown event {event_id}"
REVERSAL_OF_REVERSAL = (
    "event {event_id} is a reversal (of event {reverses}); a reversal cannot be reversed"
)
REVERSAL_RETIRED_AXIS = (
    "event {event_id} changed axis {axis!r}, which is now retired in world {world_id!r}; "
    "it cannot be reversed"
)
REVERSAL_BAD_REASON = (
    f"reason must be a non-empty string of at most {MAX_METADATA_VALUE_LENGTH} characters"
)


def reverse_event(
    *,
    event_id: int,
    reason: str,
    idempotency_key: str | None = None,
    actor: Actor | AbstractBaseUser | None = None,
    source: str | None = None,
    request_id: str | None = None,
) -> Event:
    """Undo what event ``event_id`` applied, with a new ``reversal`` event.

    Args:
        event_id: The event to reverse.
        reason: Why; recorded in the reversal's metadata under ``reason``.
        idempotency_key: Optional client key; a retry returns the reversal it made.
        actor, source, request_id: The provenance, as for ``apply_event``.

    Raises:
        LedgerError: Unknown event (``unknown_event``), a reversal (``not_reversible``),
            an axis of the event is now retired (``retired_axis``), a bad reason
            (``invalid``), or the event was already reversed (``already_reversed``,
            naming the reversal). Nothing was written.
        LedgerError, OutcomeUnknown: A database failure, as for ``apply_event``.

    Returns:
        The reversal, as ``apply_event`` returns events (``replayed`` for a retry).
    """
    original = Event.objects.select_related("world").filter(pk=event_id).first()
    if original is None:
        raise LedgerError(
            REVERSAL_UNKNOWN_EVENT.format(event_id=event_id),
            code="unknown_event",
            location=ErrorLocation(part="event_id"),
        )
    if original.reverses_id is not None:
        raise LedgerError(
            REVERSAL_OF_REVERSAL.format(event_id=event_id, reverses=original.reverses_id),
            code="not_reversible",
            location=ErrorLocation(part="event_id"),
        )
    if not isinstance(reason, str) or not reason or len(reason) > MAX_METADATA_VALUE_LENGTH:
        raise LedgerError(
            REVERSAL_BAD_REASON, code="invalid", location=ErrorLocation(part="reason")
        )
    registry = get_world_registry(original.world)
    deltas: dict[int, dict[str, float]] = {}
    # One past the cap is enough for validate_request to refuse a wide system event
    # (too_many_deltas) without reading all of it.
    rows = EventEntityAxisDelta.objects.filter(event_id=original.pk).order_by("pk")
    for character_id, axis_id, applied in rows.values_list("character_id", "axis_id", "delta")[
        : MAX_DELTAS_PER_EVENT + 1
    ]:
        axis = registry.by_id[axis_id]
        if not axis.is_active:
            raise LedgerError(
                REVERSAL_RETIRED_AXIS.format(
                    event_id=event_id, axis=axis.name, world_id=original.world_id
                ),
                code="retired_axis",
                location=ErrorLocation(part="event_id"),
            )
        deltas.setdefault(character_id, {})[axis.name] = -applied + 0.0
    request = validate_request(
        world_id=original.world_id,
        event_type=REVERSAL,
        deltas=deltas,
        metadata={REASON_KEY: reason},
        idempotency_key=idempotency_key,
        reverses=original.pk,
    )
    provenance = provenance_of(actor=actor, source=source, request_id=request_id)
    return record_or_refuse([request], provenance, batched=False)[0]
