"""Replay the ledger and report where it disagrees with itself or with the score table.

The checks, per character and axis, in ``event.id`` order: the old -> new chain is
unbroken and starts at 0.0 in a system event (creation, or the backfill of a new axis);
``new_score`` is the clamped, quantised old + requested delta; ``delta`` is new - old; the
last ``new_score`` is the stored score; the snapshot is the one derived from scores and
policy; the event, delta, character and axis share a world; every reversal undoes exactly
what its original applied (the negated applied delta on the same characters and axes, in
the same world), up to clamping, which the chain checks cover.

Rows are streamed in chunks and checked one at a time: memory grows with characters x
axes (the running chain ends), never with the number of events.
"""

from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import groupby

from django.db import connection, transaction

from axes.models import Axis, CharacterAxisScore
from axes.registry import get_world_registry
from axes.scoring import apply_delta
from ledger.models import Event, EventEntityAxisDelta, EventType
from ledger.services import AXES_ADDED, CHARACTER_CREATED
from worlds.models import Character, World

GENESIS_EVENT_TYPES = (CHARACTER_CREATED, AXES_ADDED)
"""The system events that start a character's chain on an axis from 0.0."""
CHUNK_SIZE = 20_000
REVERSAL_CHUNK_SIZE = 500
MAX_REPORTED = 10_000
"""Discrepancies kept in full; beyond that they are only counted."""

_DELTA_FIELDS = (
    "event_id",
    "event__world_id",
    "event__event_type_id",
    "world_id",
    "character_id",
    "axis_id",
    "old_score",
    "new_score",
    "delta",
    "requested_delta",
)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Discrepancy:
    """One place where the ledger does not add up."""

    check: str
    character_id: int
    axis: str | None
    event_id: int | None
    expected: object
    found: object

    def __str__(self) -> str:
        where = f"event {self.event_id}" if self.event_id is not None else "current state"
        axis = f" axis {self.axis}" if self.axis else ""
        return (
            f"{self.check}: {where}, character {self.character_id}{axis}: "
            f"expected {self.expected!r}, found {self.found!r}"
        )

    def as_dict(self) -> dict:
        return {
            "check": self.check,
            "event_id": self.event_id,
            "character_id": self.character_id,
            "axis": self.axis,
            "expected": self.expected,
            "found": self.found,
        }


@dataclass
class VerificationResult:
    """What a replay checked and every discrepancy it found."""

    deltas: int = 0
    events: int = 0
    characters: int = 0
    scores: int = 0
    discrepancy_count: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.discrepancy_count == 0

    def report(self, discrepancy: Discrepancy) -> None:
        self.discrepancy_count += 1
        if len(self.discrepancies) < MAX_REPORTED:
            self.discrepancies.append(discrepancy)

    def summary(self) -> str:
        status = "clean" if self.clean else f"{self.discrepancy_count} discrepancies"
        return (
            f"replayed {self.deltas} deltas in {self.events} events for {self.characters} "
            f"characters and {self.scores} scores: {status}"
        )


