"""Drift: scores that change with time, written to the ledger as ``drift`` events.

An axis of ``axes.yaml`` may declare ``drift: {rate, every, toward}``. Each drifting axis
has a clock (``DriftClock.applied_until``): drift has been applied for every whole period
before it. The clock starts when the rule first appears in a synced policy. A run brings
a world up to ``until`` (default now): for each axis, the ``n`` whole periods between its
clock and ``until`` are applied at once, one delta per character whose score changes,
computed exactly as the periods would be one by one (``drift_score``), and the clock moves
to the end of the last whole period. A week of missed hourly runs is one delta per
character and axis.

**Characters created after a clock started** drift for the periods that begin at or after
their creation: the partial period they were created in does not drift them.

**Runs are chunked and resumable.** A run locks the world's ``DriftState`` row first, so
runs of a world take turns (two cron jobs, two servers). Its plan (each axis's from, to,
periods and rule) is saved there, then the characters are done in id order, a chunk of
``PIPEWORKS_DRIFT_CHUNK`` characters per transaction: each chunk locks its characters and
then their scores (as ``apply_event`` does), writes one ``drift`` event per axis that moved
someone, and saves the cursor with it. A run killed midway resumes from the cursor, and
the clock moves only once the last chunk is written: nothing is applied twice, and writers
on other characters wait for at most one chunk.

**Pausing** first brings the world up to date, then stops it; periods that end while
paused are skipped, not caught up (resuming moves each clock forward by whole periods).

**A rule change** (rate, every, toward, or its removal) applies from the sync that records
it: ``sync_policies`` first applies the periods due under the old rule, so the period in
progress at the change drifts by the new one.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from axes.models import CharacterAxisScore
from axes.registry import RegisteredAxis, get_world_registry
from ledger import statements
from ledger.exceptions import ErrorLocation, LedgerError
from ledger.models import DriftClock, DriftState
from ledger.provenance import Actor, provenance_of
from ledger.services import state
from ledger.services.events import ComputedEvent, record_computed_events
from ledger.services.validation import DRIFT
from pipeworks.transactions import atomic_commit
from worlds.models import Character, World
from worlds.policies import Drift

logger = logging.getLogger(__name__)

MICRO = 1_000_000  # scores are kept to 1e-6; drift works in whole micro-units
SQLITE_CHUNK_PAUSE = 0.15  # seconds, above the 100 ms of SQLite's longest busy-wait sleep

DRIFT_UNKNOWN_WORLD = "unknown world {world_id!r}"
DRIFT_UNTIL_IN_FUTURE = (
    "until {until} is later than the server's clock allows ({limit} s ahead); drift is "
    "applied only for periods that have passed"
)
DRIFT_UNTIL_NAIVE = "until must carry a time zone (e.g. 2026-11-29T10:00:00Z)"
DRIFT_DATABASE_ERROR = (
    "the database failed during a drift chunk ({error}); that chunk was rolled back, the "
    "chunks before it stay: run drift again to resume, nothing is applied twice"
)


def chunk_size() -> int:
    """Characters per drift transaction (``PIPEWORKS_DRIFT_CHUNK``, default 1000)."""
    return settings.PIPEWORKS_DRIFT_CHUNK


def drift_score(score: float, drift: Drift, periods: int) -> tuple[float, float]:
    """Return ``(new score, requested change)`` after ``periods`` periods of ``drift``.

    Exactly the periods applied one by one: in whole micro-units, a steady direction
    makes the sum clamped to [0, 1] equal to the steps clamped each time, and ``toward``
    stops at the target from either side. With ``toward`` the requested change is the
    movement up to the target (the target is the rule's end, not a clamp); without it,
    it is the full ``periods * rate``, so a clamp at 0 or 1 shows as in any event.
    """
    old = round(score * MICRO)
    step = round(drift.rate * MICRO)
    if drift.toward is None:
        requested = step * periods
        new = min(max(old + requested, 0), MICRO)
    else:
        target = round(drift.toward * MICRO)
        distance = min(abs(step) * periods, abs(target - old))
        requested = distance if target >= old else -distance
        new = old + requested
    return new / MICRO, requested / MICRO


def periods_for(created_at: datetime, start: datetime, period: int, periods: int) -> int:
    """How many of the ``periods`` periods from ``start`` begin at or after ``created_at``."""
    if created_at <= start:
        return periods
    length = timedelta(seconds=period)
    first = -((start - created_at) // length)  # ceil((created_at - start) / length)
    return max(periods - first, 0)


@dataclass
class AxisRun:
    """What a run did (or, dry, would do) on one axis."""

    axis: str
    rule: str
    start: datetime
    end: datetime
    periods: int
    characters: int = 0  # characters whose score changed
    events: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "axis": self.axis,
            "rule": self.rule,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "periods": self.periods,
            "characters": self.characters,
            "events": self.events,
        }


@dataclass
class DriftRun:
    """The result of ``apply_drift`` for one world."""

    world_id: str
    until: datetime
    dry_run: bool
    paused: bool = False
    axes: list[AxisRun] = field(default_factory=list)

    @property
    def deltas(self) -> int:
        return sum(axis.characters for axis in self.axes)

    def as_dict(self) -> dict:
        return {
            "world_id": self.world_id,
            "until": self.until.isoformat(),
            "dry_run": self.dry_run,
            "paused": self.paused,
            "deltas": self.deltas,
            "axes": [axis.as_dict() for axis in self.axes],
        }


def check_until(until: datetime | None) -> datetime:
    """Return ``until`` (default now); refuse a naive or a future instant."""
    now = timezone.now()
    if until is None:
        return now
    if timezone.is_naive(until):
        raise LedgerError(DRIFT_UNTIL_NAIVE, code="invalid", location=ErrorLocation(part="until"))
    limit = settings.PIPEWORKS_OCCURRED_AT_MAX_SKEW
    if until > now + timedelta(seconds=limit):
        raise LedgerError(
            DRIFT_UNTIL_IN_FUTURE.format(until=until.isoformat(), limit=limit),
            code="until_in_future",
            location=ErrorLocation(part="until"),
        )
    # Within the clock skew allowed, a little ahead means now: no period that has not
    # ended is ever applied.
    return min(until, now)


def apply_drift(
    *,
    world_id: str,
    until: datetime | None = None,
    dry_run: bool = False,
    actor: Actor | AbstractBaseUser | None = None,
    source: str | None = None,
    request_id: str | None = None,
) -> DriftRun:
    """Bring ``world_id``'s drift up to ``until`` (default now); see the module docstring.

    Idempotent: with nothing due it writes nothing. ``until`` before a clock is a no-op
    for that axis. A run left unfinished (a crash) is finished first.

    Raises:
        LedgerError: Unknown world (``unknown_world``), a naive or future ``until``.
        LedgerError: With code ``database_error`` when a chunk failed before its COMMIT;
            the chunks written before it stay, and the next run resumes.
        OutcomeUnknown: A chunk's COMMIT was lost; the next run resumes either way.
    """
    until = check_until(until)
    world = World.objects.filter(pk=world_id).first() if isinstance(world_id, str) else None
    if world is None:
        raise LedgerError(
            DRIFT_UNKNOWN_WORLD.format(world_id=world_id),
            code="unknown_world",
            location=ErrorLocation(part="world_id"),
        )
    provenance = provenance_of(actor=actor, source=source, request_id=request_id)
    result = DriftRun(world_id=world_id, until=until, dry_run=dry_run)
    if dry_run:
        state_row = DriftState.objects.filter(world=world).first()
        result.paused = bool(state_row and state_row.paused_at)
        if not result.paused:
            result.axes = _preview(world, _plan(world, until))
        return result
    DriftState.objects.get_or_create(world=world)
    runs: dict[tuple[str, str], AxisRun] = {}
    while True:
        try:
            with atomic_commit():
                drift_state = DriftState.objects.select_for_update().get(world=world)
                if drift_state.run_plan is None:
                    # A run already begun is finished even when paused since: pausing
                    # stops new runs, it does not leave half of one behind.
                    if drift_state.paused_at is not None:
                        result.paused = True
                        break
                    plan = _plan(world, until)
                    if not plan:
                        break  # nothing due
                    drift_state.run_plan, drift_state.run_after = plan, 0
                finished = _apply_chunk(world, drift_state, provenance, runs)
                if finished:
                    _advance_clocks(drift_state.run_plan)
                    drift_state.run_plan = drift_state.run_after = None
                drift_state.save(update_fields=["run_plan", "run_after"])
        except (OperationalError, InterfaceError) as exc:
            raise LedgerError(
                DRIFT_DATABASE_ERROR.format(error=type(exc).__name__), code="database_error"
            ) from exc
        if drift_state.run_plan is not None and connection.vendor == "sqlite":
            # SQLite has one write lock and no queue: a writer waiting for it sleeps up to
            # 100 ms between tries, so a run taking the next chunk at once would starve
            # it (measured: 15 s waits). The pause lets it in between chunks.
            time.sleep(SQLITE_CHUNK_PAUSE)
    result.axes = list(runs.values())
    if result.axes:
        logger.info("drift of %s up to %s: %d deltas", world_id, until, result.deltas)
    return result


def _plan(world: World, until: datetime) -> dict:
    """Return the due periods of each drifting axis: ``{axis id: {...}}`` (JSON-ready)."""
    registry = get_world_registry(world)
    plan = {}
    for clock in DriftClock.objects.filter(world=world).order_by("axis_id"):
        axis = registry.by_id.get(clock.axis_id)
        if axis is None or not axis.is_active or axis.drift is None:
            continue
        length = timedelta(seconds=axis.drift.period)
        periods = (until - clock.applied_until) // length
        if periods < 1:
            continue
        plan[str(axis.id)] = {
            "axis": axis.name,
            "from": clock.applied_until.isoformat(),
            "to": (clock.applied_until + periods * length).isoformat(),
            "periods": periods,
            "rate": axis.drift.rate,
            "every": axis.drift.period,
            "toward": axis.drift.toward,
        }
    return plan


@dataclass(frozen=True)
class _Step:
    """One axis of a plan, parsed."""

    axis_id: int
    axis: str
    drift: Drift
    start: datetime
    end: datetime
    periods: int

    @classmethod
    def parse(cls, axis_id: str, entry: dict) -> "_Step":
        return cls(
            axis_id=int(axis_id),
            axis=entry["axis"],
            drift=Drift(rate=entry["rate"], period=entry["every"], toward=entry["toward"]),
            start=datetime.fromisoformat(entry["from"]),
            end=datetime.fromisoformat(entry["to"]),
            periods=entry["periods"],
        )

    def run(self, runs: dict) -> AxisRun:
        key = (self.axis, self.end.isoformat())
        if key not in runs:
            runs[key] = AxisRun(
                self.axis, self.drift.describe(), self.start, self.end, self.periods
            )
        return runs[key]

    def metadata(self) -> dict[str, str]:
        return {
            "axis": self.axis,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "periods": str(self.periods),
            "rule": self.drift.describe(),
        }


def _steps(plan: dict) -> list[_Step]:
    return sorted(
        (_Step.parse(axis_id, entry) for axis_id, entry in plan.items()), key=lambda s: s.axis
    )


def _deltas(step: _Step, characters, scores: dict[tuple[int, int], float]) -> list[tuple]:
    """Return the delta rows of one axis for characters ``(id, created_at)``."""
    rows = []
    for character_id, created_at in characters:
        old = scores.get((character_id, step.axis_id))
        if old is None:  # no score on the axis yet: the next sync backfills it
            continue
        periods = periods_for(created_at, step.start, step.drift.period, step.periods)
        if periods == 0:
            continue
        new, requested = drift_score(old, step.drift, periods)
        if new != old:
            rows.append(
                (character_id, step.axis_id, old, new, round(new - old, 6) + 0.0, requested)
            )
    return rows


def _apply_chunk(world: World, drift_state: DriftState, provenance, runs: dict) -> bool:
    """Apply the plan to the next chunk of characters; return True when none were left."""
    characters = list(
        Character.objects.filter(world=world, pk__gt=drift_state.run_after)
        .order_by("pk")
        .values_list("pk", "created_at")[: chunk_size()]
    )
    if not characters:
        return True
    ids = [character_id for character_id, _ in characters]
    seeds = {row[0]: row[2] for row in statements.lock_characters(ids)}
    locked: dict[int, list[state.LockedScore]] = {}
    for score in state.lock_scores(world_id=world.world_id, character_ids=ids):
        locked.setdefault(score.character_id, []).append(score)
    scores = {
        (score.character_id, score.axis_id): score.axis_score
        for character_scores in locked.values()
        for score in character_scores
    }
    events, changed_by_step = [], []
    registry = get_world_registry(world)
    for step in _steps(drift_state.run_plan):
        axis = registry.by_id.get(step.axis_id)
        if axis is None or not axis.is_active or axis.drift is None:
            continue  # retired, or its rule removed, since the run began
        deltas = _deltas(step, characters, scores)
        if deltas:
            events.append(ComputedEvent(DRIFT, deltas, step.metadata(), occurred_at=step.end))
            changed_by_step.append((step, len(deltas)))
        else:
            step.run(runs)  # report the axis even when nobody moved
    if events:
        event_ids = record_computed_events(
            world=world,
            registry=registry,
            events=events,
            provenance=provenance,
            seeds=seeds,
            scores=locked,
            now=timezone.now(),
        )
        for (step, count), event_id in zip(changed_by_step, event_ids, strict=True):
            run = step.run(runs)
            run.characters += count
            run.events.append(event_id)
    drift_state.run_after = ids[-1]
    return len(characters) < chunk_size()


def _advance_clocks(plan: dict) -> None:
    """Move each planned axis's clock to the end of its last applied period."""
    for axis_id, entry in plan.items():
        end = datetime.fromisoformat(entry["to"])
        # Never back: a resume may have moved the clock past a run left unfinished.
        DriftClock.objects.filter(axis_id=int(axis_id), applied_until__lt=end).update(
            applied_until=end
        )


def _preview(world: World, plan: dict) -> list[AxisRun]:
    """Return what applying ``plan`` would change, reading the scores without locks."""
    runs: dict = {}
    steps = _steps(plan)
    for step in steps:
        step.run(runs)
    if not steps:
        return []
    size = chunk_size()
    after = 0
    while True:
        characters = list(
            Character.objects.filter(world=world, pk__gt=after)
            .order_by("pk")
            .values_list("pk", "created_at")[:size]
        )
        if not characters:
            break
        ids = [character_id for character_id, _ in characters]
        scores = {
            (cid, axis_id): score
            for cid, axis_id, score in CharacterAxisScore.objects.filter(
                character_id__in=ids, axis_id__in=[step.axis_id for step in steps]
            ).values_list("character_id", "axis_id", "axis_score")
        }
        for step in steps:
            step.run(runs).characters += len(_deltas(step, characters, scores))
        after = ids[-1]
    return list(runs.values())


# Pausing ---------------------------------------------------------------------------------


def pause_drift(
    *,
    world_id: str,
    actor: Actor | AbstractBaseUser | None = None,
    source: str | None = None,
    request_id: str | None = None,
) -> DriftRun:
    """Apply the drift due now, then pause the world's drift. Returns that run.

    Already paused: nothing changes (the first pause's actor and time stay).
    """
    run = apply_drift(world_id=world_id, actor=actor, source=source, request_id=request_id)
    name = provenance_of(actor=actor, source=source, request_id=None).actor.name
    with atomic_commit():
        drift_state = DriftState.objects.select_for_update().get(world_id=world_id)
        if drift_state.paused_at is None:
            drift_state.paused_at, drift_state.paused_by = timezone.now(), name
            drift_state.save(update_fields=["paused_at", "paused_by"])
            logger.info("drift of %s paused by %s", world_id, name)
    return run


def resume_drift(
    *, world_id: str, actor: Actor | AbstractBaseUser | None = None, source: str | None = None
) -> bool:
    """Resume a paused world: each clock skips the whole periods that ended while paused.

    Returns False when the world's drift was not paused (nothing changes).
    """
    if not World.objects.filter(pk=world_id).exists():
        raise LedgerError(
            DRIFT_UNKNOWN_WORLD.format(world_id=world_id),
            code="unknown_world",
            location=ErrorLocation(part="world_id"),
        )
    name = provenance_of(actor=actor, source=source, request_id=None).actor.name
    with atomic_commit():
        drift_state, _ = DriftState.objects.select_for_update().get_or_create(world_id=world_id)
        if drift_state.paused_at is None:
            return False
        now = timezone.now()
        for clock in DriftClock.objects.select_for_update().filter(world_id=world_id):
            drift = clock.axis.drift
            if drift is None:
                continue
            length = timedelta(seconds=drift.period)
            clock.applied_until += max((now - clock.applied_until) // length, 0) * length
            clock.save(update_fields=["applied_until"])
        drift_state.paused_at = None
        drift_state.paused_by = ""
        drift_state.resumed_at, drift_state.resumed_by = now, name
        drift_state.save(update_fields=["paused_at", "paused_by", "resumed_at", "resumed_by"])
    logger.info("drift of %s resumed by %s", world_id, name)
    return True


def next_due(axis: RegisteredAxis, clock: DriftClock) -> datetime:
    """When the next whole period of ``axis`` ends (the earliest a run has work)."""
    return clock.applied_until + timedelta(seconds=axis.drift.period)
