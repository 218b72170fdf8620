"""Every endpoint runs the same number of queries at any ledger size, page size or axis count.

Each test measures a request on a small world, grows the ledger (events, characters and
axes), measures again and compares the exact counts; a warm-up request first fills the
process's registry cache, as on a running server. Three queries of every request are
the access checks: the user's permissions, its groups' permissions and its world limits;
with an API key (``token_client``), a fourth reads the key's worlds where a world is
checked.
"""

import json
import shutil

from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.services import apply_event
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
