"""The only writer of character state: score rows and the snapshots derived from them.

Scores (``character_axis_score``) and snapshots (the ``*_state_json`` columns and their
``state_*`` metadata on ``characters``) change here and nowhere else: when an event is
applied, when a character or an axis gets its score rows, when snapshots are re-derived
after a policy change, and when ``rebuild_scores`` repairs scores from the ledger. Every
writer locks each character before any of its scores, and characters in id order, as
``apply_event`` does, so they queue behind each other instead of deadlocking.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone

from axes.models import CharacterAxisScore
from axes.registry import WorldRegistry, get_world_registry
from ledger import statements
from ledger.models import EventEntityAxisDelta
from pipeworks.transactions import atomic_commit
from worlds.models import Character, World

Progress = Callable[[str, int, int], None]
"""A callback told ``(world_id, done, total)`` while long steps run."""

SNAPSHOT_BATCH_SIZE = 500
SNAPSHOT_FIELDS = ["current_state_json", "state_seed", "state_version", "state_updated_at"]


@dataclass
class LockedScore:
    """A score row read under its lock; ``axis_score`` follows the event being applied."""

    id: int
    character_id: int
    axis_id: int
    axis_score: float


@dataclass(frozen=True)
class CharacterState:
    """What a character's snapshot is derived from: its seed and scores by axis id."""

    character_id: int
    seed: int
    scores: Mapping[int, float]


def lock_scores(*, world_id: str, character_ids: Sequence[int]) -> list[LockedScore]:
    """Lock every score row of the characters in ``world_id``, in id order.

    Call inside the transaction that writes them, after locking the characters.
    """
    return [LockedScore(*row) for row in statements.lock_scores(world_id, character_ids)]


def create_scores(*, world_id: str, scores: Mapping[int, Mapping[int, float]], now=None) -> None:
    """Insert score rows: ``scores`` maps character id -> {axis id -> score}.

    New characters and new axes get rows at 0.0 that a system event then moves; only
    ``rebuild_scores`` and the benchmark generator insert other values (scores the
    ledger already explains).
    """
    now = now or timezone.now()
    CharacterAxisScore.objects.bulk_create(
        (
            CharacterAxisScore(
                character_id=character_id,
                world_id=world_id,
                axis_id=axis_id,
                axis_score=score,
                updated_at=now,
            )
            for character_id, axis_scores in scores.items()
            for axis_id, score in axis_scores.items()
        ),
        batch_size=5000,
    )


def update_scores(rows: Sequence[tuple[int, float]], *, now) -> None:
    """Set scores by row id: ``rows`` are ``(score id, new score)``."""
    if rows:
        statements.update_rows(
            CharacterAxisScore,
            ["axis_score", "updated_at"],
            [(score, now, score_id) for score_id, score in rows],
        )


def write_snapshots(
    *, registry: WorldRegistry, states: Iterable[CharacterState], now, base: bool = False
) -> int:
    """Store each character's seed and the snapshot derived from its scores and policy.

    The snapshot records ``registry.policy_hash`` as its ``state_version``. With
    ``base``, the same snapshot is also the character's ``base_state_json`` (its state at
    creation). Returns the number of characters written.
    """
    fields, rows = _snapshot_rows(registry=registry, states=states, now=now, base=base)
    if rows:
        statements.update_rows(Character, fields, rows)
    return len(rows)


def write_event_state(
    *,
    scores: Sequence[tuple[int, float]],
    registry: WorldRegistry,
    states: Iterable[CharacterState],
    now,
    base: bool = False,
    event: statements.EventRows | None = None,
) -> tuple[int, int, str] | None:
    """``update_scores`` then ``write_snapshots``, for the characters an event changed.

    On PostgreSQL the score update is a data-modifying CTE of the snapshot update (one
    round trip); with ``event`` (PostgreSQL, one event) both are parts of the event's
    own INSERT (``statements.write_event``), whose result this returns: None when the
    event's type does not exist yet, and then nothing was written.
    """
    fields, rows = _snapshot_rows(registry=registry, states=states, now=now, base=base)
    updates = [
        (
            CharacterAxisScore,
            ["axis_score", "updated_at"],
            [(score, now, score_id) for score_id, score in scores],
        ),
        (Character, fields, rows),
    ]
    if event is not None:
        return statements.write_event(event, updates)
    statements.update_rows_together(updates)
    return None


def _snapshot_rows(
    *, registry: WorldRegistry, states: Iterable[CharacterState], now, base: bool
) -> tuple[list[str], list[tuple]]:
    """Return the snapshot fields and their ``(*values, character id)`` rows."""
    fields = SNAPSHOT_FIELDS + (["base_state_json"] if base else [])
    rows = []
    for character in states:
        snapshot = registry.snapshot(seed=character.seed, scores=character.scores)
        row = [snapshot, character.seed, registry.policy_hash, now]
        if base:
            row.append(snapshot)
        rows.append((*row, character.character_id))
    return fields, rows


