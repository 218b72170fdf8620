"""Creating characters: each starts with a score on every active axis, through the ledger.

A creation may carry an idempotency key, stored on the character's genesis event (whose
``request_hash`` is the digest of the name and scores asked for): the same key again
answers with the original character, the same key with another request is refused.
"""

import hashlib
import json
import math
from collections.abc import Mapping

from django.core.exceptions import ValidationError

from axes.registry import get_world_registry
from ledger.exceptions import ErrorLocation, IdempotencyConflict
from ledger.models import Event, EventEntityAxisDelta
from ledger.services import (
    APPLY_EVENT_BAD_IDEMPOTENCY_KEY,
    APPLY_EVENT_IDEMPOTENCY_CONFLICT,
    CHARACTER_CREATED,
    create_scores,
    record_system_event,
)
from ledger.services.validation import MAX_IDEMPOTENCY_KEY_LENGTH
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
    *,
    world_id: str,
    name: str,
    scores: Mapping[str, float] | None = None,
    idempotency_key: str | None = None,
) -> Character:
    """Create a character with a score on every active axis, through a genesis event.

    Each axis starts at the explicit score given, else the axis default, else 0.5. The
    scores are recorded as a ``character_created`` ledger event with deltas from 0.0,
    so replaying the ledger from zero reproduces them.

    The world's row is locked first (``FOR NO KEY UPDATE``: events of the world are not
    held up), so creations in one world take turns: a key or a name is looked up after
    the previous creation committed, and two requests with one key cannot both create.

    Args:
        world_id: The character's world (synced).
        name: Display name, unique within the world.
        scores: Optional initial scores by axis name, each in [0, 1].
        idempotency_key: Optional client key, unique among the world's events. A retry
            with the same key, name and scores returns the original character (with
            ``replayed`` True) and writes nothing.

    Raises:
        ValidationError: Unknown world, a bad or duplicate name, an unknown axis, a
            score outside [0, 1] or a bad key. Nothing was written.
        IdempotencyConflict: The key was used before for another request (another
            name or scores, or an event that is not a creation). Nothing was written.

    Returns:
        The new ``Character``, with ``state_seed`` 0 and its base snapshot, and
        ``replayed`` False; or the original one of a retry, ``replayed`` True.
    """
    world = (
        World.objects.select_for_update(no_key=True).filter(pk=world_id).first()
        if isinstance(world_id, str)
        else None
    )
    if world is None:
        raise _refusal(
            "world", CREATE_CHARACTER_UNKNOWN_WORLD.format(world_id=world_id), "unknown_world"
        )
    registry = get_world_registry(world)
    active = registry.active_axes
    if not active:
        raise _refusal("world", CREATE_CHARACTER_NO_AXES.format(world_id=world.world_id), "no_axes")
    initial = {axis.name: axis.default_score for axis in active}
    for axis_name, value in (scores or {}).items():
        if axis_name not in initial:
            message = CREATE_CHARACTER_UNKNOWN_AXIS.format(axis=axis_name, world_id=world_id)
            raise _refusal("scores", message, "unknown_axis")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0.0 <= value <= 1.0
        ):
            message = CREATE_CHARACTER_BAD_SCORE.format(axis=axis_name, value=value)
            raise _refusal("scores", message, "invalid_score")
        initial[axis_name] = float(value)

    request_hash = None
    if idempotency_key is not None:
        if (
            not isinstance(idempotency_key, str)
            or not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH
        ):
            raise _refusal("idempotency_key", APPLY_EVENT_BAD_IDEMPOTENCY_KEY, "invalid")
        explicit = {axis_name: initial[axis_name] for axis_name in scores or {}}
        request_hash = creation_request_hash(name=name, scores=explicit)
        original = _created_with_key(world, idempotency_key, request_hash)
        if original is not None:
            return original

    character = Character(world=world, name=name)
    character.full_clean()
    character.save()
    create_scores(world_id=world.world_id, scores={character.pk: {axis.id: 0.0 for axis in active}})
    record_system_event(
        world_id=world.world_id,
        event_type=CHARACTER_CREATED,
        deltas={character.pk: initial},
        genesis=True,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    character.refresh_from_db()
    character.world = world  # refresh_from_db drops the cached row; it is the locked one
    character.replayed = False
    return character


def _refusal(field: str, message: str, code: str) -> ValidationError:
    """Return the error of a refused ``field``, its ``code`` kept (a dict alone drops it)."""
    return ValidationError({field: ValidationError(message, code=code)})


def creation_request_hash(*, name: str, scores: Mapping[str, float]) -> str:
    """Return the digest of a creation request: its name and explicit scores (as floats).

    Not of the resulting scores: the defaults of the axes left out may change with the
    policy, and a retry of the same request must still match.
    """
    # + 0.0 turns -0.0 into 0.0: the same score.
    request = {"name": name, "scores": {axis: float(value) + 0.0 for axis, value in scores.items()}}
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _created_with_key(world: World, key: str, request_hash: str) -> Character | None:
    """Return the character an earlier creation with ``key`` made, or None if unused.

    Call under the world's lock. The same key with another request, or on an event
    that is no creation, is an ``IdempotencyConflict``.
    """
    found = (
        Event.objects.filter(world=world, idempotency_key=key)
        .values_list("pk", "request_hash", "event_type__name")
        .first()
    )
    if found is None:
        return None
    event_id, stored_hash, event_type = found
    if event_type != CHARACTER_CREATED or stored_hash != request_hash:
        raise IdempotencyConflict(
            APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(key=key, event_id=event_id),
            code="idempotency_conflict",
            location=ErrorLocation(part="idempotency_key"),
        )
    character_id = (
        EventEntityAxisDelta.objects.filter(event_id=event_id)
        .values_list("character_id", flat=True)
        .first()
    )
    character = Character.objects.select_related("world").get(pk=character_id)
    character.replayed = True
    return character
