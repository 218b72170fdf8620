"""apply_event's query count: flat in axes and characters, the world registry read once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.services import apply_event
from tests.factories import CharacterFactory

pytestmark = pytest.mark.usefixtures("synced")

# Statements of one event with metadata, SAVEPOINT and RELEASE included (BEGIN and
# COMMIT outside a test). PostgreSQL: lock the characters with their scores (the world
# read with them), then one statement writes the event, its deltas, metadata, scores
# and snapshots. SQLite: the same lock, then the event, deltas, metadata, scores and
# snapshots one by one. Before issue 15: 11 on both.
QUERIES_PER_EVENT = {"postgresql": 4, "sqlite": 8}


def test_apply_event_query_count_does_not_grow_with_axes_or_characters():
    one = CharacterFactory()
    few = [CharacterFactory() for _ in range(3)]
    # 25 characters x 3 axes: past the row count from which PostgreSQL gets arrays.
    many = [CharacterFactory() for _ in range(25)]

    def count(characters, axes):
        deltas = {c.pk: {axis: 0.01 for axis in axes} for c in characters}
        with CaptureQueriesContext(connection) as ctx:
            apply_event(world_id="alpha", event_type="tick", deltas=deltas, metadata={"a": "b"})
        return len(ctx.captured_queries)

    count([one], ["wealth"])  # creates the event type: a one-off cost
    counts = {
        "1 character, 1 axis": count([one], ["wealth"]),
        "3 characters, 3 axes": count(few, ["wealth", "health", "luck"]),
        "25 characters, 1 axis": count(many, ["wealth"]),
        "25 characters, 3 axes": count(many, ["wealth", "health", "luck"]),
    }

    expected = QUERIES_PER_EVENT[connection.vendor]
    assert counts == dict.fromkeys(counts, expected)


def test_a_new_event_type_costs_its_lookup_and_creation_once(hero):
    def count(event_type):
        with CaptureQueriesContext(connection) as ctx:
            apply_event(
                world_id="alpha",
                event_type=event_type,
                deltas={hero.pk: {"wealth": 0.01}},
                metadata={"a": "b"},
            )
        return len(ctx.captured_queries)

    first = count("brand_new")
    again = count("brand_new")

    assert again == QUERIES_PER_EVENT[connection.vendor]
    assert first > again


def test_the_registry_is_read_once_whoever_asks_first(hero):
    """apply_event's raw world read and the ORM's must give the same registry cache key."""
    from axes.registry import get_world_registry
    from worlds.models import World

    apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    with CaptureQueriesContext(connection) as ctx:
        get_world_registry(World.objects.get(pk="alpha"))
        apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
        get_world_registry(World.objects.get(pk="alpha"))
    assert not [
        q for q in ctx.captured_queries if 'FROM "axis' in q["sql"] or "FROM axis" in q["sql"]
    ]
