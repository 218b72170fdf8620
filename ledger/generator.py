"""A synthetic ledger for benchmarks: many characters, a million events, built in minutes.

``apply_event`` writes one event per transaction, which is right for a game server and
far too slow to build a million-event ledger to benchmark against. This generator is the
one other writer of ledger rows: it inserts characters, their genesis events and random
events in bulk (or, with ``existing``, random events for the characters already there), in
``event.id`` order, with exactly the arithmetic of ``apply_event``
(``axes.scoring.apply_delta``), so ``verify_ledger`` accepts the result. Scores and
snapshots are written through ``ledger.services.state``, like every other writer's. It
only inserts ledger rows, so the append-only guard is untouched; it is for benchmark
databases, never for a live world.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from axes.models import CharacterAxisScore
from axes.registry import get_world_registry
from axes.scoring import apply_delta
from ledger.models import Event, EventEntityAxisDelta, EventMetadata, EventType, Source
from ledger.provenance import SYSTEM, Actor
from ledger.services import CHARACTER_CREATED, state
from ledger.services.events import DELTA_COLUMNS, METADATA_COLUMNS
from pipeworks.transactions import atomic_commit
from worlds.models import Character, World

EVENT_TYPES = ("tick", "loot_found", "combat", "rested", "trade")
BATCH_SIZE = 20_000

_EVENT_COLUMNS = (
    "id",
    "world_id",
    "event_type_id",
    "timestamp",
    "request_hash",
    "occurred_at",
    "actor_name",
    "source",
    "policy_hash",
)
_DELTA_COLUMNS = ("id", *DELTA_COLUMNS)
_METADATA_COLUMNS = ("id", *METADATA_COLUMNS)


@dataclass
class GeneratedLedger:
    characters: int
    events: int
    deltas: int


def generate_ledger(
    *,
    world_id: str,
    characters: int,
    events: int,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    existing: bool = False,
    span: timedelta | None = None,
) -> GeneratedLedger:
    """Add ``characters`` characters and ``events`` events (genesis included) to a world.

    With ``existing``, add ``events`` random events to the world's existing characters
    instead (``characters`` must be 0): their histories grow, the character count does
    not, which is how a ledger grows under a stable population.

    The events are recorded one second apart up to now, or, with ``span`` (new ledgers
    only), spread evenly over ``span`` up to now, so that a window of the world's
    statistics holds a known share of them.

    Raises:
        ValueError: The world is not synced, or ``events`` < ``characters``; with
            ``existing``, ``characters`` is not 0, the world has no characters or a
            ``span`` is given.
    """
    world = World.objects.filter(pk=world_id).exclude(policy_hash="").first()
    if world is None:
        raise ValueError(f"world {world_id!r} is not synced")
    if existing:
        if characters:
            raise ValueError("existing adds events to existing characters; characters must be 0")
        if span is not None:
            raise ValueError("span spreads a new ledger; existing events follow the last one")
        return _extend_ledger(world, events=events, seed=seed, progress=progress)
    if events < characters:
        raise ValueError("events must be at least characters (one genesis event each)")
    rng = random.Random(seed)
    registry = get_world_registry(world)
    axes = registry.active_axes
    now = timezone.now()
    start = now - (span or timedelta(seconds=events))

    with atomic_commit():
        types = {
            name: EventType.objects.get_or_create(world=world, name=name)[0].pk
            for name in (CHARACTER_CREATED, *EVENT_TYPES)
        }
        offset = Character.objects.filter(world=world).count()
        initial = [
            {axis.id: round(rng.uniform(0.1, 0.9), 3) for axis in axes} for _ in range(characters)
        ]
        created = Character.objects.bulk_create(
            Character(world=world, name=f"generated-{seed}-{offset + i}", created_at=start)
            for i in range(characters)
        )
        character_ids = [character.pk for character in created]
        state.write_snapshots(
            registry=registry,
            states=[
                state.CharacterState(character_id=cid, seed=0, scores=initial[i])
                for i, cid in enumerate(character_ids)
            ],
            now=now,
            base=True,
        )
        scores = {cid: dict.fromkeys(initial[i], 0.0) for i, cid in enumerate(character_ids)}
        seeds = dict.fromkeys(character_ids, 0)

        def plan():
            """Yield (event type id, {character id: {axis id: requested}}) in id order."""
            for i, cid in enumerate(character_ids):
                yield types[CHARACTER_CREATED], {cid: initial[i]}
            for _ in range(events - characters):
                touched = rng.sample(character_ids, 2 if rng.random() < 0.1 else 1)
                yield (
                    types[rng.choice(EVENT_TYPES)],
                    {
                        cid: {
                            axis.id: round(rng.uniform(-0.2, 0.2), 4)
                            for axis in rng.sample(axes, rng.randint(1, min(3, len(axes))))
                        }
                        for cid in touched
                    },
                )

        counts = GeneratedLedger(characters=characters, events=0, deltas=0)
        _write_events(
            world,
            plan(),
            scores=scores,
            seeds=seeds,
            genesis_type=types[CHARACTER_CREATED],
            start=start,
            step=(span or timedelta(seconds=events)) / events,
            counts=counts,
            total=events,
            progress=progress,
        )
        _reset_sequences()

        state.create_scores(world_id=world.world_id, scores=scores, now=now)
        _write_snapshots(character_ids, seeds, scores, registry, now)
    if progress is not None:
        progress(counts.events, events)
    return counts


def _write_events(
    world: World,
    plan: Iterator[tuple[int, dict[int, dict[int, float]]]],
    *,
    scores: dict[int, dict[int, float]],
    seeds: dict[int, int],
    genesis_type: int | None,
    start,
    step: timedelta,
    counts: GeneratedLedger,
    total: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Insert the planned events in id order, moving ``scores`` and ``seeds`` along."""
    ids = _next_ids()
    command = Actor.command("manage.py generate_ledger").name
    event_rows, delta_rows, metadata_rows = [], [], []
    for event_type_id, requested in plan:
        ids["event"] += 1
        event_id = ids["event"]
        counts.events += 1
        timestamp = start + step * counts.events
        # Provenance as the product records it: creations are the system's, the rest the
        # command's.
        actor, source = (
            (SYSTEM.name, Source.SYSTEM)
            if event_type_id == genesis_type
            else (command, Source.COMMAND)
        )
        event_rows.append(
            (
                event_id,
                world.pk,
                event_type_id,
                timestamp,
                "",
                timestamp,
                actor,
                source.value,
                world.policy_hash,
            )
        )
        for cid in sorted(requested):
            for axis_id, asked in sorted(requested[cid].items()):
                old = scores[cid][axis_id]
                new, applied = apply_delta(old, asked)
                scores[cid][axis_id] = new
                ids["delta"] += 1
                delta_rows.append(
                    (ids["delta"], event_id, world.pk, cid, axis_id, old, new, applied, asked)
                )
            if event_type_id != genesis_type:
                seeds[cid] += 1
        if event_type_id != genesis_type:
            ids["metadata"] += 1
            metadata_rows.append((ids["metadata"], event_id, world.pk, "source", "generator"))
        if len(event_rows) >= BATCH_SIZE:
            counts.deltas += _flush(event_rows, delta_rows, metadata_rows)
            if progress is not None:
                progress(counts.events, total)
    counts.deltas += _flush(event_rows, delta_rows, metadata_rows)


