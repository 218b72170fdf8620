"""What ``ledger.statements`` remembers between events never leaks into another event's rows."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection

from axes.models import CharacterAxisScore
from ledger import statements
from ledger.models import Event
from ledger.services import apply_event
from worlds.models import Character

pytestmark = pytest.mark.usefixtures("synced")


def test_each_event_stores_its_own_time_in_every_column(hero):
    first = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    second = first + timedelta(seconds=1, microseconds=1)
    events = []
    for now in (first, second):
        with mock.patch("django.utils.timezone.now", return_value=now):
            events.append(
                apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
            )
        stored = Event.objects.get(pk=events[-1].pk)
        score = CharacterAxisScore.objects.get(character=hero, axis__name="wealth")
        character = Character.objects.get(pk=hero.pk)
        assert (stored.timestamp, stored.occurred_at) == (now, now)
        assert score.updated_at == now
        assert character.state_updated_at == now
    assert [event.timestamp for event in events] == [first, second]


def test_a_datetime_is_adapted_afresh_unless_it_is_the_same_object():
    adapt = connection.ops.adapt_datetimefield_value
    moment = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    later = moment + timedelta(microseconds=1)
    equal_but_other = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    assert statements._adapt_datetime(moment) == adapt(moment)
    assert statements._adapt_datetime(later) == adapt(later)
    assert statements._adapt_datetime(later) == adapt(later)
    assert statements._adapt_datetime(equal_but_other) == adapt(equal_but_other)
    assert statements._adapt_datetime(None) is None


def test_a_world_row_with_other_values_gives_another_world():
    synced = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)

    one = statements._world("alpha", "hash-1", "1.0.0", synced)
    again = statements._world("alpha", "hash-1", "1.0.0", synced)
    resynced = statements._world("alpha", "hash-2", "1.1.0", synced + timedelta(seconds=1))

    assert again is one
    assert (resynced.policy_hash, resynced.policy_version) == ("hash-2", "1.1.0")
    assert resynced.synced_at == synced + timedelta(seconds=1)
    assert (one.world_id, one.policy_hash, one.synced_at) == ("alpha", "hash-1", synced)
