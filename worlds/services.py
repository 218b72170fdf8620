"""Writes for worlds: syncing policy files into the registry, characters, snapshots."""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.utils import timezone

from axes.models import Axis, AxisValue, CharacterAxisScore
from axes.selectors import WorldRegistry, get_world_registry
from ledger.models import EventEntityAxisDelta
from ledger.services import AXES_ADDED, CHARACTER_CREATED, record_system_event
from worlds.exceptions import PolicySyncError
from worlds.models import Character, World
from worlds.policies import AxisPolicy, PolicyReport, discover_worlds, load_world_policy

Progress = Callable[[str, int, int], None]
"""A callback told ``(world_id, done, total)`` while long steps run."""

SNAPSHOT_BATCH_SIZE = 500

SYNC_NO_WORLDS = "no worlds found under {directory}"
SYNC_UNKNOWN_WORLDS = "unknown world(s) {names}: no policies directory under {directory}"
SYNC_INVALID_POLICIES = "policy errors in {names}; nothing was written"
CREATE_CHARACTER_UNKNOWN_WORLD = "unknown world {world_id!r}"
CREATE_CHARACTER_NO_AXES = (
    "world {world_id!r} has no active axes; run `manage.py sync_policies {world_id}` first"
)
CREATE_CHARACTER_UNKNOWN_AXIS = "unknown or retired axis {axis!r} in world {world_id!r}"
CREATE_CHARACTER_BAD_SCORE = (
    "initial score for {axis!r} must be a finite number in [0, 1] (got {value!r})"
)


@dataclass
class WorldPlan:
    """What syncing one world's files changes in the registry."""

    report: PolicyReport
    world_exists: bool
    hash_changed: bool
    axes_created: list[str] = field(default_factory=list)
    axes_updated: dict[str, list[str]] = field(default_factory=dict)
    axes_retired: list[str] = field(default_factory=list)
    axes_reactivated: list[str] = field(default_factory=list)
    characters: int = 0

    @property
    def world_id(self) -> str:
        return self.report.world_id

    @property
    def changed(self) -> bool:
        return not self.world_exists or self.hash_changed

    def describe(self) -> list[str]:
        """Return one human line per change (empty when the world is up to date)."""
        if not self.changed:
            return []
        lines = []
        if not self.world_exists:
            lines.append(f"create world {self.world_id}")
        lines += [f"create axis {name}" for name in self.axes_created]
        for name, what in sorted(self.axes_updated.items()):
            lines.append(f"update axis {name}: {'; '.join(what)}")
        lines += [f"retire axis {name} (its ledger history is kept)" for name in self.axes_retired]
        lines += [f"reactivate axis {name}" for name in self.axes_reactivated]
        new_axes = self.axes_created + self.axes_reactivated
        if new_axes and self.characters:
            lines.append(
                f"give {self.characters} existing character(s) their default score on "
                f"{', '.join(new_axes)} through a ledger event"
            )
        if self.characters:
            lines.append(f"re-derive {self.characters} character snapshot(s)")
        lines.append(
            f"record policy version {self.report.version} hash {self.report.policy_hash[:12]}"
        )
        return lines


@dataclass
class SyncResult:
    """The outcome of ``sync_world_policies``: one plan per selected world."""

    plans: list[WorldPlan]
    dry_run: bool

    @property
    def changed(self) -> bool:
        return any(plan.changed for plan in self.plans)


def sync_world_policies(
    *, world_ids: list[str] | None = None, dry_run: bool = False, progress: Progress | None = None
) -> SyncResult:
    """Mirror world policy files into the axis registry.

    Every selected world is validated before anything is written; one invalid world
    means nothing is written for any. Unchanged files (same policy hash) write nothing.

    Args:
        world_ids: Worlds to sync; default every world under ``PIPEWORKS_WORLDS_DIR``.
        dry_run: Plan and return the changes without writing.
        progress: Told about snapshot refreshes in large worlds.

    Raises:
        PolicySyncError: A selected world is unknown or its policy has errors; the
            error carries the reports.

    Returns:
        The plan of every selected world, carried out unless ``dry_run``.
    """
    directory = Path(settings.PIPEWORKS_WORLDS_DIR)
    available = discover_worlds(directory)
    selected = list(dict.fromkeys(world_ids)) if world_ids else available
    unknown = [world_id for world_id in selected if world_id not in available]
    if unknown:
        raise PolicySyncError(
            SYNC_UNKNOWN_WORLDS.format(names=", ".join(unknown), directory=directory)
        )
    if not selected:
        raise PolicySyncError(SYNC_NO_WORLDS.format(directory=directory))
    reports = [load_world_policy(directory / world_id, world_id) for world_id in selected]
    invalid = [report for report in reports if not report.is_valid]
    if invalid:
        raise PolicySyncError(
            SYNC_INVALID_POLICIES.format(names=", ".join(r.world_id for r in invalid)),
            reports=invalid,
        )
    plans = [_plan_world(report) for report in reports]
    if not dry_run and any(plan.changed for plan in plans):
        _carry_out(plans, progress)
    return SyncResult(plans=plans, dry_run=dry_run)


