"""Provenance through the API: who (token or session), source, request id, game time."""

from datetime import datetime

import pytest

from access.models import ApiKey
from ledger.models import Event
from ledger.provenance import Actor
from ledger.services import apply_event, reverse_event
from tests.api.conftest import WORLD_EVENTS_URL, events_url
from tests.conftest import table_state

BATCH_URL = "/admin/events:batch"


def post(client, url, body, **headers):
    return client.post(url, body, format="json", headers=headers)


def loot(**extra) -> dict:
    return {"event_type": "loot_found", "deltas": {"wealth": 0.1}, **extra}


@pytest.mark.parametrize("channel", ["token_client", "staff_client"])
def test_an_api_write_records_the_user_the_source_and_the_request_id(
    request, channel, staff_user, hero
):
    client = request.getfixturevalue(channel)

    response = post(client, events_url(hero.pk), loot(), **{"X-Request-ID": "trace-42"})

    assert response.status_code == 201
    assert response["X-Request-ID"] == "trace-42"
    body = response.json()
    key = ApiKey.objects.filter(owner=staff_user).first()
    if channel == "token_client":  # the actor is the key, named with its owner
        name, prefix = f"{staff_user.username} (key {key.prefix})", key.prefix
    else:
        name, prefix = staff_user.username, None
    assert body["actor"] == {"name": name, "user_id": staff_user.pk, "key": prefix}
    assert (body["source"], body["request_id"]) == ("api", "trace-42")
    assert body["occurred_at"] == body["recorded_at"] == body["timestamp"]
    assert body["policy_hash"] == hero.world.policy_hash
    stored = Event.objects.get(pk=body["event_id"])
    assert (stored.actor_name, stored.actor_user_id, stored.source, stored.request_id) == (
        name,
        staff_user.pk,
        "api",
        "trace-42",
    )
    assert stored.actor_key == prefix


def test_every_response_carries_a_request_id_even_without_one_sent(token_client, hero):
    first = token_client.get(events_url(hero.pk))
    second = post(token_client, events_url(hero.pk), loot())

    assert len(first["X-Request-ID"]) == 32
    assert second["X-Request-ID"] != first["X-Request-ID"]
    assert second.json()["request_id"] == second["X-Request-ID"]


@pytest.mark.parametrize("hostile", ["x" * 10_000, "evil\x00id", "two\nlines", "é-unicode"])
def test_a_hostile_request_id_is_replaced_by_the_servers(token_client, hero, hostile):
    response = post(token_client, events_url(hero.pk), loot(), **{"X-Request-ID": hostile})

    assert response.status_code == 201
    assert response["X-Request-ID"] != hostile
    assert len(response["X-Request-ID"]) == 32
    assert response.json()["request_id"] == response["X-Request-ID"]


def test_a_request_id_is_no_idempotency_key(token_client, hero):
    headers = {"X-Request-ID": "tracer-reuses-me"}

    first = post(token_client, events_url(hero.pk), loot(), **headers)
    second = post(token_client, events_url(hero.pk), loot(), **headers)

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["event_id"] != second.json()["event_id"]


@pytest.mark.parametrize(
    ("occurred_at", "status", "code"),
    [
        ("1200-05-01T12:00:00+00:00", 201, None),  # no lower bound
        ("2026-03-01T12:00:00-05:00", 201, None),
        ("2026-03-01T12:00:00", 400, "invalid"),  # no offset
        ("9999-01-01T00:00:00Z", 400, "occurred_at_in_future"),
        ("yesterday", 400, "invalid"),
        ("2026-13-01T00:00:00Z", 400, "invalid"),
        (1767225600, 400, "invalid"),
    ],
)
def test_occurred_at_is_checked_and_named(token_client, hero, occurred_at, status, code):
    before = table_state()

    response = post(token_client, events_url(hero.pk), loot(occurred_at=occurred_at))

    assert response.status_code == status, response.content
    if status == 201:
        event = Event.objects.get(pk=response.json()["event_id"])
        assert event.occurred_at == datetime.fromisoformat(occurred_at)
        return
    assert response.json()["field"] == "occurred_at"
    assert response.json()["code"] == code
    assert table_state() == before


def test_occurred_at_is_answered_in_utc(token_client, hero):
    response = post(
        token_client, events_url(hero.pk), loot(occurred_at="0519-12-17T15:57:18+01:00")
    )

    assert response.json()["occurred_at"] == "0519-12-17T14:57:18.000000Z"


def test_a_batch_names_the_event_with_a_bad_occurred_at(token_client, hero):
    event = {
        "event_type": "tick",
        "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}],
    }
    body = {
        "world_id": "alpha",
        "events": [event, {**event, "occurred_at": "9999-01-01T00:00:00Z"}],
    }

    response = post(token_client, BATCH_URL, body)

    assert response.status_code == 400
    assert response.json()["field"] == "events.1.occurred_at"


def test_axis_events_carry_provenance_and_filter_by_it(token_client, staff_user, hero):
    by_api = post(token_client, events_url(hero.pk), loot()).json()["event_id"]
    by_command = apply_event(
        world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}}
    ).pk
    reversal = reverse_event(event_id=by_command, reason="oops", actor=Actor(name="gm"))

    def ids(**params):
        response = token_client.get(events_url(hero.pk), params)
        assert response.status_code == 200, response.content
        return [event["event_id"] for event in response.json()["events"]]

    created = ids()[-1]
    key = ApiKey.objects.get(owner=staff_user)
    assert ids(actor=f"{staff_user.username} (key {key.prefix})") == [by_api]
    assert ids(actor=staff_user.username) == []  # the name as recorded, exactly
    assert ids(source="api") == [by_api]
    assert ids(source="command") == [reversal.pk, by_command]
    assert ids(source="system") == [created]
    assert ids(source="unknown") == []
    assert ids(reversal="true") == [reversal.pk]
    assert ids(reversed="true") == [by_command]
    assert reversal.pk not in ids(reversal="false")
    assert ids(reversed="false", source="command") == [reversal.pk]
    listed = {
        event["event_id"]: event for event in token_client.get(events_url(hero.pk)).json()["events"]
    }
    assert listed[by_command]["reversed_by"] == reversal.pk
    assert listed[reversal.pk]["reverses"] == by_command
    assert listed[reversal.pk]["actor"]["name"] == "gm"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"source": "pigeon"}, "source"), ({"reversal": "maybe"}, "reversal")],
)
def test_bad_provenance_filters_are_400_naming_the_field(token_client, hero, params, field):
    response = token_client.get(events_url(hero.pk), params)

    assert response.status_code == 400
    assert response.json()["field"] == field


def test_a_world_event_write_records_the_session_user(staff_client, staff_user, hero):
    body = {
        "world_id": "alpha",
        "event_type": "trade",
        "deltas": [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}],
    }

    response = post(staff_client, WORLD_EVENTS_URL, body)

    assert response.json()["actor"]["name"] == staff_user.username
