"""``GET /admin/worlds/{world_id}/events``: a world's change feed, followed with a cursor."""

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import close_old_connections, connection
from django.utils import timezone

from ledger import feed
from ledger.models import Event
from ledger.services import apply_event, reverse_event, state
from ledger.services.drift import apply_drift
from tests.factories import CharacterFactory
from tests.ledger.test_drift import rewind, set_drift

URL = "/admin/worlds/{world_id}/events"
ROOT = Path(__file__).resolve().parent.parent.parent


def page(client, world_id="alpha", **query):
    response = client.get(URL.format(world_id=world_id), query)
    assert response.status_code == 200, response.json()
    return response.json()


def follow(client, world_id="alpha", after=0, **query) -> tuple[list[dict], int]:
    """Read the whole feed from ``after`` as a consumer would: page after page."""
    seen = []
    while True:
        body = page(client, world_id, after=after, **query)
        seen += body["events"]
        after = body["next_after"]
        if not body["has_more"]:
            return seen, after


def test_the_feed_has_every_event_of_the_world_in_ledger_order(staff_client, synced, worlds_dir):
    hero = CharacterFactory(scores={"luck": 0.3})
    CharacterFactory(world_id="beta")
    loot = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"luck": 0.1}})
    reverse_event(event_id=loot.pk, reason="mistake")
    set_drift(worlds_dir, "luck", "{ rate: 0.001, every: 1h }")
    rewind(2)
    apply_drift(world_id="alpha")

    events, cursor = follow(staff_client, limit=2)

    expected = list(
        Event.objects.filter(world_id="alpha").order_by("pk").values_list("pk", flat=True)
    )
    assert [event["event_id"] for event in events] == expected
    assert {event["event_type"] for event in events} >= {
        "character_created",
        "loot",
        "reversal",
        "drift",
    }
    assert all(event["world_id"] == "alpha" for event in events)
    assert cursor >= expected[-1]
    # A consumer that stored the cursor sees only what comes next.
    later = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"luck": 0.1}})
    assert [e["event_id"] for e in follow(staff_client, after=cursor)[0]] == [later.pk]


def test_an_event_carries_its_deltas_metadata_and_provenance(staff_client, synced):
    hero = CharacterFactory(scores={"luck": 0.3})
    event = apply_event(
        world_id="alpha",
        event_type="loot",
        deltas={hero.pk: {"luck": 0.1}},
        metadata={"source": "chest"},
        request_id="req-1",
    )

    [body] = page(staff_client, after=event.pk - 1, limit=1)["events"]

    assert body["deltas"][0]["new_score"] == 0.4
    assert body["metadata"] == {"source": "chest"}
    assert (body["request_id"], body["source"], body["deltas_complete"]) == (
        "req-1",
        "command",
        True,
    )


def test_a_wide_event_carries_a_bounded_number_of_deltas(staff_client, synced, monkeypatch):
    monkeypatch.setattr(feed, "FEED_DELTAS_PER_EVENT", 2)
    heroes = [CharacterFactory() for _ in range(3)]
    wide = apply_event(
        world_id="alpha", event_type="storm", deltas={h.pk: {"luck": -0.01} for h in heroes}
    )

    [body] = page(staff_client, after=wide.pk - 1, limit=1)["events"]

    assert (len(body["deltas"]), body["deltas_complete"]) == (2, False)