@atomic_commit()
def refresh_snapshots(
    *,
    world: World,
    character_ids: list[int] | None = None,
    skip: Collection[int] = (),
    progress: Progress | None = None,
) -> int:
    """Re-derive the snapshots of the characters of ``world`` from their scores.

    The seed is unchanged (no event happened); the snapshot's policy hash and labels
    follow the current registry. Characters are locked in id order, in batches, the
    order ``apply_event`` locks them in.

    Args:
        world: Whose characters to refresh.
        character_ids: Only these characters (default: all of the world's).
        skip: Characters whose snapshots the caller has just derived.
        progress: Told ``(world_id, done, total)`` after each batch.

    Returns:
        The number of characters refreshed.
    """
    world = World.objects.get(pk=world.pk)
    registry = get_world_registry(world)
    characters = Character.objects.filter(world=world)
    if character_ids is not None:
        characters = characters.filter(pk__in=character_ids)
    total = characters.count() - len(skip)
    done = 0
    last_id = 0
    now = timezone.now()
    while True:
        batch = list(
            characters.select_for_update()
            .filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "state_seed")[:SNAPSHOT_BATCH_SIZE]
        )
        if not batch:
            break
        last_id = batch[-1][0]
        batch = [(pk, seed) for pk, seed in batch if pk not in skip]
        scores: dict[int, dict[int, float]] = {}
        for character_id, axis_id, score in CharacterAxisScore.objects.filter(
            character_id__in=[pk for pk, _ in batch]
        ).values_list("character_id", "axis_id", "axis_score"):
            scores.setdefault(character_id, {})[axis_id] = score
        done += write_snapshots(
            registry=registry,
            states=[
                CharacterState(character_id=pk, seed=seed, scores=scores.get(pk, {}))
                for pk, seed in batch
            ],
            now=now,
        )
        if progress is not None:
            progress(world.world_id, done, total)
    return done


@dataclass
class RebuildResult:
    """What ``rebuild_scores`` changed (or would change, on a dry run)."""

    fixed: list[tuple[int, str, float | None, float]] = field(default_factory=list)
    """(character id, axis name, stored score or None if the row was missing, ledger score)"""
    snapshots: int = 0
    dry_run: bool = False


@atomic_commit()
def rebuild_scores(
    *, world_ids: list[str] | None = None, character_id: int | None = None, dry_run: bool = False
) -> RebuildResult:
    """Set every score to the ledger's and re-derive the snapshots.

    The repair after someone edited scores by hand: each score becomes the ``new_score``
    of its latest ledger delta, missing score rows are re-created, and every selected
    character's snapshot is re-derived. The ledger itself is only read.

    Args:
        world_ids: Only the characters of these worlds (default: all).
        character_id: Only this character.
        dry_run: Report what would change; write nothing.

    Returns:
        The scores that differed from the ledger and the number of snapshots refreshed.
    """
    characters = Character.objects.all()
    if world_ids:
        characters = characters.filter(world_id__in=world_ids)
    if character_id is not None:
        characters = characters.filter(pk=character_id)
    if not dry_run:
        # Lock in id order, as apply_event does, so no event lands mid-rebuild.
        list(characters.select_for_update().order_by("pk").values_list("pk", flat=True))
    latest = EventEntityAxisDelta.objects.filter(
        character=OuterRef("character"), axis=OuterRef("axis")
    ).order_by("-event_id")
    result = RebuildResult(dry_run=dry_run)
    wrong = (
        CharacterAxisScore.objects.filter(character__in=characters)
        .annotate(ledger_score=Subquery(latest.values("new_score")[:1]))
        .filter(ledger_score__isnull=False)
        .exclude(axis_score=F("ledger_score"))
        .select_related("axis")
        .order_by("character_id", "axis__name")
    )
    repaired = []
    for score in wrong:
        result.fixed.append(
            (score.character_id, score.axis.name, score.axis_score, score.ledger_score)
        )
        repaired.append((score.pk, score.ledger_score))
    missing = (
        EventEntityAxisDelta.objects.filter(character__in=characters)
        .exclude(
            Exists(
                CharacterAxisScore.objects.filter(
                    character=OuterRef("character"), axis=OuterRef("axis")
                )
            )
        )
        .values_list("character_id", "character__world_id", "axis_id", "axis__name")
        .distinct()
        .order_by("character_id", "axis__name")
    )
    created: dict[str, dict[int, dict[int, float]]] = {}
    for char_id, world_id, axis_id, axis_name in missing:
        score = (
            EventEntityAxisDelta.objects.filter(character_id=char_id, axis_id=axis_id)
            .order_by("-event_id")
            .values_list("new_score", flat=True)[0]
        )
        result.fixed.append((char_id, axis_name, None, score))
        created.setdefault(world_id, {}).setdefault(char_id, {})[axis_id] = score
    if dry_run:
        return result
    now = timezone.now()
    update_scores(repaired, now=now)
    for world_id, scores in created.items():
        create_scores(world_id=world_id, scores=scores, now=now)
    for world in World.objects.filter(pk__in=characters.values("world_id")):
        ids = list(characters.filter(world=world).values_list("pk", flat=True))
        result.snapshots += refresh_snapshots(world=world, character_ids=ids)
    return result
