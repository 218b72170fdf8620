"""The write API remembers each character's world; a wrong memory changes no answer.

``POST /admin/characters/{id}/axis-events`` skips reading a character it wrote to before
in this process (``ledger.views``). A character's world never changes, so in production
the memory is never wrong; test databases reuse ids, so these tests plant wrong worlds
and check each answer equals the one a first write gets, with nothing written twice.
"""

import json

import pytest
from rest_framework.test import APIClient

from ledger.models import Event
from ledger.views import _character_worlds, remember_character_world
from tests.api.conftest import api_key_for, events_url
from tests.factories import CharacterFactory
from worlds.models import Character

BODY = {"event_type": "tick", "deltas": {"wealth": 0.01}}


def ticks(**filters) -> int:
    """Events written by these tests (a character's creation records one too)."""
    return Event.objects.filter(event_type__name="tick", **filters).count()


def post(client, character_id, body=BODY):
    return client.post(events_url(character_id), json.dumps(body), content_type="application/json")


def key_client(user, **limits) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(user, **limits)}")
    return client


def plant(character_id: int, world_id: str) -> None:
    remember_character_world(Character(pk=character_id, world_id=world_id))


def test_a_write_remembers_the_characters_world(token_client, hero):
    assert post(token_client, hero.pk).status_code == 201

    assert _character_worlds[hero.pk] == "alpha"


def test_a_wrong_world_is_corrected_and_the_event_written_once(token_client, hero):
    plant(hero.pk, "beta")

    response = post(token_client, hero.pk)

    assert response.status_code == 201, response.content
    assert response.json()["world_id"] == "alpha"
    assert ticks(world_id="alpha") == 1
    assert ticks(world_id="beta") == 0
    assert _character_worlds[hero.pk] == "alpha"


def test_a_wrong_world_the_key_may_not_use_does_not_refuse_the_write(staff_user, hero):
    client = key_client(staff_user, worlds=["alpha"])
    plant(hero.pk, "beta")

    response = post(client, hero.pk)

    assert response.status_code == 201, response.content


def test_a_wrong_world_the_key_may_use_still_refuses_a_character_it_may_not(staff_user, synced):
    foreigner = CharacterFactory(name="foreigner", world_id="beta")
    client = key_client(staff_user, worlds=["alpha"])
    expected = post(client, foreigner.pk)
    plant(foreigner.pk, "alpha")

    response = post(client, foreigner.pk)

    assert expected.status_code == 403
    assert (response.status_code, response.json()) == (403, expected.json())
    assert ticks() == 0


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"event_type": "tick", "deltas": {"nope": 0.1}}, 400, "unknown_axis", "deltas.nope"),
        ({"event_type": "tick", "deltas": {"wealth": 0.1}}, 201, None, None),
    ],
)
def test_a_right_world_answers_as_a_first_write(token_client, hero, body, status, code, field):
    plant(hero.pk, "alpha")

    response = post(token_client, hero.pk, body)

    assert response.status_code == status, response.content
    if code is not None:
        assert (response.json()["code"], response.json()["field"]) == (code, field)
        assert ticks() == 0


def test_a_refusal_in_a_wrong_world_is_told_in_the_right_one(token_client, hero):
    first = post(token_client, hero.pk, {"event_type": "tick", "deltas": {"nope": 0.1}})
    plant(hero.pk, "beta")

    response = post(token_client, hero.pk, {"event_type": "tick", "deltas": {"nope": 0.1}})

    assert first.status_code == 400
    assert response.json() == first.json()
    assert "alpha" in response.json()["detail"]


def test_a_deleted_character_is_an_unknown_one(token_client, hero):
    plant(hero.pk + 1000, "alpha")

    response = post(token_client, hero.pk + 1000)

    assert response.status_code == 404
    assert response.json()["code"] == "unknown_character"
    assert hero.pk + 1000 not in _character_worlds


def test_a_right_world_the_key_may_not_use_is_refused(staff_user, synced):
    foreigner = CharacterFactory(name="foreigner", world_id="beta")
    assert post(key_client(staff_user), foreigner.pk).status_code == 201  # remembered
    client = key_client(staff_user, worlds=["alpha"])

    response = post(client, foreigner.pk)

    assert _character_worlds[foreigner.pk] == "beta"
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert ticks() == 1


@pytest.mark.parametrize("planted", ["alpha", "beta"])
def test_a_bad_body_for_a_character_the_key_may_not_use_is_refused_first(
    staff_user, synced, planted
):
    foreigner = CharacterFactory(name="foreigner", world_id="beta")
    client = key_client(staff_user, worlds=["alpha"])
    plant(foreigner.pk, planted)

    response = post(client, foreigner.pk, {"event_type": "tick", "deltas": {}})

    assert response.status_code == 403


def test_a_bad_body_for_an_unknown_character_is_a_404(token_client, hero):
    plant(hero.pk + 1000, "alpha")

    response = post(token_client, hero.pk + 1000, {"event_type": "tick", "deltas": {}})

    assert response.status_code == 404
