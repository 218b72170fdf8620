"""Syncing world policy files into the registry: plan the changes once, then carry them out.

``sync_world_policies`` diffs each world's valid policy against the registry into a
``WorldPlan`` (``worlds.services.plan``): a list of steps, the only diff. A dry run
describes the steps; a real run makes the plan under the lock of the world rows and
executes exactly its steps, recording what each one wrote. The writer never compares on
its own, so a dry run and the real run after it describe the same changes.
"""

from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from axes.models import Axis, AxisValue, CharacterAxisScore
from axes.registry import get_world_registry
from ledger.models import DriftClock, DriftState
from ledger.services import AXES_ADDED, create_scores, record_system_event, refresh_snapshots
from ledger.services.drift import apply_drift
from pipeworks.transactions import atomic_commit
from worlds.exceptions import PolicySyncError
from worlds.models import Character, World
from worlds.policies import AxisPolicy, PolicyReport, discover_worlds, load_world_policy
from worlds.services.plan import (
    BackfillScores,
    CreateWorld,
    RecordPolicy,
    RederiveSnapshots,
    RetireAxes,
    SyncResult,
    WorldPlan,
    WriteAxis,
)

Progress = Callable[[str, int, int], None]
"""A callback told ``(world_id, done, total)`` while long steps run."""

SYNC_NO_WORLDS = "no worlds found under {directory}"
SYNC_UNKNOWN_WORLDS = "unknown world(s) {names}: no policies directory under {directory}"
SYNC_INVALID_POLICIES = "policy errors in {names}; nothing was written"


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
        The plan of every selected world; unless ``dry_run``, carried out, each plan's
        ``done`` listing what was written.
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
    recorded = dict(World.objects.filter(pk__in=selected).values_list("world_id", "policy_hash"))
    if dry_run or all(recorded.get(r.world_id) == r.policy_hash for r in reports):
        plans = [_plan_world(report) for report in reports]
    else:
        _settle_drift(reports)
        plans = _plan_and_carry_out(reports, progress)
    return SyncResult(plans=plans, dry_run=dry_run)


def _plan_world(report: PolicyReport) -> WorldPlan:
    """Diff a valid policy against the registry into steps, reading only."""
    world = World.objects.filter(pk=report.world_id).first()
    plan = WorldPlan(
        report=report,
        world_exists=world is not None,
        hash_changed=world is None or world.policy_hash != report.policy_hash,
    )
    if not plan.changed:
        return plan
    if world is None:
        plan.steps.append(CreateWorld())
    existing = {axis.name: axis for axis in Axis.objects.filter(world=world)} if world else {}
    bands = _bands_by_axis([axis.pk for axis in existing.values()])
    axis_steps = []
    for axis_policy in report.policy.axes:
        axis = existing.get(axis_policy.name)
        if axis is None:
            axis_steps.append(WriteAxis(policy=axis_policy))
            continue
        differences, bands_differ = _axis_differences(axis, bands.get(axis.pk, []), axis_policy)
        if differences or not axis.is_active:
            axis_steps.append(
                WriteAxis(
                    policy=axis_policy,
                    axis_id=axis.pk,
                    reactivate=not axis.is_active,
                    differences=tuple(differences),
                    row_differs=not axis.is_active or len(differences) > bands_differ,
                    bands_differ=bands_differ,
                )
            )
    # Described (and written) in the order: created, updated, reactivated.
    axis_steps.sort(key=lambda s: (s.axis_id is not None, s.reactivate, s.policy.name))
    plan.steps += axis_steps
    retired = sorted(
        name
        for name, axis in existing.items()
        if axis.is_active and name not in report.policy.axis_names
    )
    if retired:
        plan.steps.append(RetireAxes(names=tuple(retired)))
    # The policy is recorded before the backfill: its event and the snapshots are
    # derived with the new registry.
    plan.steps.append(RecordPolicy(version=report.version, policy_hash=report.policy_hash))
    characters = (
        list(Character.objects.filter(world=world).values_list("pk", flat=True)) if world else []
    )
    if characters:
        backfill = _missing_defaults(world, characters, existing, report)
        if backfill:
            plan.steps.append(BackfillScores(defaults=backfill))
        plan.steps.append(RederiveSnapshots(characters=len(characters)))
    return plan


