"""Reads of the ledger shared by the REST API and the admin inspector.

Every function here runs a fixed number of queries, whatever the size of the ledger, the
page or the number of axes: the inspector must stay fast on characters with years of
history.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, OuterRef, Subquery, Window
from django.db.models.functions import RowNumber

from axes.models import Axis, CharacterAxisScore
from axes.registry import WorldRegistry, get_world_registry
from ledger.models import Event, EventEntityAxisDelta, EventMetadata
from ledger.provenance import UNKNOWN
from ledger.records import RecordedDelta, RecordedEvent
from pipeworks.serializers import MAX_ID
from worlds.models import Character, World

DEFAULT_EVENT_LIMIT = 50
MAX_EVENT_LIMIT = 500
# Characters per read of many: a page of the world, or the ids asked for. Two queries
# whatever the count; the bound keeps the answer (snapshots included) to a few hundred kB.
DEFAULT_CHARACTER_STATES_LIMIT = 100
MAX_CHARACTER_STATES = 500


@dataclass(frozen=True)
class AxisState:
    axis_id: int
    axis_name: str
    axis_score: float
    axis_label: str | None


@dataclass(frozen=True)
class EventPage:
    """One page of a character's events, newest first; ``next_before`` pages back."""

    events: list[dict]
    next_before: int | None


class AsOfError(LookupError):
    """The as-of event does not exist, or not in the character's world or lifetime."""


def get_character_state(character: Character) -> list[AxisState]:
    """Return the character's score and label on every active axis, by axis name.

    Derived from ``character_axis_score`` and the registry, never from the snapshot.
    """
    registry = get_world_registry(character.world)
    scores = CharacterAxisScore.objects.filter(character=character).values_list(
        "axis_id", "axis_score"
    )
    return _axis_states(registry, dict(scores))


def get_character_state_as_of(character: Character, event_id: int) -> list[AxisState]:
    """Return the character's state right after event ``event_id``, folded from the ledger.

    For each axis the latest ``new_score`` at or before that event; axes the character
    had no score on yet are left out.

    Raises:
        AsOfError: No such event in the character's world, or the character did not
            exist yet at that event.
    """
    if not Event.objects.filter(pk=event_id, world_id=character.world_id).exists():
        raise AsOfError(f"no event {event_id} in world {character.world_id!r}")
    latest = EventEntityAxisDelta.objects.filter(
        character=character, axis=OuterRef("pk"), event_id__lte=event_id
    ).order_by("-event_id")
    scores = {
        axis_id: score
        for axis_id, score in Axis.objects.filter(world_id=character.world_id)
        .annotate(score=Subquery(latest.values("new_score")[:1]))
        .values_list("pk", "score")
        if score is not None
    }
    if not scores:
        raise AsOfError(f"character {character.pk} did not exist yet at event {event_id}")
    return _axis_states(get_world_registry(character.world), scores)


@dataclass(frozen=True)
class CharacterStates:
    """Characters of one world, each with its axis state.

    ``states`` pairs each character (its ``world`` set) with its states by axis name;
    ``missing`` lists the ids asked for that name no character of the world;
    ``next_after`` is the id to page on from, None on the last page (and for ids).
    """

    states: list[tuple[Character, list[AxisState]]]
    missing: list[int]
    next_after: int | None


def list_character_states(
    world: World,
    *,
    ids: list[int] | None = None,
    after: int = 0,
    limit: int = DEFAULT_CHARACTER_STATES_LIMIT,
) -> CharacterStates:
    """Return the axis states of many characters of ``world`` in two queries.

    One query reads the characters, one their scores; the registry comes from the
    process cache. The states are those ``get_character_state`` returns, one by one.

    Args:
        world: The world, as loaded (its policy hash tells the snapshots' staleness).
        ids: These characters, in this order, each once; an id of no character of the
            world (unknown, of another world, or beyond any id) is listed in
            ``missing`` instead. At most ``MAX_CHARACTER_STATES`` distinct ids.
        after: Without ids: the characters with a larger id, in id order.
        limit: Without ids: page size, 1 to ``MAX_CHARACTER_STATES``.
    """
    registry = get_world_registry(world)
    characters = Character.objects.filter(world=world)
    if ids is not None:
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > MAX_CHARACTER_STATES:
            raise ValueError(f"at most {MAX_CHARACTER_STATES} ids")
        # An id beyond BIGINT names nothing (and is no valid query parameter).
        found = {
            character.pk: character
            for character in characters.filter(pk__in=[pk for pk in wanted if 1 <= pk <= MAX_ID])
        }
        page = [found[pk] for pk in wanted if pk in found]
        missing = [pk for pk in wanted if pk not in found]
        next_after = None
    else:
        if not 1 <= limit <= MAX_CHARACTER_STATES:
            raise ValueError(f"limit must be between 1 and {MAX_CHARACTER_STATES}")
        # One more than the page tells whether another page follows.
        page = list(characters.filter(pk__gt=after).order_by("pk")[: limit + 1])
        next_after = page[limit - 1].pk if len(page) > limit else None
        page = page[:limit]
        missing = []
    scores: dict[int, dict[int, float]] = {}
    if page:
        for character_id, axis_id, score in CharacterAxisScore.objects.filter(
            character_id__in=[character.pk for character in page]
        ).values_list("character_id", "axis_id", "axis_score"):
            scores.setdefault(character_id, {})[axis_id] = score
    for character in page:
        character.world = world  # the loaded row: no query per character
    return CharacterStates(
        states=[
            (character, _axis_states(registry, scores.get(character.pk, {}))) for character in page
        ],
        missing=missing,
        next_after=next_after,
    )