def _plan_world(report: PolicyReport) -> WorldPlan:
    """Diff a valid policy against the registry, reading only."""
    world = World.objects.filter(pk=report.world_id).first()
    plan = WorldPlan(
        report=report,
        world_exists=world is not None,
        hash_changed=world is None or world.policy_hash != report.policy_hash,
    )
    if not plan.changed:
        return plan
    existing = {}
    if world is not None:
        existing = {axis.name: axis for axis in Axis.objects.filter(world=world)}
        plan.characters = Character.objects.filter(world=world).count()
    bands = _bands_by_axis([axis.pk for axis in existing.values()])
    for axis_policy in report.policy.axes:
        axis = existing.get(axis_policy.name)
        if axis is None:
            plan.axes_created.append(axis_policy.name)
            continue
        if not axis.is_active:
            plan.axes_reactivated.append(axis_policy.name)
        differences = _axis_differences(axis, bands.get(axis.pk, []), axis_policy)
        if differences:
            plan.axes_updated[axis_policy.name] = differences
    plan.axes_retired = sorted(
        name
        for name, axis in existing.items()
        if axis.is_active and name not in report.policy.axis_names
    )
    return plan


def _bands_by_axis(axis_ids: list[int]) -> dict[int, list[AxisValue]]:
    bands: dict[int, list[AxisValue]] = {}
    for band in AxisValue.objects.filter(axis_id__in=axis_ids).order_by("axis_id", "ordinal"):
        bands.setdefault(band.axis_id, []).append(band)
    return bands


def _band_tuples(axis_policy: AxisPolicy) -> list[tuple[str, int, float, float]]:
    return [(b.label, b.ordinal, b.min_score, b.max_score) for b in axis_policy.bands]


def _axis_differences(axis: Axis, bands: list[AxisValue], axis_policy: AxisPolicy) -> list[str]:
    differences = []
    if axis.ordering_json != axis_policy.ordering_json():
        differences.append(f"ordering {axis.ordering_json} -> {axis_policy.ordering_json()}")
    if axis.default_score != axis_policy.default_score:
        differences.append(f"default {axis.default_score} -> {axis_policy.default_score}")
    if axis.description != axis_policy.description:
        differences.append("description")
    current = [(b.value, b.ordinal, b.min_score, b.max_score) for b in bands]
    if current != _band_tuples(axis_policy):
        differences.append(
            "bands "
            + ", ".join(f"{label} [{low}, {high}]" for label, _, low, high in current)
            + " -> "
            + ", ".join(f"{b.label} [{b.min_score}, {b.max_score}]" for b in axis_policy.bands)
        )
    return differences


@transaction.atomic
def _carry_out(plans: list[WorldPlan], progress: Progress | None) -> None:
    now = timezone.now()
    for plan in plans:
        if not plan.changed:
            continue
        report = plan.report
        world, _ = World.objects.select_for_update().get_or_create(pk=plan.world_id)
        existing = {axis.name: axis for axis in Axis.objects.filter(world=world)}
        for axis_policy in report.policy.axes:
            _write_axis(world, existing.get(axis_policy.name), axis_policy, now)
        Axis.objects.filter(world=world, name__in=plan.axes_retired).update(
            is_active=False, retired_at=now, updated_at=now
        )
        world.policy_hash = report.policy_hash
        world.policy_version = report.version or ""
        world.synced_at = now
        world.save(update_fields=["policy_hash", "policy_version", "synced_at"])
        registry = get_world_registry(world)
        _backfill_scores(world, registry)
        refresh_world_snapshots(world=world, progress=progress)


