"""Time-range filters on a character's events: recorded time and game time (occurred_at)."""

from datetime import UTC, datetime, timedelta

import pytest

from ledger.models import Event
from ledger.services import apply_event
from tests.api.conftest import events_url

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def history(hero):
    """Three events a day apart in game time, recorded one after the other."""
    return [
        apply_event(
            world_id="alpha",
            event_type="tick",
            deltas={hero.pk: {"wealth": 0.01}},
            occurred_at=T0 + timedelta(days=day),
        ).pk
        for day in range(3)
    ]


def recorded(event_id: int) -> datetime:
    return Event.objects.get(pk=event_id).timestamp


def event_ids(client, hero, **query):
    response = client.get(events_url(hero.pk), {"event_type": "tick", **query})
    assert response.status_code == 200, response.json()
    return [event["event_id"] for event in response.json()["events"]]


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_recorded_time_is_filtered_half_open(staff_client, hero, history):
    since, until = recorded(history[1]), recorded(history[2])
    assert recorded(history[0]) < since < until

    assert event_ids(staff_client, hero, since=iso(since)) == history[:0:-1]
    assert event_ids(staff_client, hero, until=iso(until)) == history[1::-1]
    assert event_ids(staff_client, hero, since=iso(since), until=iso(until)) == [history[1]]


def test_game_time_is_filtered_half_open(staff_client, hero, history):
    assert event_ids(staff_client, hero, occurred_since=iso(T0 + timedelta(days=2))) == [history[2]]
    assert event_ids(staff_client, hero, occurred_until=iso(T0 + timedelta(days=1))) == [history[0]]


def test_an_empty_range_is_no_error_and_matches_nothing(staff_client, hero, history):
    at = iso(recorded(history[1]))

    assert event_ids(staff_client, hero, since=at, until=at) == []
    assert event_ids(staff_client, hero, occurred_since=iso(T0), occurred_until=iso(T0)) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-11-01T12:00:00"}, "until"),  # no UTC offset
        ({"occurred_since": "2026-13-01T00:00:00Z"}, "occurred_since"),
    ],
)
def test_a_bad_time_filter_is_a_400_naming_it(staff_client, hero, query, field):
    response = staff_client.get(events_url(hero.pk), query)

    assert response.status_code == 400
    assert response.json()["field"] == field
