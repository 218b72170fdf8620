"""apply_event's query count: flat in axes and characters, the world registry read once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.services import apply_event
from tests.factories import CharacterFactory

pytestmark = pytest.mark.usefixtures("synced")


def test_apply_event_query_count_does_not_grow_with_axes_or_characters(
    django_assert_max_num_queries,
):
    one = CharacterFactory()
    many = [CharacterFactory() for _ in range(6)]

    def count(deltas):
        with CaptureQueriesContext(connection) as ctx:
            apply_event(world_id="alpha", event_type="tick", deltas=deltas)
        return len(ctx.captured_queries)

    count({one.pk: {"wealth": 0.1}})  # creates the event type: a one-off cost
    small = count({one.pk: {"wealth": 0.1}})
    large = count({c.pk: {"wealth": 0.1, "health": -0.1, "luck": 0.05} for c in many})

    assert small == large
    with django_assert_max_num_queries(12):
        apply_event(world_id="alpha", event_type="tick", deltas={one.pk: {"wealth": 0.1}})


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
