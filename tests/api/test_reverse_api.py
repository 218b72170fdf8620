"""POST /admin/events/{id}/reverse: a reversal answered like any event write."""

import pytest

from ledger.services import apply_event
from tests.api.conftest import events_url, retire_axis
from tests.conftest import table_state


def reverse_url(event_id) -> str:
    return f"/admin/events/{event_id}/reverse"


def event_url(event_id) -> str:
    return f"/admin/events/{event_id}"


def reverse(client, event_id, **body):
    return client.post(reverse_url(event_id), {"reason": "mistake", **body}, format="json")


@pytest.fixture
def loot(hero):
    return apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.2}})


def test_reversing_answers_201_with_the_reversal(token_client, staff_user, hero, loot):
    response = reverse(token_client, loot.pk, reason="duplicate reward")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["event_type"] == "reversal"
    assert (body["reverses"], body["reversed_by"]) == (loot.pk, None)
    assert body["metadata"] == {"reason": "duplicate reward"}
    assert body["actor"]["user_id"] == staff_user.pk
    assert body["actor"]["name"].startswith(f"{staff_user.username} (key ")
    assert body["source"] == "api"
    assert [(d["axis_name"], d["delta"]) for d in body["deltas"]] == [("wealth", -0.2)]
    original = token_client.get(event_url(loot.pk)).json()
    assert original["reversed_by"] == body["event_id"]
    assert [d["delta"] for d in original["deltas"]] == [0.2]  # untouched


def test_a_second_reversal_is_409_naming_the_first(token_client, loot):
    first = reverse(token_client, loot.pk).json()["event_id"]
    before = table_state()

    response = reverse(token_client, loot.pk)

    assert response.status_code == 409
    assert response.json()["code"] == "already_reversed"
    assert f"event {first}" in response.json()["detail"]
    assert table_state() == before


def test_a_retry_with_the_same_key_answers_200_with_the_reversal(token_client, loot):
    first = reverse(token_client, loot.pk, idempotency_key="fix-1")
    before = table_state()

    retry = reverse(token_client, loot.pk, idempotency_key="fix-1")

    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.json()["event_id"] == first.json()["event_id"]
    assert table_state() == before


def test_a_reversal_cannot_be_reversed(token_client, loot):
    reversal = reverse(token_client, loot.pk).json()["event_id"]

    response = reverse(token_client, reversal)

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("not_reversible", "event_id")


def test_an_event_on_a_retired_axis_cannot_be_reversed(token_client, hero, worlds_dir):
    lucky = apply_event(world_id="alpha", event_type="luck", deltas={hero.pk: {"luck": 0.1}})
    retire_axis(worlds_dir, "alpha", "luck")

    response = reverse(token_client, lucky.pk)

    assert response.status_code == 400
    assert response.json()["code"] == "retired_axis"
    assert "retired" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [({"reason": ""}, "reason"), ({"reason": 7}, "reason"), ({"why": "x"}, "why")],
)
def test_a_bad_body_is_400_naming_the_field(token_client, loot, body, field):
    response = token_client.post(reverse_url(loot.pk), body, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == field


@pytest.mark.parametrize("event_id", ["999999", "0", "abc"])
def test_an_unknown_event_is_404(token_client, event_id, synced):
    assert reverse(token_client, event_id).status_code == 404
    assert token_client.get(event_url(event_id)).status_code == 404


def test_the_event_detail_lists_every_character_of_the_event(token_client, hero, synced):
    from tests.factories import CharacterFactory

    partner = CharacterFactory()
    trade = apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={hero.pk: {"wealth": -0.1}, partner.pk: {"wealth": 0.1}},
    )

    body = token_client.get(event_url(trade.pk)).json()

    assert {d["character_id"] for d in body["deltas"]} == {hero.pk, partner.pk}
    assert token_client.get(events_url(hero.pk)).json()["events"][0]["event_id"] == trade.pk


def test_the_event_detail_pages_through_a_wide_system_event(token_client, synced):
    from tests.factories import CharacterFactory

    characters = [CharacterFactory() for _ in range(7)]
    wide = apply_event(
        world_id="alpha",
        event_type="storm",
        deltas={c.pk: {"wealth": -0.01, "luck": 0.01} for c in characters},
    )

    pages, offset = [], 0
    while offset is not None:
        body = token_client.get(
            event_url(wide.pk), {"deltas_limit": 4, "deltas_offset": offset}
        ).json()
        pages.append([(d["character_id"], d["axis_name"]) for d in body["deltas"]])
        offset = body["next_deltas_offset"]

    assert [len(page) for page in pages] == [4, 4, 4, 2]
    seen = [pair for page in pages for pair in page]
    assert sorted(seen) == sorted((c.pk, axis) for c in characters for axis in ("luck", "wealth"))
    assert len(set(seen)) == 14
    everything = token_client.get(event_url(wide.pk)).json()
    assert (len(everything["deltas"]), everything["next_deltas_offset"]) == (14, None)
    refused = token_client.get(event_url(wide.pk), {"deltas_limit": 1001})
    assert (refused.status_code, refused.json()["field"]) == (400, "deltas_limit")
