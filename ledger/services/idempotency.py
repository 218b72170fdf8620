"""Idempotency keys: whether each request of a call is applied or replays an event.

A key already in the ledger replays its event (same request hash) or is refused (another
one); a key repeated within one batch maps to the earlier request. The three outcomes
are named types, so ``events`` matches on them.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ledger import statements
from ledger.exceptions import ErrorLocation, IdempotencyConflict, LedgerError
from ledger.models import Event
from ledger.selectors import load_recorded_events
from ledger.services.validation import EventRequest

APPLY_EVENT_IDEMPOTENCY_CONFLICT = (
    "idempotency_key {key!r} was already used for a different request (event {event_id})"
)


@dataclass(frozen=True)
class Apply:
    """A request to apply: no key, or a key used for the first time."""


@dataclass(frozen=True)
class ReplayStored:
    """A retry of an event already in the ledger: answer with that event."""

    event_id: int


@dataclass(frozen=True)
class RepeatInBatch:
    """A key repeated within one batch: the same event as the earlier request."""

    index: int


Outcome = Apply | ReplayStored | RepeatInBatch


def decide(
    requests: list[EventRequest], world_id: str, located: Callable[[LedgerError, int], LedgerError]
) -> list[Outcome]:
    """Decide, for each request, whether to apply it or which event it replays.

    Call after the touched rows are locked: a concurrent retry of the same request
    touches the same rows, so it waits for the original's commit and then finds it.
    ``located`` places an error at its request's index (in a batch).
    """
    keys = [request.idempotency_key for request in requests if request.idempotency_key]
    stored = statements.find_events_by_key(world_id, keys) if keys else {}
    outcomes: list[Outcome] = []
    first_use: dict[str, int] = {}
    for index, request in enumerate(requests):
        key = request.idempotency_key
        if key is None:
            outcomes.append(Apply())
        elif key in stored:
            event_id, request_hash = stored[key]
            if request_hash != request.request_hash:
                conflict = IdempotencyConflict(
                    APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(key=key, event_id=event_id),
                    code="idempotency_conflict",
                    location=ErrorLocation(part="idempotency_key"),
                )
                raise located(conflict, index)
            outcomes.append(ReplayStored(event_id))
        elif key in first_use:
            if requests[first_use[key]].request_hash != request.request_hash:
                raise IdempotencyConflict(
                    APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(key=key, event_id="in this batch"),
                    code="idempotency_conflict",
                    location=ErrorLocation(part="idempotency_key", event_index=index),
                )
            outcomes.append(RepeatInBatch(first_use[key]))
        else:
            first_use[key] = index
            outcomes.append(Apply())
    return outcomes


def line_up(outcomes: list[Outcome], created: list[Event]) -> list[Event]:
    """Line up the new events and the replayed originals in request order.

    Replayed originals are read back with their recorded deltas, ``replayed`` set.
    """
    replayed_ids = [o.event_id for o in outcomes if isinstance(o, ReplayStored)]
    originals = load_recorded_events(replayed_ids) if replayed_ids else {}
    new = iter(created)
    result: list[Event] = []
    for outcome in outcomes:
        match outcome:
            case Apply():
                result.append(next(new))
            case ReplayStored(event_id):
                event = originals[event_id]
                event.replayed = True
                result.append(event)
            case RepeatInBatch(index):
                result.append(result[index])
    return result