def _missing_defaults(
    world: World, characters: list[int], existing: dict[str, Axis], report: PolicyReport
) -> dict[int, dict[str, float]]:
    """Return the default score of every active axis each character has no score on.

    This covers axes new to the world and axes that return after being retired (for
    characters created meanwhile).
    """
    axis_names = {axis_id: name for name, axis in existing.items() for axis_id in [axis.pk]}
    have: dict[str, set[int]] = {}
    for character_id, axis_id in CharacterAxisScore.objects.filter(world=world).values_list(
        "character_id", "axis_id"
    ):
        have.setdefault(axis_names[axis_id], set()).add(character_id)
    defaults: dict[int, dict[str, float]] = {}
    for axis_policy in report.policy.axes:
        scored = have.get(axis_policy.name, set())
        for character_id in characters:
            if character_id not in scored:
                defaults.setdefault(character_id, {})[axis_policy.name] = axis_policy.default_score
    return defaults


def _bands_by_axis(axis_ids: list[int]) -> dict[int, list[AxisValue]]:
    bands: dict[int, list[AxisValue]] = {}
    for band in AxisValue.objects.filter(axis_id__in=axis_ids).order_by("axis_id", "ordinal"):
        bands.setdefault(band.axis_id, []).append(band)
    return bands


def _axis_differences(
    axis: Axis, bands: list[AxisValue], axis_policy: AxisPolicy
) -> tuple[list[str], bool]:
    """Return what differs between the registry's axis and the policy, and whether bands do."""
    differences = []
    if axis.ordering_json != axis_policy.ordering_json():
        differences.append(f"ordering {axis.ordering_json} -> {axis_policy.ordering_json()}")
    if axis.default_score != axis_policy.default_score:
        differences.append(f"default {axis.default_score} -> {axis_policy.default_score}")
    if axis.description != axis_policy.description:
        differences.append("description")
    if axis.drift != axis_policy.drift:
        differences.append(
            f"drift {_describe_drift(axis.drift)} -> {_describe_drift(axis_policy.drift)}"
        )
    current = [(b.value, b.ordinal, b.min_score, b.max_score) for b in bands]
    wanted = [(b.label, b.ordinal, b.min_score, b.max_score) for b in axis_policy.bands]
    bands_differ = current != wanted
    if bands_differ:
        differences.append(
            "bands "
            + ", ".join(f"{label} [{low}, {high}]" for label, _, low, high in current)
            + " -> "
            + ", ".join(f"{b.label} [{b.min_score}, {b.max_score}]" for b in axis_policy.bands)
        )
    return differences, bands_differ


@atomic_commit()
def _plan_and_carry_out(reports: list[PolicyReport], progress: Progress | None) -> list[WorldPlan]:
    """Plan every world under the lock of its row, then execute the changed plans' steps.

    Planning after the lock means the plan is made against the registry it changes; each
    plan's ``done`` records what its steps wrote.
    """
    ids = sorted(report.world_id for report in reports)
    # FOR NO KEY UPDATE: ledger inserts check their world key (FOR KEY SHARE) and must not
    # wait for the sync, nor deadlock with it (found in review).
    list(
        World.objects.select_for_update(no_key=True).filter(pk__in=ids).values_list("pk", flat=True)
    )
    plans = [_plan_world(report) for report in reports]
    now = timezone.now()
    for plan in plans:
        if plan.changed:
            _carry_out(plan, now, progress)
    return plans


