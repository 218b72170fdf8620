"""Creating characters: each starts with a score on every active axis, through the ledger."""

import math
from collections.abc import Mapping

from django.core.exceptions import ValidationError

from axes.registry import get_world_registry
from ledger.services import CHARACTER_CREATED, create_scores, record_system_event
from pipeworks.transactions import atomic_commit
from worlds.models import Character, World

CREATE_CHARACTER_UNKNOWN_WORLD = "unknown world {world_id!r}"
CREATE_CHARACTER_NO_AXES = (
    "world {world_id!r} has no active axes; run `manage.py sync_policies {world_id}` first"
)
CREATE_CHARACTER_UNKNOWN_AXIS = "unknown or retired axis {axis!r} in world {world_id!r}"
CREATE_CHARACTER_BAD_SCORE = (
    "initial score for {axis!r} must be a finite number in [0, 1] (got {value!r})"
)


@atomic_commit()
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
    create_scores(world_id=world.world_id, scores={character.pk: {axis.id: 0.0 for axis in active}})
    record_system_event(
        world_id=world.world_id,
        event_type=CHARACTER_CREATED,
        deltas={character.pk: initial},
        genesis=True,
    )
    character.refresh_from_db()
    return character