def _write_axis(world: World, axis: Axis | None, axis_policy: AxisPolicy, now) -> None:
    fields = {
        "description": axis_policy.description,
        "ordering_json": axis_policy.ordering_json(),
        "default_score": axis_policy.default_score,
        "is_active": True,
        "retired_at": None,
        "updated_at": now,
    }
    if axis is None:
        axis = Axis.objects.create(world=world, name=axis_policy.name, created_at=now, **fields)
    else:
        unchanged = (
            axis.is_active
            and axis.description == fields["description"]
            and axis.ordering_json == fields["ordering_json"]
            and axis.default_score == fields["default_score"]
        )
        if not unchanged:
            Axis.objects.filter(pk=axis.pk).update(**fields)
        current = list(
            axis.values.order_by("ordinal").values_list(
                "value", "ordinal", "min_score", "max_score"
            )
        )
        if current == _band_tuples(axis_policy):
            return
        # Bands are not referenced by anything, so replacing them is simpler than
        # reordering in place under the (axis, ordinal) unique constraint.
        axis.values.all().delete()
    AxisValue.objects.bulk_create(
        AxisValue(
            world=world,
            axis=axis,
            value=band.label,
            ordinal=band.ordinal,
            min_score=band.min_score,
            max_score=band.max_score,
        )
        for band in axis_policy.bands
    )


def _backfill_scores(world: World, registry: WorldRegistry) -> None:
    """Give characters lacking a score on an active axis its default, through the ledger.

    This covers axes new to the world and axes that return after being retired (for
    characters created meanwhile). The score rows start at 0.0 and one system event
    moves them to the default, so replaying the ledger still explains every score.
    """
    character_ids = list(Character.objects.filter(world=world).values_list("pk", flat=True))
    if not character_ids:
        return
    have = set(
        CharacterAxisScore.objects.filter(world=world).values_list("character_id", "axis_id")
    )
    deltas: dict[int, dict[str, float]] = {}
    rows = []
    for axis in registry.active_axes:
        for character_id in character_ids:
            if (character_id, axis.id) not in have:
                rows.append(
                    CharacterAxisScore(
                        character_id=character_id, world=world, axis_id=axis.id, axis_score=0.0
                    )
                )
                deltas.setdefault(character_id, {})[axis.name] = axis.default_score
    if not rows:
        return
    CharacterAxisScore.objects.bulk_create(rows)
    axis_names = sorted({name for axes in deltas.values() for name in axes})
    record_system_event(
        world_id=world.world_id,
        event_type=AXES_ADDED,
        deltas=deltas,
        metadata={"axes": ",".join(axis_names), "policy_hash": world.policy_hash},
    )


@transaction.atomic
def refresh_world_snapshots(
    *, world: World, character_ids: list[int] | None = None, progress: Progress | None = None
) -> int:
    """Re-derive ``current_state_json`` of the characters of ``world`` from their scores.

    The seed is unchanged (no event happened); the snapshot's policy hash and labels
    follow the current registry. Characters are locked in id order, in batches, the
    order ``apply_event`` locks them in.

    Args:
        world: Whose characters to refresh.
        character_ids: Only these characters (default: all of the world's).
        progress: Told ``(world_id, done, total)`` after each batch.

    Returns:
        The number of characters refreshed.
    """
    world = World.objects.get(pk=world.pk)
    registry = get_world_registry(world)
    characters = Character.objects.filter(world=world)
    if character_ids is not None:
        characters = characters.filter(pk__in=character_ids)
    total = characters.count()
    done = 0
    last_id = 0
    now = timezone.now()
    while True:
        batch = list(
            characters.select_for_update()
            .filter(pk__gt=last_id)
            .only("id", "state_seed")
            .order_by("pk")[:SNAPSHOT_BATCH_SIZE]
        )
        if not batch:
            break
        scores: dict[int, dict[int, float]] = {}
        for character_id, axis_id, score in CharacterAxisScore.objects.filter(
            character_id__in=[c.pk for c in batch]
        ).values_list("character_id", "axis_id", "axis_score"):
            scores.setdefault(character_id, {})[axis_id] = score
        for character in batch:
            character.current_state_json = registry.snapshot(
                seed=character.state_seed, scores=scores.get(character.pk, {})
            )
            character.state_version = registry.policy_hash
            character.state_updated_at = now
        Character.objects.bulk_update(
            batch, ["current_state_json", "state_version", "state_updated_at"]
        )
        done += len(batch)
        last_id = batch[-1].pk
        if progress is not None:
            progress(world.world_id, done, total)
    return done


