"""GET /admin/characters/{id}/axis-events."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import Event, EventMetadata
from ledger.provenance import Actor
from ledger.serializers import API_UNKNOWN_AXIS_FILTER
from ledger.services import apply_event
from ledger.views import API_UNKNOWN_CHARACTER
from tests.api.conftest import events_url, retire_axis
from tests.factories import CharacterFactory

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
NOT_AN_INTEGER = "A valid integer is required."  # DRF's
NOT_BLANK = "This field may not be blank."  # DRF's


def tick(character, **deltas):
    return apply_event(world_id="alpha", event_type="tick", deltas={character.pk: deltas})


def test_axis_events_lists_events_newest_first_with_deltas_and_metadata(staff_client, hero):
    loot = apply_event(
        world_id="alpha",
        event_type="loot_found",
        deltas={hero.pk: {"wealth": 0.2, "health": -0.1}},
        metadata={"source": "treasure_chest", "room": "7"},
        actor=Actor(name="quartermaster"),
        source="command",
    )

    response = staff_client.get(events_url(hero.pk))

    assert response.status_code == 200
    body = response.json()
    assert body["character_id"] == hero.pk
    assert body["next_before"] is None
    newest, genesis = body["events"]
    assert newest == {
        "event_id": loot.pk,
        "world_id": "alpha",
        "event_type": "loot_found",
        "event_type_description": "",
        "timestamp": loot.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "recorded_at": loot.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "occurred_at": loot.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": {"name": "quartermaster", "user_id": None, "key": None},
        "source": "command",
        "request_id": None,
        "policy_hash": hero.world.policy_hash,
        "reverses": None,
        "reversed_by": None,
        "metadata": {"room": "7", "source": "treasure_chest"},
        "deltas": [
            {
                "character_id": hero.pk,
                "axis_name": "health",
                "old_score": 0.8,
                "new_score": 0.7,
                "delta": -0.1,
                "requested_delta": -0.1,
                "old_label": "hale",
                "new_label": "hale",
            },
            {
                "character_id": hero.pk,
                "axis_name": "wealth",
                "old_score": 0.3,
                "new_score": 0.5,
                "delta": 0.2,
                "requested_delta": 0.2,
                "old_label": "modest",
                "new_label": "well-kept",
            },
        ],
    }
    assert ISO_UTC.match(newest["timestamp"])
    assert genesis["event_type"] == "character_created"
    assert [d["axis_name"] for d in genesis["deltas"]] == ["health", "luck", "wealth"]


def test_axis_events_reads_deltas_and_metadata_without_joining_other_tables(staff_client, hero):
    """The page's deltas and metadata are read by event id alone, the metadata by key.

    Joining the event table only to sort (the models' default orderings) read its pages
    for every row; they spread over the whole ledger, and the read grew with it.
    """
    tick = apply_event(
        world_id="alpha",
        event_type="tick",
        deltas={hero.pk: {"wealth": 0.1, "luck": 0.1, "health": -0.1}},
        metadata={"zone": "north"},
    )
    # A key stored after one it sorts before: only the read's ORDER BY puts it first.
    EventMetadata.objects.create(event=tick, world_id="alpha", key="act", value="2")

    with CaptureQueriesContext(connection) as ctx:
        newest = staff_client.get(events_url(hero.pk)).json()["events"][0]

    children = [
        query["sql"]
        for query in ctx.captured_queries
        if '"event_entity_axis_delta"."old_score"' in query["sql"]
        or 'FROM "event_metadata"' in query["sql"]
    ]
    assert len(children) == 2, children
    for sql in children:
        assert "JOIN" not in sql, sql
    assert [d["axis_name"] for d in newest["deltas"]] == ["health", "luck", "wealth"]
    assert list(newest["metadata"]) == ["act", "zone"]


def test_axis_events_show_the_requested_delta_when_the_score_was_clamped(staff_client, hero):
    tick(hero, wealth=5.0)

    (delta,) = staff_client.get(events_url(hero.pk)).json()["events"][0]["deltas"]

    assert (delta["new_score"], delta["delta"], delta["requested_delta"]) == (1.0, 0.7, 5.0)


def test_axis_events_show_only_this_characters_deltas(staff_client, hero):
    partner = CharacterFactory(scores={"wealth": 0.6})
    trade = apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={hero.pk: {"wealth": 0.1}, partner.pk: {"wealth": -0.1}},
    )
    tick(partner, luck=0.1)

    events = staff_client.get(events_url(hero.pk)).json()["events"]

    assert [e["event_id"] for e in events][0] == trade.pk
    assert [(d["character_id"], d["new_score"]) for d in events[0]["deltas"]] == [(hero.pk, 0.4)]
    assert len(events) == 2  # the trade and hero's creation, not partner's tick


def test_axis_events_limit_cuts_the_page_and_gives_a_cursor(staff_client, hero):
    ids = [tick(hero, wealth=0.01).pk for _ in range(4)]

    body = staff_client.get(events_url(hero.pk), {"limit": 2}).json()

    assert [e["event_id"] for e in body["events"]] == [ids[3], ids[2]]
    assert body["next_before"] == ids[2]


def test_axis_events_limit_defaults_to_fifty(staff_client, hero):
    for _ in range(50):
        tick(hero, luck=0.001)

    body = staff_client.get(events_url(hero.pk)).json()

    assert len(body["events"]) == 50
    assert body["next_before"] == body["events"][-1]["event_id"]


@pytest.mark.parametrize("limit", ["1", "500"])
def test_axis_events_accepts_the_limit_bounds(staff_client, hero, limit):
    tick(hero, wealth=0.1)

    body = staff_client.get(events_url(hero.pk), {"limit": limit}).json()

    assert len(body["events"]) == min(int(limit), 2)
    # A full page may have more before it; a page shorter than the limit is the last.
    assert body["next_before"] == (None if limit == "500" else body["events"][-1]["event_id"])


@pytest.mark.parametrize(
    ("limit", "code", "message"),
    [
        ("0", "min_value", "Ensure this value is greater than or equal to 1."),
        ("501", "max_value", "Ensure this value is less than or equal to 500."),
        *[
            (limit, "invalid", NOT_AN_INTEGER)
            for limit in ["-1", "abc", "", "1.5", "1e2", " 5", "+5"]
        ],
    ],
)
def test_axis_events_rejects_a_limit_outside_one_to_five_hundred(
    staff_client, hero, limit, code, message
):
    response = staff_client.get(events_url(hero.pk), {"limit": limit})

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"limit: {message}",
        "code": code,
        "field": "limit",
        "errors": {"limit": [message]},
    }


def test_walking_every_page_visits_each_event_once_in_order(staff_client, hero):
    for index in range(10):
        tick(hero, wealth=0.01 * (index % 3))
    full = staff_client.get(events_url(hero.pk), {"limit": 500}).json()["events"]
    assert len(full) == 11

    walked, before, pages = [], None, 0
    while True:
        params = {"limit": 3} if before is None else {"limit": 3, "before": before}
        body = staff_client.get(events_url(hero.pk), params).json()
        walked += body["events"]
        pages += 1
        before = body["next_before"]
        if before is None:
            break

    assert pages == 4
    assert walked == full
    assert len({event["event_id"] for event in walked}) == 11


def test_axis_events_before_pages_back_from_any_id(staff_client, hero):
    ids = [tick(hero, wealth=0.01).pk for _ in range(3)]

    body = staff_client.get(events_url(hero.pk), {"before": ids[2]}).json()

    assert [e["event_id"] for e in body["events"]][:2] == [ids[1], ids[0]]


@pytest.mark.parametrize(
    ("before", "code", "message"),
    [
        ("0", "min_value", "Ensure this value is greater than or equal to 1."),
        *[
            (before, "invalid", NOT_AN_INTEGER)
            for before in ["-5", "abc", "", "2.0", "99999999999999999999"]
        ],
    ],
)
def test_axis_events_rejects_a_bad_before(staff_client, hero, before, code, message):
    response = staff_client.get(events_url(hero.pk), {"before": before})

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"before: {message}",
        "code": code,
        "field": "before",
        "errors": {"before": [message]},
    }


def test_axis_events_filters_by_event_type(staff_client, hero):
    loot = apply_event(world_id="alpha", event_type="loot_found", deltas={hero.pk: {"wealth": 0.1}})
    tick(hero, wealth=0.1)

    body = staff_client.get(events_url(hero.pk), {"event_type": "loot_found"}).json()

    assert [e["event_id"] for e in body["events"]] == [loot.pk]


def test_axis_events_filter_by_an_unused_event_type_is_empty(staff_client, hero):
    body = staff_client.get(events_url(hero.pk), {"event_type": "never_happened"}).json()

    assert body == {"character_id": hero.pk, "events": [], "next_before": None}


def test_axis_events_filters_by_axis_and_keeps_the_events_other_deltas(staff_client, hero):
    both = tick(hero, wealth=0.1, health=-0.1)
    tick(hero, wealth=0.1)
    tick(hero, luck=0.1)

    body = staff_client.get(events_url(hero.pk), {"axis": "health"}).json()

    assert [e["event_id"] for e in body["events"]][0] == both.pk
    assert [d["axis_name"] for d in body["events"][0]["deltas"]] == ["health", "wealth"]
    assert len(body["events"]) == 2  # and the genesis event


def test_axis_events_combines_filters_and_paging(staff_client, hero):
    ids = [
        apply_event(world_id="alpha", event_type="heal", deltas={hero.pk: {"health": 0.01}}).pk
        for _ in range(3)
    ]
    tick(hero, health=0.01)

    body = staff_client.get(
        events_url(hero.pk), {"event_type": "heal", "axis": "health", "limit": 2}
    ).json()

    assert [e["event_id"] for e in body["events"]] == [ids[2], ids[1]]
    assert body["next_before"] == ids[1]
    rest = staff_client.get(
        events_url(hero.pk),
        {"event_type": "heal", "axis": "health", "limit": 2, "before": ids[1]},
    ).json()
    assert [e["event_id"] for e in rest["events"]] == [ids[0]]
    assert rest["next_before"] is None


def test_axis_events_filter_by_a_retired_axis_still_finds_its_history(
    staff_client, hero, worlds_dir
):
    lucky = tick(hero, luck=0.1)
    retire_axis(worlds_dir, "alpha", "luck")

    body = staff_client.get(events_url(hero.pk), {"axis": "luck"}).json()

    assert [e["event_id"] for e in body["events"]][0] == lucky.pk


@pytest.mark.parametrize(
    ("axis", "code", "message"),
    [
        (
            "charisma",
            "unknown_axis",
            API_UNKNOWN_AXIS_FILTER.format(axis="charisma", world_id="alpha"),
        ),
        ("morale", "unknown_axis", API_UNKNOWN_AXIS_FILTER.format(axis="morale", world_id="alpha")),
        ("", "blank", NOT_BLANK),
    ],
)
def test_axis_events_rejects_an_axis_the_world_does_not_have(
    staff_client, hero, axis, code, message
):
    response = staff_client.get(events_url(hero.pk), {"axis": axis})

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"axis: {message}",
        "code": code,
        "field": "axis",
        "errors": {"axis": [message]},
    }


def test_axis_events_rejects_an_empty_event_type(staff_client, hero):
    response = staff_client.get(events_url(hero.pk), {"event_type": ""})

    assert response.status_code == 400
    assert response.json() == {
        "detail": f"event_type: {NOT_BLANK}",
        "code": "blank",
        "field": "event_type",
        "errors": {"event_type": [NOT_BLANK]},
    }


@pytest.mark.parametrize("character_id", ["999999", "0", "x", "99999999999999999999"])
def test_axis_events_of_an_unknown_character_is_404(staff_client, synced, character_id):
    response = staff_client.get(events_url(character_id))

    assert response.status_code == 404
    assert response.json() == {
        "detail": API_UNKNOWN_CHARACTER.format(character_id=character_id),
        "code": "unknown_character",
        "field": None,
    }


def test_axis_events_never_shows_another_worlds_events(staff_client, hero, foreigner):
    apply_event(world_id="beta", event_type="tick", deltas={foreigner.pk: {"wealth": 0.1}})

    events = staff_client.get(events_url(hero.pk)).json()["events"]

    assert {e["world_id"] for e in events} == {"alpha"}
    assert Event.objects.filter(world_id="beta").count() == 2
