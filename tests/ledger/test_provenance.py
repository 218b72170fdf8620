"""Every event records who caused it, through which channel, when in game time, and under
which policy; written with the event, never changed, never blank."""

import getpass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.utils import timezone as dj_timezone

from ledger.exceptions import LedgerError
from ledger.models import Event
from ledger.provenance import Actor
from ledger.services import apply_event, apply_events
from tests.conftest import table_state
from tests.factories import CharacterFactory, UserFactory
from worlds.models import World

pytestmark = pytest.mark.usefixtures("synced")


def stored(event) -> Event:
    return Event.objects.get(pk=event.pk)


def provenance(event) -> tuple:
    row = stored(event)
    return (row.actor_name, row.actor_user_id, row.source, row.request_id)


def test_a_call_without_provenance_is_recorded_as_the_running_command(hero):
    event = apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})

    row = stored(event)
    assert row.source == "command"
    assert row.actor_user_id is None
    assert row.actor_name.endswith(f"(os user {getpass.getuser()})")
    assert row.request_id is None
    assert row.occurred_at == row.timestamp
    assert row.policy_hash == World.objects.get(pk="alpha").policy_hash
    # What apply_event returns is what was stored.
    assert provenance(event) == (
        event.actor_name,
        event.actor_user_id,
        event.source,
        event.request_id,
    )


def test_a_user_is_recorded_by_id_and_by_a_copy_of_the_username(hero):
    gm = UserFactory(username="mira")
    event = apply_event(
        world_id="alpha",
        event_type="tick",
        deltas={hero.pk: {"wealth": 0.1}},
        actor=gm,
        source="api",
        request_id="req-1",
    )

    assert provenance(event) == ("mira", gm.pk, "api", "req-1")


def test_renaming_or_deleting_the_user_neither_blocks_nor_alters_the_ledger(hero):
    gm = UserFactory(username="mira")
    event = apply_event(
        world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}}, actor=gm
    )
    gm_id = gm.pk

    gm.username = "mira-renamed"
    gm.save()
    assert provenance(event)[:2] == ("mira", gm_id)
    gm.delete()

    assert provenance(event)[:2] == ("mira", gm_id)


def test_the_products_own_events_are_the_systems(synced):
    hero = CharacterFactory()

    created = (
        Event.objects.filter(event_type__name="character_created", deltas__character=hero)
        .distinct()
        .get()
    )

    assert (created.actor_name, created.actor_user_id, created.source) == ("system", None, "system")


def test_a_batch_records_the_calls_provenance_and_each_events_game_time(hero):
    then = datetime(1200, 5, 1, 12, 0, tzinfo=UTC)
    events = apply_events(
        world_id="alpha",
        events=[
            {"event_type": "tick", "deltas": {hero.pk: {"wealth": 0.1}}, "occurred_at": then},
            {"event_type": "tick", "deltas": {hero.pk: {"wealth": 0.1}}},
        ],
        actor=Actor(name="world-server"),
        source="api",
        request_id="tick-9",
    )

    first, second = (stored(event) for event in events)
    assert provenance(first) == provenance(second) == ("world-server", None, "api", "tick-9")
    assert first.occurred_at == then
    assert second.occurred_at == second.timestamp


@pytest.mark.parametrize(
    ("occurred_at", "accepted"),
    [
        (datetime(519, 12, 17, 15, 57, tzinfo=UTC), True),  # no lower bound: game time
        (datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5))), True),
        ("now+4m59s", True),
        ("now+5m1s", False),
        (datetime(9999, 1, 1, tzinfo=UTC), False),
        (datetime(2026, 1, 1), False),  # noqa: DTZ001 (no offset: refused, not guessed)
        ("2026-01-01T00:00:00+00:00", False),  # the service takes datetimes only
    ],
)
def test_occurred_at_bounds(hero, occurred_at, accepted):
    if isinstance(occurred_at, str) and occurred_at.startswith("now+"):
        seconds = 299 if occurred_at == "now+4m59s" else 301
        occurred_at = dj_timezone.now() + timedelta(seconds=seconds)
    before = table_state()

    def apply():
        return apply_event(
            world_id="alpha",
            event_type="tick",
            deltas={hero.pk: {"wealth": 0.1}},
            occurred_at=occurred_at,
        )

    if accepted:
        assert stored(apply()).occurred_at == occurred_at
        return
    with pytest.raises(LedgerError) as refused:
        apply()
    assert refused.value.field == "occurred_at"
    assert table_state() == before


def test_the_future_skew_is_a_setting(hero, settings):
    settings.PIPEWORKS_OCCURRED_AT_MAX_SKEW = 3600
    soon = dj_timezone.now() + timedelta(minutes=30)

    event = apply_event(
        world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}}, occurred_at=soon
    )

    assert stored(event).occurred_at == soon


def test_a_retry_gives_the_same_instant_in_any_offset(hero):
    instant = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    first = apply_event(
        world_id="alpha",
        event_type="tick",
        deltas={hero.pk: {"wealth": 0.1}},
        idempotency_key="k",
        occurred_at=instant,
    )
    retry = apply_event(
        world_id="alpha",
        event_type="tick",
        deltas={hero.pk: {"wealth": 0.1}},
        idempotency_key="k",
        occurred_at=instant.astimezone(timezone(timedelta(hours=2))),
    )
    assert (retry.pk, retry.replayed) == (first.pk, True)

    with pytest.raises(LedgerError) as conflict:
        apply_event(
            world_id="alpha",
            event_type="tick",
            deltas={hero.pk: {"wealth": 0.1}},
            idempotency_key="k",
            occurred_at=instant + timedelta(seconds=1),
        )
    assert conflict.value.code == "idempotency_conflict"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": "carrier-pigeon"}, "source"),
        ({"request_id": "x" * 201}, "request_id"),
        ({"request_id": "bad\nid"}, "request_id"),
        ({"request_id": ""}, "request_id"),
    ],
)
def test_bad_provenance_is_refused_and_nothing_is_written(hero, kwargs, field):
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        apply_event(
            world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}}, **kwargs
        )

    assert (refused.value.code, refused.value.field) == ("invalid", field)
    assert table_state() == before


def test_the_system_source_without_an_actor_is_the_system(hero):
    event = apply_event(
        world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}}, source="system"
    )

    assert provenance(event)[:3] == ("system", None, "system")
