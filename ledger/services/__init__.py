"""The ledger's writes: events (``events``) and the character state they move (``state``).

``events`` is the only code that creates Event, delta and metadata rows, with the checks
of ``validation`` (no database), ``locking`` (under the row locks) and ``idempotency``;
``state`` is the only code that writes score rows and snapshots. The public names are
re-exported here, so callers write ``from ledger.services import apply_event``.
"""

from ledger.services.events import (
    APPLY_EVENT_DATABASE_ERROR,
    APPLY_EVENT_IDEMPOTENCY_RACE,
    apply_event,
    apply_events,
    record_system_event,
)
from ledger.services.idempotency import APPLY_EVENT_IDEMPOTENCY_CONFLICT
from ledger.services.locking import (
    APPLY_EVENT_FOREIGN_CHARACTER,
    APPLY_EVENT_MISSING_SCORE,
    APPLY_EVENT_RETIRED_AXIS,
    APPLY_EVENT_UNKNOWN_AXIS,
    APPLY_EVENT_UNKNOWN_CHARACTER,
)
from ledger.services.reversal import reverse_event
from ledger.services.state import (
    CharacterState,
    RebuildResult,
    create_scores,
    rebuild_scores,
    refresh_snapshots,
)
from ledger.services.validation import (
    APPLY_EVENT_AXES_NOT_MAPPING,
    APPLY_EVENT_BAD_AXIS_NAME,
    APPLY_EVENT_BAD_CHARACTER_ID,
    APPLY_EVENT_BAD_DELTA,
    APPLY_EVENT_BAD_EVENT_TYPE,
    APPLY_EVENT_BAD_IDEMPOTENCY_KEY,
    APPLY_EVENT_BAD_METADATA_KEY,
    APPLY_EVENT_BAD_METADATA_VALUE,
    APPLY_EVENT_DELTAS_NOT_MAPPING,
    APPLY_EVENT_METADATA_NOT_MAPPING,
    APPLY_EVENT_NO_DELTAS,
    APPLY_EVENT_RESERVED_EVENT_TYPE,
    APPLY_EVENT_TOO_MUCH_METADATA,
    APPLY_EVENT_UNKNOWN_WORLD,
    APPLY_EVENT_WORLD_NOT_SYNCED,
    APPLY_EVENTS_EMPTY,
    APPLY_EVENTS_NOT_MAPPING,
    APPLY_EVENTS_UNKNOWN_KEYS,
    AXES_ADDED,
    CHARACTER_CREATED,
    DRIFT,
    REVERSAL,
    SYSTEM_EVENT_TYPES,
)

__all__ = [
    "APPLY_EVENTS_EMPTY",
    "APPLY_EVENTS_NOT_MAPPING",
    "APPLY_EVENTS_UNKNOWN_KEYS",
    "APPLY_EVENT_AXES_NOT_MAPPING",
    "APPLY_EVENT_BAD_AXIS_NAME",
    "APPLY_EVENT_BAD_CHARACTER_ID",
    "APPLY_EVENT_BAD_DELTA",
    "APPLY_EVENT_BAD_EVENT_TYPE",
    "APPLY_EVENT_BAD_IDEMPOTENCY_KEY",
    "APPLY_EVENT_BAD_METADATA_KEY",
    "APPLY_EVENT_BAD_METADATA_VALUE",
    "APPLY_EVENT_DATABASE_ERROR",
    "APPLY_EVENT_DELTAS_NOT_MAPPING",
    "APPLY_EVENT_FOREIGN_CHARACTER",
    "APPLY_EVENT_IDEMPOTENCY_CONFLICT",
    "APPLY_EVENT_IDEMPOTENCY_RACE",
    "APPLY_EVENT_METADATA_NOT_MAPPING",
    "APPLY_EVENT_MISSING_SCORE",
    "APPLY_EVENT_NO_DELTAS",
    "APPLY_EVENT_RESERVED_EVENT_TYPE",
    "APPLY_EVENT_RETIRED_AXIS",
    "APPLY_EVENT_TOO_MUCH_METADATA",
    "APPLY_EVENT_UNKNOWN_AXIS",
    "APPLY_EVENT_UNKNOWN_CHARACTER",
    "APPLY_EVENT_UNKNOWN_WORLD",
    "APPLY_EVENT_WORLD_NOT_SYNCED",
    "AXES_ADDED",
    "CHARACTER_CREATED",
    "DRIFT",
    "REVERSAL",
    "SYSTEM_EVENT_TYPES",
    "CharacterState",
    "RebuildResult",
    "apply_event",
    "apply_events",
    "create_scores",
    "rebuild_scores",
    "record_system_event",
    "refresh_snapshots",
    "reverse_event",
]
