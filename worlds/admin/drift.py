"""The Drift panel of a world's page, and how a drift event reads on a character's page.

The panel lists each active axis that drifts (its rule, its clock and when a run next has
work) and whether the world's drift is paused, in two queries however many axes drift.
Pausing and resuming are ``WorldAdmin``'s buttons, through ``pause_drift`` and
``resume_drift``.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from axes.registry import get_world_registry
from ledger.models import DriftClock, DriftState
from ledger.services.drift import next_due
from ledger.services.validation import DRIFT
from worlds.models import World

DRIFT_PAUSED = "Drift of {world} paused: applied {deltas} delta(s) due first."
DRIFT_ALREADY_PAUSED = "Drift of {world} was already paused (by {by}); nothing changed."
DRIFT_RESUMED = "Drift of {world} resumed; the periods that passed while paused are skipped."
DRIFT_NOT_PAUSED = "Drift of {world} was not paused; nothing changed."
DRIFT_PAUSED_LOGGED = "Paused drift (applied {deltas} delta(s) due first)"
DRIFT_RESUMED_LOGGED = "Resumed drift (the periods that passed while paused are skipped)"
DRIFT_OUTCOME_UNKNOWN = (
    "The connection to the database was lost while drift of {world} was being {done}: it "
    "may or may not have been. See the Drift panel and try again: doing it twice changes "
    "nothing."
)
DRIFT_DATABASE_FAILED = (
    "The database failed ({error}) before drift of {world} was {done}: it was not. Drift "
    "due may have been applied in part (the next run finishes it). Try again."
)


@dataclass(frozen=True)
class DriftRow:
    """One drifting axis of the panel; the times are None when it has no clock yet."""

    axis: str
    rule: str
    started_at: datetime | None
    applied_until: datetime | None
    next_due: datetime | None
    periods_due: int


def drift_panel(world: World) -> dict:
    """Return the Drift panel of ``world``: its drifting axes and its paused state."""
    registry = get_world_registry(world)
    clocks = {clock.axis_id: clock for clock in DriftClock.objects.filter(world=world)}
    state = DriftState.objects.filter(world=world).first()
    now = timezone.now()
    rows = []
    for axis in registry.active_axes:
        if axis.drift is None:
            continue
        clock = clocks.get(axis.id)
        due = next_due(axis, clock) if clock is not None else None
        periods = 0
        if clock is not None:
            periods = (now - clock.applied_until) // timedelta(seconds=axis.drift.period)
        rows.append(
            DriftRow(
                axis=axis.name,
                rule=axis.drift.describe(),
                started_at=clock.started_at if clock else None,
                applied_until=clock.applied_until if clock else None,
                next_due=due,
                periods_due=max(periods, 0),
            )
        )
    return {
        "rows": rows,
        "state": state,
        "paused": bool(state and state.paused_at),
        "run_unfinished": bool(state and state.run_plan is not None),
    }


def drift_summary(event: dict) -> dict | None:
    """Return how a ``drift`` event reads on a character's page, from its metadata.

    ``periods`` is the run's: a character created during it drifted fewer (its delta
    says by how much). None for any other event.
    """
    if event["event_type"] != DRIFT:
        return None
    metadata = event["metadata"]
    try:
        periods = int(metadata.get("periods", ""))
    except ValueError:
        periods = None
    return {
        "periods": periods,
        "rule": metadata.get("rule", ""),
        "start": _instant(metadata.get("from", "")),
        "end": _instant(metadata.get("to", "")),
    }


def _instant(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