def _carry_out(plan: WorldPlan, now, progress: Progress | None) -> None:
    """Execute the steps of one plan in order, recording in ``plan.done`` what was written."""
    world, _ = World.objects.select_for_update(no_key=True).get_or_create(pk=plan.world_id)
    # Drift runs lock this row before characters and clocks; so does the sync.
    DriftState.objects.select_for_update().get_or_create(world=world)
    backfilled: set[int] = set()
    for step in plan.steps:
        match step:
            case CreateWorld():
                done = step  # get_or_create above made the world
            case WriteAxis():
                _write_axis(world, step, now)
                done = step
            case RetireAxes():
                active = Axis.objects.filter(world=world, name__in=step.names, is_active=True)
                done = RetireAxes(names=tuple(sorted(active.values_list("name", flat=True))))
                active.update(is_active=False, retired_at=now, updated_at=now)
            case RecordPolicy():
                world.policy_hash = step.policy_hash
                world.policy_version = step.version or ""
                world.synced_at = now
                world.save(update_fields=["policy_hash", "policy_version", "synced_at"])
                done = step
            case BackfillScores():
                done = _backfill(world, step)
                backfilled = set(done.defaults)
            case RederiveSnapshots():
                # The backfill event already derived its characters' snapshots.
                refreshed = refresh_snapshots(world=world, skip=backfilled, progress=progress)
                done = RederiveSnapshots(characters=refreshed + len(backfilled))
        plan.done.append(done)
    _reconcile_drift_clocks(world, now)


def _reconcile_drift_clocks(world: World, now) -> None:
    """Give every active drifting axis a clock (starting now), and drop the others' clocks."""
    drifting = set(
        Axis.objects.filter(world=world, is_active=True, drift_rate__isnull=False).values_list(
            "pk", flat=True
        )
    )
    DriftClock.objects.filter(world=world).exclude(axis_id__in=drifting).delete()
    have = set(DriftClock.objects.filter(world=world).values_list("axis_id", flat=True))
    DriftClock.objects.bulk_create(
        DriftClock(axis_id=axis_id, world=world, started_at=now, applied_until=now)
        for axis_id in sorted(drifting - have)
    )


def _settle_drift(reports: list[PolicyReport]) -> None:
    """Apply the drift due under the rules a sync is about to change or remove.

    A rule change then applies from the sync: the periods that ended before it drift by
    the old rule, the period in progress by the new one.
    """
    for report in reports:
        old = {
            axis.name: axis.drift
            for axis in Axis.objects.filter(
                world_id=report.world_id, is_active=True, drift_rate__isnull=False
            )
        }
        new = {axis.name: axis.drift for axis in report.policy.axes}
        if any(new.get(name) != drift for name, drift in old.items()):
            apply_drift(world_id=report.world_id)


def _describe_drift(drift) -> str:
    return "none" if drift is None else drift.describe()


def _write_axis(world: World, step: WriteAxis, now) -> None:
    axis_policy = step.policy
    drift = axis_policy.drift
    fields = {
        "description": axis_policy.description,
        "drift_rate": drift and drift.rate,
        "drift_period": drift and drift.period,
        "drift_toward": drift and drift.toward,
        "ordering_json": axis_policy.ordering_json(),
        "default_score": axis_policy.default_score,
        "is_active": True,
        "retired_at": None,
        "updated_at": now,
    }
    if step.axis_id is None:
        axis = Axis.objects.create(world=world, name=axis_policy.name, created_at=now, **fields)
    else:
        axis = Axis(pk=step.axis_id)
        if step.row_differs:
            Axis.objects.filter(pk=step.axis_id).update(**fields)
        if not step.bands_differ:
            return
        # Bands are not referenced by anything, so replacing them is simpler than
        # reordering in place under the (axis, ordinal) unique constraint.
        AxisValue.objects.filter(axis_id=step.axis_id).delete()
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


def _backfill(world: World, step: BackfillScores) -> BackfillScores:
    """Create the missing score rows at 0.0 and move them to the defaults by one event.

    Replaying the ledger from zero then still explains every score. Returns the scores
    the event recorded.
    """
    registry = get_world_registry(world)
    create_scores(
        world_id=world.world_id,
        scores={
            character_id: {registry.by_name[name].id: 0.0 for name in axes}
            for character_id, axes in step.defaults.items()
        },
    )
    event = record_system_event(
        world_id=world.world_id,
        event_type=AXES_ADDED,
        deltas=step.defaults,
        metadata={"axes": ",".join(step.axis_names), "policy_hash": world.policy_hash},
    )
    recorded: dict[int, dict[str, float]] = {}
    for delta in event.recorded.deltas:
        recorded.setdefault(delta.character_id, {})[delta.axis_name] = delta.new_score
    return BackfillScores(defaults=recorded)
