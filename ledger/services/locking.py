"""Lock the rows an event touches, and check that it may touch them.

Every writer locks each character before any of its scores, and characters in id order,
so two events touching the same characters queue instead of deadlocking. The checks that
need the rows (the axis exists and is active, the character exists and lives in the
world, it has a score on the axis) run here, under the locks.
"""

from dataclasses import dataclass

from axes.registry import WorldRegistry
from ledger import statements
from ledger.exceptions import ErrorLocation, LedgerError
from ledger.services import state
from ledger.services.validation import EventRequest
from worlds.models import World

APPLY_EVENT_UNKNOWN_AXIS = "unknown axis {axis!r} in world {world_id!r}"
APPLY_EVENT_RETIRED_AXIS = "axis {axis!r} is retired in world {world_id!r} and takes no deltas"
APPLY_EVENT_UNKNOWN_CHARACTER = "unknown character {character_id}"
APPLY_EVENT_FOREIGN_CHARACTER = (
    "character {character_id} belongs to world {other!r}, not {world_id!r}"
)
APPLY_EVENT_MISSING_SCORE = (
    "character {character_id} has no score on axis {axis!r}; "
    "run `manage.py sync_policies {world_id}` to backfill it"
)


def check_axes(request: EventRequest, registry: WorldRegistry) -> None:
    """Refuse an axis unknown to the world or retired."""
    for character_id, axes in request.deltas.items():
        for axis_name in axes:
            axis = registry.by_name.get(axis_name)
            if axis is None or not axis.is_active:
                message = APPLY_EVENT_UNKNOWN_AXIS if axis is None else APPLY_EVENT_RETIRED_AXIS
                raise LedgerError(
                    message.format(axis=axis_name, world_id=registry.world_id),
                    code="unknown_axis" if axis is None else "retired_axis",
                    location=ErrorLocation(
                        part="deltas", character_id=character_id, axis=axis_name
                    ),
                )


@dataclass
class LockedCharacter:
    id: int
    world_id: str
    state_seed: int


def lock_characters(touched: list[int], world: World) -> list[LockedCharacter]:
    """Lock the touched characters in id order, and check they live in ``world``.

    Every writer locks characters before scores and each set in id order, so two events
    touching the same characters queue instead of deadlocking.
    """
    found = {row[0]: LockedCharacter(*row) for row in statements.lock_characters(touched)}
    for character_id in touched:
        character = found.get(character_id)
        location = ErrorLocation(part="deltas", character_id=character_id)
        if character is None:
            raise LedgerError(
                APPLY_EVENT_UNKNOWN_CHARACTER.format(character_id=character_id),
                code="unknown_character",
                location=location,
            )
        if character.world_id != world.world_id:
            raise LedgerError(
                APPLY_EVENT_FOREIGN_CHARACTER.format(
                    character_id=character_id, other=character.world_id, world_id=world.world_id
                ),
                code="foreign_character",
                location=location,
            )
    return list(found.values())


Scores = dict[tuple[int, int], state.LockedScore]


def lock_rows(
    world_id: str, touched: list[int]
) -> tuple[World | None, tuple[list[LockedCharacter], Scores] | None]:
    """Read the world, lock the touched characters and all their scores: one statement.

    Characters in id order, each before its scores, as every writer locks them (see
    ``statements.lock_event_rows``). Returns the world and the locked rows, or
    ``(world or None, None)`` when some character is unknown, of another world or has
    no score row in it: the caller then reads them apart with ``lock_characters`` and
    ``lock_scores`` (and ``fetch_world`` when no row told the world), which name the
    fault with the checks of a request in their order (or find the scores a concurrent
    sync has just created).
    """
    world, rows = statements.lock_event_rows(world_id, touched)
    characters: dict[int, LockedCharacter] = {}
    scores: Scores = {}
    for character_id, seed, score_id, axis_id, score in rows:
        if character_id not in characters:
            characters[character_id] = LockedCharacter(character_id, world_id, seed)
        scores[(character_id, axis_id)] = state.LockedScore(score_id, character_id, axis_id, score)
    if len(characters) < len(touched):
        return world, None
    return world, (list(characters.values()), scores)


def lock_scores(world: World, touched: list[int]) -> Scores:
    """Lock every score row of the touched characters, in id order.

    All of a character's scores are needed to re-derive its snapshot, so one locking
    read serves both purposes.
    """
    return {
        (score.character_id, score.axis_id): score
        for score in state.lock_scores(world_id=world.world_id, character_ids=touched)
    }


def check_scores(
    requests: list[EventRequest], scores: Scores, world: World, registry: WorldRegistry
) -> None:
    """Refuse a delta on an axis the character has no score row for."""
    needed = {
        (cid, name) for request in requests for cid, axes in request.deltas.items() for name in axes
    }
    for character_id, axis_name in sorted(needed):
        if (character_id, registry.by_name[axis_name].id) not in scores:
            raise LedgerError(
                APPLY_EVENT_MISSING_SCORE.format(
                    character_id=character_id, axis=axis_name, world_id=world.world_id
                ),
                code="missing_score",
                location=ErrorLocation(part="deltas", character_id=character_id, axis=axis_name),
            )