def verify_ledger(
    *,
    world_ids: list[str] | None = None,
    character_id: int | None = None,
    progress: Progress | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> VerificationResult:
    """Replay the ledger in ``event.id`` order and check it against scores and snapshots.

    Args:
        world_ids: Only the characters of these worlds (default: every world).
        character_id: Only this character.
        progress: Told ``(deltas_done, deltas_total)`` after each chunk.
        chunk_size: Rows fetched per round trip.

    Returns:
        The counts and discrepancies; ``result.clean`` when there are none.
    """
    # On PostgreSQL the replay runs in one transaction, so its server-side cursors
    # (.iterator()) are plain ones that end with it, not WITH HOLD cursors outliving their
    # transaction: behind a transaction-pooling PgBouncer each transaction may run on
    # another server connection, where such a cursor does not exist
    # (tests/test_pgbouncer_live.py). On SQLite a transaction would take the write lock.
    with transaction.atomic() if connection.vendor == "postgresql" else nullcontext():
        return _replay(
            world_ids=world_ids, character_id=character_id, progress=progress, chunk_size=chunk_size
        )


def _replay(*, world_ids, character_id, progress, chunk_size) -> VerificationResult:
    characters = Character.objects.all()
    if world_ids:
        characters = characters.filter(world_id__in=world_ids)
    if character_id is not None:
        characters = characters.filter(pk=character_id)
    character_worlds = dict(characters.values_list("pk", "world_id"))
    axes = {
        pk: (name, world) for pk, name, world in Axis.objects.values_list("pk", "name", "world")
    }
    system_types = set(
        EventType.objects.filter(name__in=GENESIS_EVENT_TYPES).values_list("pk", flat=True)
    )

    result = VerificationResult(characters=len(character_worlds))
    deltas = EventEntityAxisDelta.objects.all()
    if world_ids:
        deltas = deltas.filter(character__world_id__in=world_ids)
    if character_id is not None:
        deltas = deltas.filter(character_id=character_id)
    total = deltas.count()
    chain_ends: dict[tuple[int, int], float] = {}
    last_event = None
    rows = deltas.order_by("event_id", "character_id", "axis_id").values_list(*_DELTA_FIELDS)
    for row in rows.iterator(chunk_size=chunk_size):
        (
            event_id,
            event_world,
            event_type_id,
            delta_world,
            char_id,
            axis_id,
            old,
            new,
            delta,
            requested,
        ) = row
        result.deltas += 1
        if event_id != last_event:
            result.events += 1
            last_event = event_id
        axis_name, axis_world = axes[axis_id]
        character_world = character_worlds.get(char_id)
        if not event_world == delta_world == character_world == axis_world:
            result.report(
                Discrepancy(
                    "world",
                    char_id,
                    axis_name,
                    event_id,
                    f"one world ({event_world})",
                    f"delta {delta_world}, character {character_world}, axis {axis_world}",
                )
            )
        previous = chain_ends.get((char_id, axis_id))
        if previous is None and event_type_id not in system_types:
            result.report(
                Discrepancy("genesis", char_id, axis_name, event_id, "a system event", event_id)
            )
        if old != (previous or 0.0):
            result.report(Discrepancy("chain", char_id, axis_name, event_id, previous or 0.0, old))
        expected_new, expected_delta = apply_delta(old, requested)
        if new != expected_new:
            result.report(Discrepancy("clamp", char_id, axis_name, event_id, expected_new, new))
        if delta != expected_delta:
            result.report(
                Discrepancy("applied_delta", char_id, axis_name, event_id, expected_delta, delta)
            )
        chain_ends[(char_id, axis_id)] = new
        if progress is not None and result.deltas % chunk_size == 0:
            progress(result.deltas, total)
    if progress is not None:
        progress(result.deltas, total)

    _check_current_state(result, characters, chain_ends, axes, chunk_size)
    _check_reversals(result, world_ids, character_id, axes)
    return result


def _check_reversals(result, world_ids, character_id, axes) -> None:
    """Check that each reversal requested the negated applied deltas of its original.

    Reversals are few; they are read in chunks with their originals' deltas (three
    queries a chunk), so memory stays bounded whatever the ledger's size.
    """
    reversals = Event.objects.filter(reverses__isnull=False)
    if world_ids:
        reversals = reversals.filter(world_id__in=world_ids)
    if character_id is not None:
        reversals = reversals.filter(deltas__character_id=character_id).distinct()
    pairs = reversals.order_by("pk").values_list("pk", "world_id", "reverses_id")
    for chunk in _chunks(pairs.iterator(chunk_size=REVERSAL_CHUNK_SIZE), REVERSAL_CHUNK_SIZE):
        originals = {
            pk: world
            for pk, world in Event.objects.filter(
                pk__in=[reverses for _, _, reverses in chunk]
            ).values_list("pk", "world_id")
        }
        deltas: dict[int, dict[tuple[int, int], tuple[float, float]]] = {}
        for event_id, cid, axis_id, applied, requested in EventEntityAxisDelta.objects.filter(
            event_id__in=[pk for pk, _, _ in chunk] + list(originals)
        ).values_list("event_id", "character_id", "axis_id", "delta", "requested_delta"):
            deltas.setdefault(event_id, {})[(cid, axis_id)] = (applied, requested)
        for reversal_id, world_id, original_id in chunk:
            _check_reversal(
                result,
                reversal_id,
                world_id,
                original_id,
                originals.get(original_id),
                deltas.get(reversal_id, {}),
                deltas.get(original_id, {}),
                axes,
            )


def _check_reversal(result, reversal_id, world_id, original_id, original_world, undo, done, axes):
    if original_world != world_id:
        result.report(
            Discrepancy(
                "reversal",
                min(undo)[0] if undo else 0,
                None,
                reversal_id,
                f"event {original_id} in world {world_id}",
                f"world {original_world}" if original_world else "no such event",
            )
        )
        return
    for cid, axis_id in sorted(undo.keys() | done.keys()):
        expected = -done[(cid, axis_id)][0] + 0.0 if (cid, axis_id) in done else None
        found = undo[(cid, axis_id)][1] if (cid, axis_id) in undo else None
        if expected != found:
            result.report(
                Discrepancy("reversal", cid, axes[axis_id][0], reversal_id, expected, found)
            )


def _chunks(rows, size):
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_current_state(result, characters, chain_ends, axes, chunk_size) -> None:
    """Compare stored scores with the replayed chain ends, and snapshots with scores."""
    registries = {world.pk: get_world_registry(world) for world in World.objects.all()}
    scores = (
        CharacterAxisScore.objects.filter(character__in=characters)
        .order_by("character_id", "axis_id")
        .values_list("character_id", "axis_id", "axis_score")
        .iterator(chunk_size=chunk_size)
    )
    states = (
        characters.order_by("pk")
        .values_list("pk", "world_id", "state_seed", "current_state_json")
        .iterator(chunk_size=chunk_size)
    )
    grouped: Iterator = groupby(scores, key=lambda row: row[0])
    pending = next(grouped, None)
    for char_id, world_id, seed, snapshot in states:
        stored: dict[int, float] = {}
        while pending is not None and pending[0] < char_id:
            pending = next(grouped, None)
        if pending is not None and pending[0] == char_id:
            stored = {axis_id: score for _, axis_id, score in pending[1]}
            pending = next(grouped, None)
        for axis_id, score in stored.items():
            result.scores += 1
            replayed = chain_ends.get((char_id, axis_id))
            axis_name = axes[axis_id][0]
            if replayed is None:
                result.report(
                    Discrepancy("score", char_id, axis_name, None, "a ledger delta", score)
                )
            elif replayed != score:
                result.report(Discrepancy("score", char_id, axis_name, None, replayed, score))
        expected = registries[world_id].snapshot(seed=seed, scores=stored)
        if snapshot != expected:
            result.report(Discrepancy("snapshot", char_id, None, None, expected, snapshot))


def verify_character(character: Character) -> list[Discrepancy]:
    """Replay one character's ledger; return every discrepancy (empty when clean)."""
    return verify_ledger(character_id=character.pk).discrepancies
