"""What an event wrote, as its callers read it: deltas with their labels, and metadata.

``apply_event`` returns events carrying a ``RecordedEvent`` (``Event.recorded``) built
from the rows it has just written, and ``ledger.selectors.load_recorded_events`` builds
the same from the database, so the API answers a write and a read alike without reading
what it has just written.
"""

from dataclasses import dataclass

from axes.registry import RegisteredAxis


@dataclass(frozen=True)
class RecordedDelta:
    """One delta of an event as callers show it: by axis name, with the labels."""

    character_id: int
    axis_id: int
    axis_name: str
    old_score: float
    new_score: float
    delta: float
    requested_delta: float
    old_label: str | None
    new_label: str | None

    @classmethod
    def labelled(
        cls,
        axis: RegisteredAxis,
        character_id: int,
        old_score: float,
        new_score: float,
        delta: float,
        requested_delta: float,
    ) -> "RecordedDelta":
        """Return the delta with the labels of its scores under the current policy."""
        return cls(
            character_id=character_id,
            axis_id=axis.id,
            axis_name=axis.name,
            old_score=old_score,
            new_score=new_score,
            delta=delta,
            requested_delta=requested_delta,
            old_label=axis.label_for(old_score),
            new_label=axis.label_for(new_score),
        )


@dataclass(frozen=True)
class RecordedEvent:
    """What an event wrote besides its row: its type's name, its deltas and metadata.

    ``apply_event`` sets it on the events it returns (``Event.recorded``), and
    ``load_recorded_events`` on events read back, so callers answer from it without
    reading the event type or the deltas again.
    """

    event_type: str
    event_type_description: str
    deltas: tuple[RecordedDelta, ...]
    metadata: dict[str, str]

    @classmethod
    def of(
        cls,
        event_type: tuple[str, str],
        deltas: list[RecordedDelta],
        metadata: dict[str, str],
    ) -> "RecordedEvent":
        """Return the record with its deltas in display order: by axis name, then character.

        ``event_type`` is the type's ``(name, description)``.
        """
        ordered = sorted(deltas, key=lambda delta: (delta.axis_name, delta.character_id))
        return cls(*event_type, deltas=tuple(ordered), metadata=dict(metadata))
