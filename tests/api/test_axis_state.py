"""GET /admin/characters/{id}/axis-state."""

import re

import pytest

from axes.models import CharacterAxisScore
from ledger.services import apply_event
from tests.api.conftest import retire_axis, state_url
from tests.factories import CharacterFactory
from worlds.models import Character, World

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_axis_state_returns_scores_labels_and_snapshots(staff_client, hero):
    apply_event(world_id="alpha", event_type="loot_found", deltas={hero.pk: {"wealth": 0.4}})
    hero.refresh_from_db()

    response = staff_client.get(state_url(hero.pk))

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "character_id": hero.pk,
        "world_id": "alpha",
        "state_seed": 1,
        "state_version": hero.world.policy_hash,
        "state_updated_at": body["state_updated_at"],
        "policy_hash": hero.world.policy_hash,
        "snapshot_stale": False,
        "base_state": hero.base_state_json,
        "current_state": hero.current_state_json,
        "as_of": None,
        "axes": [
            {
                "axis_id": body["axes"][0]["axis_id"],
                "axis_name": "health",
                "axis_score": 0.8,
                "axis_label": "hale",
            },
            {
                "axis_id": body["axes"][1]["axis_id"],
                "axis_name": "luck",
                "axis_score": 0.25,
                "axis_label": None,
            },
            {
                "axis_id": body["axes"][2]["axis_id"],
                "axis_name": "wealth",
                "axis_score": 0.7,
                "axis_label": "wealthy",
            },
        ],
    }
    assert ISO_UTC.match(body["state_updated_at"])
    assert body["base_state"]["axes"]["wealth"] == {"score": 0.3, "label": "modest"}


def test_axis_state_reads_scores_not_the_snapshot(staff_client, hero):
    Character.objects.filter(pk=hero.pk).update(
        current_state_json={"axes": {"wealth": {"score": 0.99, "label": "decadent"}}}
    )

    body = staff_client.get(state_url(hero.pk)).json()

    wealth = next(axis for axis in body["axes"] if axis["axis_name"] == "wealth")
    assert (wealth["axis_score"], wealth["axis_label"]) == (0.3, "modest")
    assert body["current_state"]["axes"]["wealth"]["score"] == 0.99


def test_axis_state_flags_a_snapshot_derived_with_another_policy_as_stale(staff_client, hero):
    World.objects.filter(pk="alpha").update(policy_hash="f" * 64)

    body = staff_client.get(state_url(hero.pk)).json()

    assert body["policy_hash"] == "f" * 64
    assert body["state_version"] != body["policy_hash"]
    assert body["snapshot_stale"] is True


def test_axis_state_leaves_out_retired_axes(staff_client, hero, worlds_dir):
    retire_axis(worlds_dir, "alpha", "luck")

    body = staff_client.get(state_url(hero.pk)).json()

    assert [axis["axis_name"] for axis in body["axes"]] == ["health", "wealth"]


def test_axis_state_as_of_the_last_event_equals_the_live_state(staff_client, hero):
    apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    last = apply_event(
        world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.2, "health": -0.3}}
    )

    live = staff_client.get(state_url(hero.pk)).json()
    as_of = staff_client.get(state_url(hero.pk), {"as_of": last.pk}).json()

    assert as_of["as_of"] == last.pk
    assert as_of["axes"] == live["axes"]
    assert {a["axis_name"]: a["axis_score"] for a in live["axes"]} == {
        "health": 0.5,
        "luck": 0.25,
        "wealth": 0.6,
    }


def test_axis_state_as_of_an_earlier_event_returns_the_older_scores(staff_client, hero):
    first = apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.4}})

    response = staff_client.get(state_url(hero.pk), {"as_of": first.pk})

    assert response.status_code == 200
    body = response.json()
    assert body["as_of"] == first.pk
    wealth = next(axis for axis in body["axes"] if axis["axis_name"] == "wealth")
    assert (wealth["axis_score"], wealth["axis_label"]) == (0.4, "well-kept")
    live = CharacterAxisScore.objects.get(character=hero, axis__name="wealth").axis_score
    assert live == 0.8
    # The snapshots are still the current ones.
    assert body["current_state"]["axes"]["wealth"]["score"] == 0.8


def test_axis_state_as_of_ignores_other_characters_events(staff_client, hero):
    other = CharacterFactory(scores={"wealth": 0.9})
    mine = apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    theirs = apply_event(world_id="alpha", event_type="tick", deltas={other.pk: {"wealth": -0.5}})

    body = staff_client.get(state_url(hero.pk), {"as_of": theirs.pk}).json()
    at_mine = staff_client.get(state_url(hero.pk), {"as_of": mine.pk}).json()

    assert body["axes"] == at_mine["axes"]


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ("0", "min_value", "Ensure this value is greater than or equal to 1."),
        *[
            (value, "invalid", "A valid integer is required.")
            for value in ["-1", "abc", "", "1.5", " 1", "99999999999999999999"]
        ],
    ],
)
def test_axis_state_rejects_an_as_of_that_is_not_a_positive_integer(
    staff_client, hero, value, code, message
):
    response = staff_client.get(state_url(hero.pk), {"as_of": value})

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"as_of: {message}",
        "code": code,
        "field": "as_of",
        "errors": {"as_of": [message]},
    }


def test_axis_state_as_of_an_unknown_event_is_404(staff_client, hero):
    response = staff_client.get(state_url(hero.pk), {"as_of": 10**9})

    assert response.status_code == 404
    assert response.json() == {
        "detail": f"no event {10**9} in world 'alpha'",
        "code": "unknown_event",
        "field": "as_of",
    }


def test_axis_state_as_of_an_event_of_another_world_is_404(staff_client, hero, foreigner):
    event = apply_event(world_id="beta", event_type="tick", deltas={foreigner.pk: {"morale": 0.1}})

    response = staff_client.get(state_url(hero.pk), {"as_of": event.pk})

    assert response.status_code == 404
    assert response.json()["detail"] == f"no event {event.pk} in world 'alpha'"


def test_axis_state_as_of_an_event_before_the_character_existed_is_404(staff_client, synced):
    elder = CharacterFactory()
    earlier = apply_event(world_id="alpha", event_type="tick", deltas={elder.pk: {"luck": 0.1}})
    newcomer = CharacterFactory()

    response = staff_client.get(state_url(newcomer.pk), {"as_of": earlier.pk})

    assert response.status_code == 404
    assert response.json()["detail"] == (
        f"character {newcomer.pk} did not exist yet at event {earlier.pk}"
    )


@pytest.mark.parametrize("character_id", ["999999", "0", "abc", "-3", "99999999999999999999"])
def test_axis_state_of_an_unknown_character_is_404(staff_client, synced, character_id):
    response = staff_client.get(state_url(character_id))

    assert response.status_code == 404
    assert response.json() == {
        "detail": f"unknown character {character_id}",
        "code": "unknown_character",
        "field": None,
    }
