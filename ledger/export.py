"""One character's whole history as JSON Lines, streamed with flat memory.

Each line is one event, oldest first, in the shape of ``GET .../axis-events`` (only this
character's deltas). Events are read a chunk at a time by ``event.id`` (keyset paging),
so memory holds one chunk whatever the history's length.
"""

import json
from collections.abc import Iterator

from rest_framework.utils.encoders import JSONEncoder

from ledger.models import EventEntityAxisDelta
from ledger.selectors import load_recorded_events, serialize_event
from worlds.models import Character

EXPORT_CHUNK = 500


def history_lines(character: Character, *, chunk: int = EXPORT_CHUNK) -> Iterator[str]:
    """Yield the character's events as JSON lines (``\\n``-terminated), oldest first."""
    after = 0
    while True:
        ids = list(
            EventEntityAxisDelta.objects.filter(character=character, event_id__gt=after)
            .order_by("event_id")
            .values_list("event_id", flat=True)
            .distinct()[:chunk]
        )
        if not ids:
            return
        events = load_recorded_events(ids, character=character)
        for event_id in ids:
            yield json.dumps(serialize_event(events[event_id]), cls=JSONEncoder) + "\n"
        after = ids[-1]