def _extend_ledger(
    world: World, *, events: int, seed: int, progress: Callable[[int, int], None] | None
) -> GeneratedLedger:
    """Add ``events`` random events to the existing characters of ``world``."""
    rng = random.Random(seed)
    registry = get_world_registry(world)
    active = {axis.id for axis in registry.active_axes}
    now = timezone.now()
    with atomic_commit():
        characters = list(Character.objects.filter(world=world).order_by("pk").only("pk"))
        scores: dict[int, dict[int, float]] = {character.pk: {} for character in characters}
        score_ids: dict[tuple[int, int], int] = {}
        for score_id, cid, axis_id, score in CharacterAxisScore.objects.filter(
            world=world, axis_id__in=active
        ).values_list("pk", "character_id", "axis_id", "axis_score"):
            scores[cid][axis_id] = score
            score_ids[(cid, axis_id)] = score_id
        # Characters without a score on an active axis (none, after a sync) are left alone.
        axes_of = {cid: sorted(axis_scores) for cid, axis_scores in scores.items() if axis_scores}
        character_ids = sorted(axes_of)
        if not character_ids:
            raise ValueError(f"world {world.pk!r} has no characters to add events to")
        seeds = dict(Character.objects.filter(world=world).values_list("pk", "state_seed"))
        types = [
            EventType.objects.get_or_create(world=world, name=name)[0].pk for name in EVENT_TYPES
        ]
        # Timestamps follow the ids: after the world's last event, up to now.
        start = now - timedelta(seconds=events)
        last = Event.objects.filter(world=world).order_by("-id").values_list("timestamp").first()
        if last is not None:
            start = max(start, last[0])
        step = max((now - start) / events, timedelta(microseconds=1))

        def plan():
            """Yield (event type id, {character id: {axis id: requested}}) in id order."""
            for _ in range(events):
                touched = rng.sample(character_ids, 2 if rng.random() < 0.1 else 1)
                yield (
                    rng.choice(types),
                    {
                        cid: {
                            axis_id: round(rng.uniform(-0.2, 0.2), 4)
                            for axis_id in rng.sample(
                                axes_of[cid], rng.randint(1, min(3, len(axes_of[cid])))
                            )
                        }
                        for cid in touched
                    },
                )

        counts = GeneratedLedger(characters=0, events=0, deltas=0)
        before = dict(seeds)
        _write_events(
            world,
            plan(),
            scores=scores,
            seeds=seeds,
            genesis_type=None,
            start=start,
            step=step,
            counts=counts,
            total=events,
            progress=progress,
        )
        _reset_sequences()
        touched = sorted(cid for cid in character_ids if seeds[cid] != before[cid])
        state.update_scores(
            [
                (score_ids[(cid, axis_id)], score)
                for cid in touched
                for axis_id, score in scores[cid].items()
            ],
            now=now,
        )
        _write_snapshots(touched, seeds, scores, registry, now)
    if progress is not None:
        progress(counts.events, events)
    return counts


