"""Every endpoint runs the same number of queries at any ledger size, page size or axis count.

Each test measures a request on a small world, grows the ledger (events, characters and
axes), measures again and compares the exact counts; a warm-up request first fills the
process's registry cache and the shared cache of credentials, as on a running server.
The access checks of a warm request read one cache entry (``access.credentials``): no
query with Redis, one with the database cache the tests run on by default.

The last tests hold the write path to its budget: on a warm path an API write costs at
most ``apply_event``'s own statements (counted in the same test: 4 on PostgreSQL, 8 on
SQLite) plus 2, with the cache a deployment shares in Redis.
"""

import json
import shutil

from django.db import connection
from django.test.utils import CaptureQueriesContext

from access.credentials import revoke_cached_credentials
from ledger.provenance import Actor
from ledger.services import apply_event, apply_events
from ledger.views import forget_character_world
from tests.api.conftest import (
    WORLD_EVENTS_URL,
    WORLDS_URL,
    events_url,
    policy_url,
    state_url,
)
from tests.factories import CharacterFactory
from worlds.services import sync_world_policies

EXTRA_AXES = "".join(f"  extra_{n}:\n    ordering:\n      type: numeric\n" for n in range(6))


def queries(client, method: str, url: str, body=None, **params) -> int:
    """Return how many queries one request runs, after a warm-up request."""

    def send():
        if body is None:
            return getattr(client, method)(url, params)
        return getattr(client, method)(url, json.dumps(body), content_type="application/json")

    assert send().status_code in (200, 201)
    with CaptureQueriesContext(connection) as captured:
        response = send()
    assert response.status_code in (200, 201), response.content
    return len(captured)


def grow(worlds_dir, hero, *, events: int = 40) -> None:
    """Add axes, characters and events (touching every axis) to world alpha."""
    with open(worlds_dir / "alpha" / "policies" / "axes.yaml", "a") as axes_file:
        axes_file.write(EXTRA_AXES)
    sync_world_policies(world_ids=["alpha"])
    others = [CharacterFactory() for _ in range(5)]
    for index in range(events):
        deltas = {hero.pk: {"wealth": 0.01, "health": -0.01, f"extra_{index % 6}": 0.02}}
        deltas[others[index % 5].pk] = {"luck": 0.01}
        apply_event(
            world_id="alpha",
            event_type=f"kind_{index % 4}",
            deltas=deltas,
            metadata={"n": str(index), "source": "growth"},
        )


def test_axis_state_query_count_is_constant(token_client, hero, worlds_dir):
    small = queries(token_client, "get", state_url(hero.pk))
    grow(worlds_dir, hero)

    large = queries(token_client, "get", state_url(hero.pk))

    assert small == large
    assert large <= 10


def test_axis_state_as_of_query_count_is_constant(token_client, hero, worlds_dir):
    first = apply_event(world_id="alpha", event_type="t", deltas={hero.pk: {"wealth": 0.1}})
    small = queries(token_client, "get", state_url(hero.pk), as_of=first.pk)
    grow(worlds_dir, hero)
    last = apply_event(world_id="alpha", event_type="t", deltas={hero.pk: {"wealth": 0.1}})

    large_early = queries(token_client, "get", state_url(hero.pk), as_of=first.pk)
    large_late = queries(token_client, "get", state_url(hero.pk), as_of=last.pk)

    assert small == large_early == large_late
    assert small <= 8


def test_axis_events_query_count_is_constant_in_ledger_size_and_limit(
    token_client, hero, worlds_dir
):
    small = queries(token_client, "get", events_url(hero.pk), limit=5)
    grow(worlds_dir, hero)

    large = queries(token_client, "get", events_url(hero.pk), limit=5)
    large_page = queries(token_client, "get", events_url(hero.pk), limit=500)
    filtered = queries(
        token_client,
        "get",
        events_url(hero.pk),
        limit=500,
        event_type="kind_1",
        axis="extra_3",
        before=10**6,
    )

    assert small == large == large_page == filtered
    assert large <= 10


def test_posting_a_character_event_query_count_is_constant(token_client, hero, worlds_dir):
    body = {"event_type": "tick", "deltas": {"wealth": 0.01}, "metadata": {"a": "b"}}
    small = queries(token_client, "post", events_url(hero.pk), body)
    grow(worlds_dir, hero)

    large = queries(token_client, "post", events_url(hero.pk), body)

    assert small == large


def test_posting_a_world_event_query_count_is_constant(token_client, hero, worlds_dir):
    partner = CharacterFactory()
    body = {
        "world_id": "alpha",
        "event_type": "trade",
        "deltas": [
            {"character_id": hero.pk, "axis_name": "wealth", "delta": 0.01},
            {"character_id": partner.pk, "axis_name": "wealth", "delta": -0.01},
        ],
    }
    small = queries(token_client, "post", WORLD_EVENTS_URL, body)
    grow(worlds_dir, hero)

    large = queries(token_client, "post", WORLD_EVENTS_URL, body)

    assert small == large


def test_replaying_an_event_query_count_is_constant(token_client, hero, worlds_dir):
    body = {"event_type": "tick", "deltas": {"wealth": 0.01}, "idempotency_key": "k"}
    small = queries(token_client, "post", events_url(hero.pk), body)
    grow(worlds_dir, hero)

    large = queries(token_client, "post", events_url(hero.pk), body)

    assert small == large