@transaction.atomic
def create_character(
    *, world_id: str, name: str, scores: Mapping[str, float] | None = None
) -> Character:
    """Create a character with a score on every active axis, through a genesis event.

    Each axis starts at the explicit score given, else the axis default, else 0.5. The
    scores are recorded as a ``character_created`` ledger event with deltas from 0.0,
    so replaying the ledger from zero reproduces them.

    Args:
        world_id: The character's world (synced).
        name: Display name, unique within the world.
        scores: Optional initial scores by axis name, each in [0, 1].

    Raises:
        ValidationError: Unknown world, a bad or duplicate name, an unknown axis or a
            score outside [0, 1]. Nothing was written.

    Returns:
        The new ``Character``, with ``state_seed`` 0 and its base snapshot.
    """
    world = World.objects.filter(pk=world_id).first() if isinstance(world_id, str) else None
    if world is None:
        raise ValidationError(
            {"world": CREATE_CHARACTER_UNKNOWN_WORLD.format(world_id=world_id)},
            code="unknown_world",
        )
    registry = get_world_registry(world)
    active = registry.active_axes
    if not active:
        raise ValidationError(
            {"world": CREATE_CHARACTER_NO_AXES.format(world_id=world.world_id)}, code="no_axes"
        )
    initial = {axis.name: axis.default_score for axis in active}
    for axis_name, value in (scores or {}).items():
        if axis_name not in initial:
            raise ValidationError(
                {"scores": CREATE_CHARACTER_UNKNOWN_AXIS.format(axis=axis_name, world_id=world_id)},
                code="unknown_axis",
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0.0 <= value <= 1.0
        ):
            raise ValidationError(
                {"scores": CREATE_CHARACTER_BAD_SCORE.format(axis=axis_name, value=value)},
                code="invalid_score",
            )
        initial[axis_name] = float(value)

    character = Character(world=world, name=name)
    character.full_clean()
    character.save()
    CharacterAxisScore.objects.bulk_create(
        CharacterAxisScore(character=character, world=world, axis_id=axis.id, axis_score=0.0)
        for axis in active
    )
    record_system_event(
        world_id=world.world_id,
        event_type=CHARACTER_CREATED,
        deltas={character.pk: initial},
        genesis=True,
    )
    character.refresh_from_db()
    return character


@dataclass
class RebuildResult:
    """What ``rebuild_scores`` changed (or would change, on a dry run)."""

    fixed: list[tuple[int, str, float | None, float]] = field(default_factory=list)
    """(character id, axis name, stored score or None if the row was missing, ledger score)"""
    snapshots: int = 0
    dry_run: bool = False


@transaction.atomic
def rebuild_scores(
    *, world_ids: list[str] | None = None, character_id: int | None = None, dry_run: bool = False
) -> RebuildResult:
    """Re-fold the ledger into ``character_axis_score`` and re-derive the snapshots.

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
    now = timezone.now()
    repaired = []
    for score in wrong:
        result.fixed.append(
            (score.character_id, score.axis.name, score.axis_score, score.ledger_score)
        )
        score.axis_score = score.ledger_score
        score.updated_at = now
        repaired.append(score)
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
    created = []
    for char_id, world_id, axis_id, axis_name in missing:
        score = (
            EventEntityAxisDelta.objects.filter(character_id=char_id, axis_id=axis_id)
            .order_by("-event_id")
            .values_list("new_score", flat=True)[0]
        )
        result.fixed.append((char_id, axis_name, None, score))
        created.append(
            CharacterAxisScore(
                character_id=char_id, world_id=world_id, axis_id=axis_id, axis_score=score
            )
        )
    if dry_run:
        return result
    CharacterAxisScore.objects.bulk_update(repaired, ["axis_score", "updated_at"])
    CharacterAxisScore.objects.bulk_create(created)
    for world in World.objects.filter(pk__in=characters.values("world_id")):
        ids = list(characters.filter(world=world).values_list("pk", flat=True))
        result.snapshots += refresh_world_snapshots(world=world, character_ids=ids)
    return result
