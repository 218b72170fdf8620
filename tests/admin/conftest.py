"""Fixtures for the admin tests: a character with a short, varied history."""

import pytest

from ledger.services import apply_event
from tests.factories import CharacterFactory

# The permissions of the two roles, as the admin tests give them to users directly.
INSPECTOR = [
    "ledger.view_event",
    "ledger.view_evententityaxisdelta",
    "ledger.view_eventmetadata",
    "worlds.view_character",
    "worlds.view_world",
]
GAME_MASTER = [*INSPECTOR, "ledger.apply_event", "ledger.reverse_event"]


def messages_of(response) -> list[str]:
    """Return the messages a followed admin response rendered."""
    return [str(message) for message in response.context["messages"]]


def add_events(character, count: int) -> None:
    """Apply ``count`` small wealth events to ``character``."""
    for index in range(count):
        apply_event(
            world_id=character.world_id,
            event_type="wage_paid",
            deltas={character.pk: {"wealth": 0.01 if index % 2 else -0.01}},
            metadata={"source": f"shift-{index}"},
        )


@pytest.fixture
def hero(synced):
    """A character of world alpha with a loot event, a clamped event and a label change."""
    hero = CharacterFactory(name="Ada Brass", scores={"wealth": 0.3})
    apply_event(
        world_id="alpha",
        event_type="loot_found",
        deltas={hero.pk: {"wealth": 0.2}},
        metadata={"source": "treasure_chest"},
    )
    apply_event(
        world_id="alpha",
        event_type="combat",
        deltas={hero.pk: {"health": -2.0, "luck": 0.05}},
        metadata={"source": "arena"},
    )
    return hero