def test_world_list_and_policy_query_counts_are_constant(token_client, hero, worlds_dir):
    small_list = queries(token_client, "get", WORLDS_URL)
    small_policy = queries(token_client, "get", policy_url("alpha"))
    grow(worlds_dir, hero)
    shutil.copytree(worlds_dir / "beta", worlds_dir / "gamma")
    sync_world_policies()

    assert queries(token_client, "get", WORLDS_URL) == small_list
    assert queries(token_client, "get", policy_url("alpha")) == small_policy
    assert small_list <= 6


# Budget of an API write over apply_event's own statements, on a warm path.
WRITE_BUDGET = 2
# A cold request (the first of a key after any change of access rows) reads the key with
# its owner, the owner's permissions and their groups', their world limits, the key's worlds.
COLD_EXTRA = 5
METADATA = {"zone": "north", "quest": "q1"}


def statements(call) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        call()
    return [query["sql"] for query in captured]


def direct_apply_event(hero) -> list[str]:
    """Statements of one apply_event of the shape the API write below sends (warm: its
    event type exists and the registry is cached, as for the warm API write)."""

    def call():
        apply_event(
            world_id="alpha",
            event_type="tick",
            deltas={hero.pk: {"wealth": 0.01}},
            metadata=METADATA,
            actor=Actor(name="direct", user_id=None),
            source="api",
            request_id="direct",
        )

    call()
    return statements(call)


def post_statements(client, url, body) -> tuple[int, int]:
    """Return the statements of a warm POST and of a cold one (cached credentials dropped)."""
    send = lambda: client.post(url, json.dumps(body), content_type="application/json")  # noqa: E731
    assert send().status_code == 201
    with CaptureQueriesContext(connection) as captured:
        response = send()
    assert response.status_code == 201, response.content
    warm = len(captured)
    revoke_cached_credentials()
    with CaptureQueriesContext(connection) as captured:
        assert send().status_code == 201
    return warm, len(captured)


def test_a_warm_character_event_write_costs_apply_event_plus_at_most_two(
    redis_cache, token_client, hero
):
    own = len(direct_apply_event(hero))
    body = {"event_type": "tick", "deltas": {"wealth": 0.01}, "metadata": METADATA}

    warm, cold = post_statements(token_client, events_url(hero.pk), body)

    assert own == (4 if connection.vendor == "postgresql" else 8)
    assert warm <= own + WRITE_BUDGET
    # The character's world is remembered from the first write (ledger.views).
    assert warm == own
    assert cold == warm + COLD_EXTRA


def test_a_first_write_to_a_character_reads_it_once(redis_cache, token_client, hero):
    own = len(direct_apply_event(hero))
    body = {"event_type": "tick", "deltas": {"wealth": 0.01}, "metadata": METADATA}
    send = lambda: token_client.post(  # noqa: E731
        events_url(hero.pk), json.dumps(body), content_type="application/json"
    )
    assert send().status_code == 201
    forget_character_world(hero.pk)

    first = statements(send)

    assert len(first) == own + 1  # the character of the URL, read for its world
    assert len(statements(send)) == own


def test_a_warm_world_event_write_costs_apply_event_plus_at_most_two(
    redis_cache, token_client, hero
):
    own = len(direct_apply_event(hero))
    body = {
        "world_id": "alpha",
        "event_type": "tick",
        "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.01}],
        "metadata": METADATA,
    }

    warm, cold = post_statements(token_client, WORLD_EVENTS_URL, body)

    assert warm <= own + WRITE_BUDGET
    assert warm == own
    assert cold == warm + COLD_EXTRA


def test_a_warm_batch_write_costs_apply_events_plus_at_most_two(redis_cache, token_client, hero):
    partner = CharacterFactory()
    events = [
        {"event_type": "tick", "deltas": {character.pk: {"wealth": 0.01}}, "metadata": METADATA}
        for character in (hero, partner, hero)
    ]
    own = len(
        statements(
            lambda: apply_events(
                world_id="alpha",
                events=events,
                actor=Actor(name="direct", user_id=None),
                source="api",
                request_id="direct",
            )
        )
    )
    body = {
        "world_id": "alpha",
        "events": [
            {
                "event_type": "tick",
                "deltas": [{"character_id": pk, "axis_name": "wealth", "delta": 0.01}],
                "metadata": METADATA,
            }
            for event in events
            for pk in event["deltas"]
        ],
    }

    warm, cold = post_statements(token_client, WORLD_EVENTS_URL + ":batch", body)

    assert warm <= own + WRITE_BUDGET
    assert cold == warm + COLD_EXTRA


def test_with_the_database_cache_a_warm_write_reads_only_the_cache_beyond_the_event(
    token_client, hero
):
    """Without Redis the cache is a table: the credentials cost one read of it, and the
    write throttle's counter the rest (Django's database cache); no access row is read."""
    direct = direct_apply_event(hero)
    body = {
        "world_id": "alpha",
        "event_type": "tick",
        "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.01}],
        "metadata": METADATA,
    }
    send = lambda: token_client.post(  # noqa: E731
        WORLD_EVENTS_URL, json.dumps(body), content_type="application/json"
    )
    assert send().status_code == 201

    with CaptureQueriesContext(connection) as captured:
        assert send().status_code == 201

    sql = [query["sql"] for query in captured]
    data = [text for text in sql if text.split()[0] not in TRANSACTION_CONTROL]
    direct_data = [text for text in direct if text.split()[0] not in TRANSACTION_CONTROL]
    # The event's own statements come last (compared without their values).
    assert [text[:40] for text in data[-len(direct_data) :]] == [t[:40] for t in direct_data]
    beyond = data[: -len(direct_data)]
    assert beyond and all("pipeworks_cache" in text for text in beyond)
    assert len(sql) - len(direct) <= 16  # 1 for the credentials, the rest the throttle


TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}