def serialize_character_state(
    character: Character, axes: list[AxisState], *, as_of: int | None = None
) -> dict:
    """Return a character's state as the API shows it (no query: ``world`` is loaded)."""
    return {
        "character_id": character.pk,
        "world_id": character.world_id,
        "name": character.name,
        "state_seed": character.state_seed,
        "state_version": character.state_version,
        "state_updated_at": character.state_updated_at,
        "policy_hash": character.world.policy_hash,
        "snapshot_stale": character.snapshot_stale,
        "base_state": character.base_state_json,
        "current_state": character.current_state_json,
        "as_of": as_of,
        "axes": axes,
    }


def _axis_states(registry: WorldRegistry, scores: dict[int, float]) -> list[AxisState]:
    return [
        AxisState(
            axis_id=axis.id,
            axis_name=axis.name,
            axis_score=scores[axis.id],
            axis_label=axis.label_for(scores[axis.id]),
        )
        for axis in registry.active_axes
        if axis.id in scores
    ]


def list_character_events(
    character: Character,
    *,
    limit: int = DEFAULT_EVENT_LIMIT,
    before: int | None = None,
    event_type: str | None = None,
    axis: str | None = None,
    actor: str | None = None,
    source: str | None = None,
    reversal: bool | None = None,
    reversed: bool | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    occurred_since: datetime | None = None,
    occurred_until: datetime | None = None,
) -> EventPage:
    """Return the events that changed ``character``, newest first, with its deltas only.

    Args:
        character: Whose history to read.
        limit: Page size, 1 to ``MAX_EVENT_LIMIT``.
        before: Only events with a smaller id (the previous page's ``next_before``).
        event_type: Only events of this type name.
        axis: Only events that changed this axis (the page still shows all of the
            character's deltas of those events).
        actor: Only events whose recorded actor name is this.
        source: Only events of this channel; ``unknown`` for events recorded before
            provenance existed.
        reversal: True: only reversals; False: no reversals.
        reversed: True: only events that were reversed; False: only those that were not.
        since, until: Only events recorded (``timestamp``) in [since, until).
        occurred_since, occurred_until: Only events whose game time (``occurred_at``) is
            in [occurred_since, occurred_until); events recorded before provenance existed
            have none and never match.

    Returns:
        The page; each event as a dict (see ``serialize_event``).
    """
    if not 1 <= limit <= MAX_EVENT_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_EVENT_LIMIT}")
    touching = EventEntityAxisDelta.objects.filter(character=character)
    if before is not None:
        touching = touching.filter(event_id__lt=before)
    if axis is not None:
        touching = touching.filter(axis__name=axis, axis__world_id=character.world_id)
    if event_type is not None:
        touching = touching.filter(event__event_type__name=event_type)
    if actor is not None:
        touching = touching.filter(event__actor_name=actor)
    if source == UNKNOWN:
        touching = touching.filter(event__source__isnull=True)
    elif source is not None:
        touching = touching.filter(event__source=source)
    if reversal is not None:
        touching = touching.filter(event__reverses__isnull=not reversal)
    if reversed is not None:
        touching = touching.filter(event__reversals__isnull=not reversed)
    for lookup, value in (
        ("event__timestamp__gte", since),
        ("event__timestamp__lt", until),
        ("event__occurred_at__gte", occurred_since),
        ("event__occurred_at__lt", occurred_until),
    ):
        if value is not None:
            touching = touching.filter(**{lookup: value})
    # One more than the page tells whether an older page exists.
    event_ids = list(
        touching.order_by("-event_id").values_list("event_id", flat=True).distinct()[: limit + 1]
    )
    has_more = len(event_ids) > limit
    event_ids = event_ids[:limit]
    events = serialize_events(event_ids, character=character)
    return EventPage(events=events, next_before=event_ids[-1] if has_more else None)