def _write_snapshots(character_ids, seeds, scores, registry, now) -> None:
    """Store each character's final seed and the snapshot derived from its final scores."""
    state.write_snapshots(
        registry=registry,
        states=[
            state.CharacterState(character_id=cid, seed=seeds[cid], scores=scores[cid])
            for cid in character_ids
        ],
        now=now,
    )


def _next_ids() -> dict[str, int]:
    return {
        "event": Event.objects.order_by("-id").values_list("id", flat=True).first() or 0,
        "delta": EventEntityAxisDelta.objects.order_by("-id").values_list("id", flat=True).first()
        or 0,
        "metadata": EventMetadata.objects.order_by("-id").values_list("id", flat=True).first() or 0,
    }


def _flush(event_rows: list, delta_rows: list, metadata_rows: list) -> int:
    """Insert the buffered rows (parents first) and empty the buffers."""
    written = len(delta_rows)
    for model, columns, rows in (
        (Event, _EVENT_COLUMNS, event_rows),
        (EventEntityAxisDelta, _DELTA_COLUMNS, delta_rows),
        (EventMetadata, _METADATA_COLUMNS, metadata_rows),
    ):
        if rows:
            _insert(model._meta.db_table, columns, rows)
        rows.clear()
    return written


def _insert(table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY is several times faster than INSERT for bulk loads.
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows
            )


def _reset_sequences() -> None:
    """Point PostgreSQL's id sequences past the explicit ids (SQLite tracks them itself)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for table in (
            model._meta.db_table for model in (Event, EventEntityAxisDelta, EventMetadata)
        ):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
