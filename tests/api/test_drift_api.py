"""``POST /admin/worlds/{world_id}/drift``: bring a world's drift up to now or ``until``."""

from datetime import timedelta

import pytest
from django.utils import timezone

from access.models import WorldMembership
from ledger.models import Event, Source
from ledger.services.drift import pause_drift
from tests.api.conftest import api_key_for
from tests.conftest import table_state
from tests.factories import CharacterFactory
from tests.ledger.test_drift import rewind, set_drift

URL = "/admin/worlds/{world_id}/drift"


@pytest.fixture
def drifting(synced, worlds_dir):
    hero = CharacterFactory(scores={"luck": 0.3})
    set_drift(worlds_dir, "luck", "{ rate: 0.001, every: 1h }")
    return hero


def post(client, world_id="alpha", body=None):
    return client.post(URL.format(world_id=world_id), body or {}, format="json")


def test_a_run_answers_what_it_did_and_a_second_has_nothing_due(token_client, drifting):
    rewind(3)

    first = post(token_client)
    again = post(token_client)

    assert first.status_code == 200
    answer = first.json()
    assert (answer["world_id"], answer["deltas"], answer["dry_run"], answer["paused"]) == (
        "alpha",
        1,
        False,
        False,
    )
    [axis] = answer["axes"]
    assert (axis["axis"], axis["periods"], axis["characters"]) == ("luck", 3, 1)
    assert set(axis) == {"axis", "rule", "from", "to", "periods", "characters", "events"}
    event = Event.objects.get(pk=axis["events"][0])
    assert (event.source, event.actor_key) == (Source.API, token_client_key_prefix(event))
    assert (again.status_code, again.json()["deltas"], again.json()["axes"]) == (200, 0, [])


def token_client_key_prefix(event) -> str:
    assert event.actor_key  # the API key that asked for the run
    return event.actor_key


def test_a_dry_run_writes_nothing(token_client, drifting):
    rewind(3)
    before = table_state()

    response = post(token_client, body={"dry_run": True})

    assert (response.status_code, response.json()["deltas"]) == (200, 1)
    assert table_state() == before


def test_until_before_the_clock_is_a_no_op(token_client, drifting):
    before = table_state()
    until = (timezone.now() - timedelta(days=3)).isoformat()

    response = post(token_client, body={"until": until})

    assert (response.status_code, response.json()["deltas"]) == (200, 0)
    assert table_state() == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"until": "yesterday"}, "invalid"),
        ({"until": "2026-11-29T10:00:00"}, "invalid"),  # no UTC offset
        ({"until": "2999-01-01T00:00:00Z"}, "until_in_future"),
        ({"dry_run": "perhaps"}, "invalid"),
        ({"speed": 2}, "unknown_field"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field_and_writes_nothing(
    token_client, drifting, body, code
):
    rewind(3)
    before = table_state()

    response = post(token_client, body=body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["field"] == next(iter(body))
    assert table_state() == before


def test_an_unknown_world_is_a_404(token_client, drifting):
    response = post(token_client, world_id="atlantis")

    assert (response.status_code, response.json()["code"]) == (404, "unknown_world")


def test_a_paused_world_answers_paused_and_writes_nothing(token_client, drifting):
    pause_drift(world_id="alpha")
    rewind(3)
    before = table_state()

    response = post(token_client)

    assert (response.status_code, response.json()["paused"]) == (200, True)
    assert table_state() == before


def test_readers_and_other_worlds_keys_may_not_run_drift(inspector_client, staff_user, drifting):
    rewind(3)
    before = table_state()
    read_only = api_key_for(staff_user, may_apply=False)
    WorldMembership.objects.create(user=staff_user, world_id="beta")

    from rest_framework.test import APIClient

    key_client = APIClient()
    key_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {read_only}")

    assert post(inspector_client).status_code == 403
    assert post(key_client).status_code == 403
    assert table_state() == before