def load_recorded_events(
    event_ids: list[int],
    *,
    character: Character | None = None,
    deltas: slice | None = None,
    deltas_per_event: int | None = None,
) -> dict[int, Event]:
    """Return the events with these ids, each with its ``recorded`` deltas (3 queries).

    With ``character``, each record holds only that character's deltas. With ``deltas``
    (for one event), only that slice of its deltas in (character, axis) order: a wide
    system event (an axis backfill over a whole world) is read a page at a time. With
    ``deltas_per_event``, at most that many of each event's deltas, in (character, axis)
    order; ``event.deltas_complete`` says whether that was all of them.
    """
    events = (
        Event.objects.filter(pk__in=event_ids)
        .select_related("event_type", "world")
        .annotate(
            reversed_by_id=Subquery(Event.objects.filter(reverses=OuterRef("pk")).values("pk"))
        )
    )
    by_id = {event.pk: event for event in events}
    for event in by_id.values():
        event.deltas_complete = True
    # Not in the models' default orderings ("event", "axis"; "event", "key"): they join the
    # event, axis and world tables only to sort, touching event pages spread over the
    # whole ledger, and the read grew with it. RecordedEvent.of puts the deltas in display
    # order; the metadata keep the order of their rows, so those are sorted by column.
    rows = EventEntityAxisDelta.objects.filter(event_id__in=event_ids).order_by()
    if character is not None:
        rows = rows.filter(character=character)
    if deltas is not None:
        rows = rows.order_by("event_id", "character_id", "axis_id")[deltas]
    if deltas_per_event is not None:
        # One row past the cap tells that an event has more.
        rank = Window(
            RowNumber(), partition_by=F("event_id"), order_by=[F("character_id"), F("axis_id")]
        )
        rows = rows.annotate(rank=rank).filter(rank__lte=deltas_per_event + 1)
        rows = rows.order_by("event_id", "character_id", "axis_id")
    by_event: dict[int, list[tuple]] = {}
    for row in rows.values_list(
        "event_id", "character_id", "axis_id", "old_score", "new_score", "delta", "requested_delta"
    ):
        by_event.setdefault(row[0], []).append(row[1:])
    for event_id, event_rows in by_event.items():
        if deltas_per_event is not None and len(event_rows) > deltas_per_event:
            del event_rows[deltas_per_event:]
            by_id[event_id].deltas_complete = False
    metadata: dict[int, dict[str, str]] = {}
    for event_id, key, value in (
        EventMetadata.objects.filter(event_id__in=event_ids)
        .order_by("event_id", "key")
        .values_list("event_id", "key", "value")
    ):
        metadata.setdefault(event_id, {})[key] = value
    for event in by_id.values():
        registry = get_world_registry(event.world)
        event.recorded = RecordedEvent.of(
            (event.event_type.name, event.event_type.description),
            [
                RecordedDelta.labelled(registry.by_id[axis_id], character_id, *scores)
                for character_id, axis_id, *scores in by_event.get(event.pk, [])
            ],
            metadata.get(event.pk, {}),
        )
    return by_id


def serialize_events(event_ids: list[int], *, character: Character | None = None) -> list[dict]:
    """Return the events with these ids, newest first, in the API's shape (3 queries).

    With ``character``, only that character's deltas are included.
    """
    if not event_ids:
        return []
    events = load_recorded_events(event_ids, character=character)
    return [serialize_event(events[pk]) for pk in sorted(events, reverse=True)]


def serialize_event(event: Event) -> dict:
    """Return an event carrying its ``recorded`` deltas as the API shows it (no query).

    Labels follow the world's policy at the time the record was made.
    """
    return {
        "event_id": event.pk,
        "world_id": event.world_id,
        "event_type": event.recorded.event_type,
        "event_type_description": event.recorded.event_type_description,
        "timestamp": event.timestamp,
        "recorded_at": event.timestamp,
        "occurred_at": event.occurred_at,
        "actor": {
            "name": event.actor_name or UNKNOWN,
            "user_id": event.actor_user_id,
            "key": event.actor_key,
        },
        "source": event.source or UNKNOWN,
        "request_id": event.request_id,
        "policy_hash": event.policy_hash,
        "reverses": event.reverses_id,
        "reversed_by": event.reversed_by_id,
        "metadata": event.recorded.metadata,
        "deltas": [
            {
                "character_id": delta.character_id,
                "axis_name": delta.axis_name,
                "old_score": delta.old_score,
                "new_score": delta.new_score,
                "delta": delta.delta,
                "requested_delta": delta.requested_delta,
                "old_label": delta.old_label,
                "new_label": delta.new_label,
            }
            for delta in event.recorded.deltas
        ],
    }
