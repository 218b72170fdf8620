"""Replay the ledger and report where it disagrees with itself or with the score table.

The checks, per character and axis, in ``event.id`` order: the old -> new chain is
unbroken and starts at 0.0; ``new_score`` is the clamped, quantised old + requested
delta; ``delta`` is new - old; the last ``new_score`` is the stored score; the snapshot is
the one derived from scores and policy; the event, delta, character and axis share a
world. ``LedgerVerifier`` consumes rows one at a time, so a caller can stream a ledger of
any size through it; its memory grows with characters x axes, not with events.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from axes.models import CharacterAxisScore
from axes.scoring import apply_delta
from axes.selectors import get_world_registry
from ledger.models import EventEntityAxisDelta
from worlds.models import Character

DELTA_FIELDS = (
    "event_id",
    "event__world_id",
    "world_id",
    "character_id",
    "character__world_id",
    "axis_id",
    "axis__name",
    "axis__world_id",
    "old_score",
    "new_score",
    "delta",
    "requested_delta",
)


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


@dataclass
class LedgerVerifier:
    """Feed delta rows in event-id order, then the stored scores; read ``discrepancies``."""

    discrepancies: list[Discrepancy] = field(default_factory=list)
    deltas_checked: int = 0
    _last: dict[tuple[int, int], tuple[float, str]] = field(default_factory=dict)

    def feed(self, row: tuple) -> None:
        """Check one delta row, a tuple in ``DELTA_FIELDS`` order."""
        (
            event_id,
            event_world,
            delta_world,
            character_id,
            character_world,
            axis_id,
            axis_name,
            axis_world,
            old,
            new,
            delta,
            requested,
        ) = row
        self.deltas_checked += 1
        if not event_world == delta_world == character_world == axis_world:
            self._report(
                "world",
                character_id,
                axis_name,
                event_id,
                expected=f"one world ({event_world})",
                found=f"delta {delta_world}, character {character_world}, axis {axis_world}",
            )
        previous = self._last.get((character_id, axis_id), (0.0, ""))[0]
        if old != previous:
            self._report("chain", character_id, axis_name, event_id, previous, old)
        expected_new, expected_delta = apply_delta(old, requested)
        if new != expected_new:
            self._report("clamp", character_id, axis_name, event_id, expected_new, new)
        if delta != expected_delta:
            self._report("applied_delta", character_id, axis_name, event_id, expected_delta, delta)
        self._last[(character_id, axis_id)] = (new, axis_name)

    def check_scores(self, scores: Iterable[tuple[int, int, float]]) -> None:
        """Compare ``(character_id, axis_id, axis_score)`` rows with the replayed ledger."""
        for character_id, axis_id, score in scores:
            replayed = self._last.get((character_id, axis_id))
            if replayed is None:
                self._report("score", character_id, str(axis_id), None, "a ledger delta", score)
            elif replayed[0] != score:
                self._report("score", character_id, replayed[1], None, replayed[0], score)

    def _report(self, check, character_id, axis, event_id, expected, found) -> None:
        self.discrepancies.append(
            Discrepancy(
                check=check,
                character_id=character_id,
                axis=axis,
                event_id=event_id,
                expected=expected,
                found=found,
            )
        )


def verify_character(character: Character) -> list[Discrepancy]:
    """Replay one character's ledger; return every discrepancy (empty when clean)."""
    verifier = LedgerVerifier()
    rows = (
        EventEntityAxisDelta.objects.filter(character=character)
        .order_by("event_id", "axis_id")
        .values_list(*DELTA_FIELDS)
    )
    for row in rows:
        verifier.feed(row)
    scores = list(
        CharacterAxisScore.objects.filter(character=character).values_list(
            "character_id", "axis_id", "axis_score"
        )
    )
    verifier.check_scores(scores)
    registry = get_world_registry(character.world)
    expected = registry.snapshot(
        seed=character.state_seed, scores={axis_id: score for _, axis_id, score in scores}
    )
    if character.current_state_json != expected:
        verifier.discrepancies.append(
            Discrepancy(
                check="snapshot",
                character_id=character.pk,
                axis=None,
                event_id=None,
                expected=expected,
                found=character.current_state_json,
            )
        )
    return verifier.discrepancies
