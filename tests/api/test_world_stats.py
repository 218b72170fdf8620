"""``GET /admin/worlds/{world_id}/stats``: distributions and event-type impact as JSON.

The numbers themselves are checked against a hand-computed fixture in
``tests/ledger/test_stats.py``; here: the answer's shape, the window parameter, the
refusals and the query count.
"""

import pytest
from rest_framework.test import APIClient

from access.models import WorldMembership
from ledger.services import apply_event
from tests.api.conftest import api_key_for
from tests.factories import CharacterFactory

URL = "/admin/worlds/{world_id}/stats"


def stats(client, world_id="alpha", **query):
    response = client.get(URL.format(world_id=world_id), query)
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def population(synced):
    characters = [CharacterFactory(scores={"wealth": wealth}) for wealth in (0.0, 0.195, 0.85)]
    apply_event(
        world_id="alpha",
        event_type="loot_found",
        deltas={characters[0].pk: {"wealth": 0.25}, characters[2].pk: {"wealth": 0.5}},
    )
    return characters


def test_every_label_is_listed_with_its_count_zero_counts_included(staff_client, population):
    body = stats(staff_client)

    wealth = next(axis for axis in body["distributions"] if axis["axis"] == "wealth")
    # After the loot: 0.25 (modest), 0.195 (the gap: poor), 1.0 (clamped: decadent).
    assert [(label["label"], label["count"]) for label in wealth["labels"]] == [
        ("poor", 1),
        ("modest", 1),
        ("well-kept", 0),
        ("wealthy", 0),
        ("decadent", 1),
    ]
    assert wealth["characters"] == 3
    assert len(wealth["histogram"]) == 20 and sum(wealth["histogram"]) == 3
    assert (wealth["at_zero"], wealth["at_one"]) == (0, 1)
    assert {axis["axis"] for axis in body["distributions"]} == {"wealth", "health", "luck"}


def test_the_event_type_impact_of_the_default_window(staff_client, population):
    body = stats(staff_client)

    assert body["window"] == "7d"
    assert body["since"] is not None and body["until"] > body["since"]
    loot = next(kind for kind in body["event_types"] if kind["event_type"] == "loot_found")
    assert (loot["events"], loot["characters"]) == (1, 2)
    (wealth,) = loot["axes"]
    assert wealth == {
        "axis": "wealth",
        "retired": False,
        "deltas": 2,
        "sum": 0.4,  # +0.25 and +0.15 (asked +0.5, clamped at 1)
        "mean": 0.2,
        "clamped": 1,
        "clamped_share": 0.5,
        "crossings_up": 1,  # poor -> modest; decadent stays decadent
        "crossings_down": 0,
    }
    assert body["events"] == 4  # three creations and the loot
    movers = next(axis for axis in body["axes"] if axis["axis"] == "wealth")["top_movers"]
    assert [mover["change"] for mover in movers] == [1.0, 0.25, 0.195]  # creation + loot


def test_window_all_has_no_start(staff_client, population):
    body = stats(staff_client, window="all")

    assert (body["window"], body["since"], body["events"]) == ("all", None, 4)


@pytest.mark.parametrize("window", ["2d", "ALL", "7"])
def test_a_bad_window_is_a_400_naming_the_parameter(staff_client, synced, window):
    response = staff_client.get(URL.format(world_id="alpha"), {"window": window})

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_choice", "window")
    assert "24h, 7d, 30d, all" in response.json()["detail"]


@pytest.mark.parametrize("world_id", ["atlantis", "a%00b", "x" * 65])
def test_an_unknown_world_is_a_404(staff_client, synced, world_id):
    response = staff_client.get(URL.format(world_id=world_id))

    assert (response.status_code, response.json()["code"]) == (404, "unknown_world")


def test_who_may_read_the_statistics(
    anonymous_client, member_client, bare_staff_client, staff_user, synced
):
    assert anonymous_client.get(URL.format(world_id="alpha")).status_code in (401, 403)
    assert member_client.get(URL.format(world_id="alpha")).status_code == 403
    assert bare_staff_client.get(URL.format(world_id="alpha")).status_code == 403

    WorldMembership.objects.create(user=staff_user, world_id="beta")
    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(staff_user)}")
    assert key_client.get(URL.format(world_id="beta")).status_code == 200
    # A world the user may not use is a 403 whether it exists or not.
    assert key_client.get(URL.format(world_id="alpha")).status_code == 403
    assert key_client.get(URL.format(world_id="atlantis")).status_code == 403


def test_the_endpoint_runs_a_fixed_number_of_queries(
    staff_client, population, django_assert_max_num_queries
):
    stats(staff_client)  # warms the registry cache
    with django_assert_max_num_queries(12) as small:
        stats(staff_client)
    characters = [CharacterFactory() for _ in range(30)]
    for index, character in enumerate(characters):
        apply_event(
            world_id="alpha",
            event_type=f"kind_{index % 5}",
            deltas={character.pk: {"wealth": 0.1, "health": -0.1}},
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        stats(staff_client)