def test_time_filters_apply_to_the_feed(staff_client, synced):
    hero = CharacterFactory()
    old = apply_event(
        world_id="alpha",
        event_type="tick",
        deltas={hero.pk: {"luck": 0.01}},
        occurred_at=timezone.now() - timedelta(days=2),
    )
    new = apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"luck": 0.01}})
    since = (timezone.now() - timedelta(days=1)).isoformat()

    ids = [e["event_id"] for e in follow(staff_client, occurred_since=since)[0]]

    assert new.pk in ids and old.pk not in ids


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"after": "-1"}, "after"),
        ({"after": "x"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"since": "today"}, "since"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(staff_client, synced, query, field):
    response = staff_client.get(URL.format(world_id="alpha"), query)

    assert (response.status_code, response.json()["field"]) == (400, field)


def test_an_unknown_world_is_a_404_and_a_user_without_read_permission_a_403(
    staff_client, bare_staff_client, synced
):
    assert staff_client.get(URL.format(world_id="atlantis")).status_code == 404
    assert bare_staff_client.get(URL.format(world_id="alpha")).status_code == 403


def test_the_feed_runs_a_fixed_number_of_queries(
    staff_client, synced, django_assert_max_num_queries
):
    heroes = [CharacterFactory() for _ in range(30)]
    for hero in heroes:
        apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"luck": 0.01}})

    page(staff_client, limit=1)  # the event id sequence's name is looked up once
    with django_assert_max_num_queries(12):
        body = page(staff_client, limit=100)

    assert len(body["events"]) >= 60


# Writes in flight (PostgreSQL: two writers can commit out of id order) ---------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_is_not_served_while_an_earlier_id_may_still_commit(
    staff_client, synced, settings
):
    settings.PIPEWORKS_FEED_SETTLE_TIMEOUT = 0.3
    first, second = CharacterFactory(), CharacterFactory()
    start = page(staff_client)["next_after"]
    inserted, release = threading.Event(), threading.Event()
    original = state.write_event_state

    def slow_state(*args, event=None, **kwargs):
        written = original(*args, event=event, **kwargs)
        if event is not None and written is None:
            return written  # a new type: nothing was written, the write comes again
        inserted.set()  # the event row is in, its transaction still open
        assert release.wait(10)
        return written

    def slow_writer():
        try:
            apply_event(world_id="alpha", event_type="slow", deltas={first.pk: {"luck": 0.01}})
        finally:
            close_old_connections()
            connection.close()

    state.write_event_state = slow_state
    try:
        writer = threading.Thread(target=slow_writer)
        writer.start()
        assert inserted.wait(10)
        state.write_event_state = original
        fast = apply_event(world_id="alpha", event_type="fast", deltas={second.pk: {"luck": 0.01}})

        busy = staff_client.get(URL.format(world_id="alpha"), {"after": start})
        assert busy.status_code == 503
        assert (busy.json()["code"], busy["Retry-After"]) == ("feed_busy", "1")
    finally:
        state.write_event_state = original
        release.set()
        writer.join(10)

    slow = Event.objects.get(event_type__name="slow")
    assert slow.pk < fast.pk  # drawn first, committed last
    events, _ = follow(staff_client, after=start)
    assert [e["event_id"] for e in events] == [slow.pk, fast.pk]


WRITER = (
    "from ledger.services import apply_event\n"
    "for _ in range({count}):\n"
    "    apply_event(world_id='alpha', event_type='tick', deltas={{{hero}: {{'luck': 0.001}}}})\n"
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_consumer_polling_while_four_processes_write_sees_each_event_once(
    staff_client, synced, worlds_dir
):
    heroes = [CharacterFactory() for _ in range(4)]
    start = page(staff_client)["next_after"]
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    writers = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", WRITER.format(count=40, hero=hero.pk)],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url, "PIPEWORKS_WORLDS_DIR": str(worlds_dir)},
            stderr=subprocess.PIPE,
        )
        for hero in heroes
    ]
    seen, cursor = [], start
    while True:
        running = any(writer.poll() is None for writer in writers)
        events, cursor = follow(staff_client, after=cursor)
        seen += [event["event_id"] for event in events]
        if not running:
            break  # one more read after the last write ended
    for writer in writers:
        assert writer.wait() == 0, writer.stderr.read().decode()

    written = list(
        Event.objects.filter(world_id="alpha", pk__gt=start)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(written) == 160
    assert seen == written  # every event once, in ledger order
