"""Who may do what through the API: read, apply and reverse are separate permissions, and a
role can be limited to worlds."""

import pytest
from rest_framework.test import APIClient

from access.models import WorldMembership
from ledger.services import apply_event
from tests.api.conftest import (
    GAME_MASTER,
    READ,
    WORLD_EVENTS_URL,
    WORLDS_URL,
    events_url,
    make_user,
    policy_url,
    state_url,
)
from tests.conftest import table_state
from tests.factories import CharacterFactory

BATCH_URL = "/admin/events:batch"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def world(synced):
    """An alpha hero with one event, and a beta character."""
    hero = CharacterFactory(name="hero", scores={"wealth": 0.3})
    outsider = CharacterFactory(name="outsider", world_id="beta")
    event = apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    return hero, outsider, event


def requests(hero, event) -> dict[str, tuple[str, str, dict | None]]:
    """Every endpoint, by the permission it needs: (method, url, body)."""
    tick = [{"character_id": hero.pk, "axis_name": "wealth", "delta": 0.1}]
    return {
        "read": [
            ("get", state_url(hero.pk), None),
            ("get", events_url(hero.pk), None),
            ("get", f"/admin/events/{event.pk}", None),
            ("get", WORLDS_URL, None),
            ("get", policy_url("alpha"), None),
            ("get", policy_url("alpha") + "/impact", None),
        ],
        "apply": [
            ("post", events_url(hero.pk), {"event_type": "t", "deltas": {"wealth": 0.1}}),
            ("post", WORLD_EVENTS_URL, {"world_id": "alpha", "event_type": "t", "deltas": tick}),
            (
                "post",
                BATCH_URL,
                {"world_id": "alpha", "events": [{"event_type": "t", "deltas": tick}]},
            ),
        ],
        "reverse": [("post", f"/admin/events/{event.pk}/reverse", {"reason": "oops"})],
    }


def send(client, method, url, body):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


# role -> (permissions, the request kinds it may make)
MATRIX = {
    "staff without permissions": ((), set()),
    "inspector": (READ, {"read"}),
    "applier": ((*READ, "ledger.apply_event"), {"read", "apply"}),
    "reverser": ((*READ, "ledger.reverse_event"), {"read", "reverse"}),
    "game master": (GAME_MASTER, {"read", "apply", "reverse"}),
    "apply without read": (("ledger.apply_event",), set()),
}


@pytest.mark.parametrize("role", MATRIX)
def test_each_role_may_make_exactly_its_requests(world, role):
    hero, _, event = world
    permissions, allowed = MATRIX[role]
    client = client_for(make_user(is_staff=True, permissions=permissions))
    for kind, calls in requests(hero, event).items():
        for method, url, body in calls:
            before = table_state()

            response = send(client, method, url, body)

            if kind in allowed:
                assert response.status_code in (200, 201), (role, url, response.content)
            else:
                assert response.status_code == 403, (role, url, response.status_code)
                assert response.json()["code"] == "permission_denied"
                assert table_state() == before


def test_a_superuser_may_do_everything(world):
    hero, _, event = world
    root = make_user(is_staff=True)
    root.is_superuser = True
    root.save()
    client = client_for(root)
    for calls in requests(hero, event).values():
        for method, url, body in calls:
            assert send(client, method, url, body).status_code in (200, 201), url


def test_anonymous_is_401_everywhere(world):
    hero, _, event = world
    for calls in requests(hero, event).values():
        for method, url, body in calls:
            response = send(APIClient(), method, url, body)
            assert response.status_code == 401, url
            assert response.json()["code"] == "not_authenticated"


def test_a_game_master_of_one_world_cannot_read_write_or_reverse_in_another(world):
    hero, outsider, event = world
    gm = make_user(is_staff=True, permissions=GAME_MASTER)
    WorldMembership.objects.create(user=gm, world_id="beta")
    client = client_for(gm)
    before = table_state()

    for calls in requests(hero, event).values():
        for method, url, body in calls:
            if url == WORLDS_URL:
                continue
            response = send(client, method, url, body)
            assert response.status_code == 403, url
            assert "world 'alpha'" in response.json()["detail"]

    assert table_state() == before
    listed = client.get(WORLDS_URL).json()["worlds"]
    assert [w["world_id"] for w in listed] == ["beta"]
    assert client.get(state_url(outsider.pk)).status_code == 200
    own = {"event_type": "t", "deltas": {"morale": 0.1}}
    assert client.post(events_url(outsider.pk), own, format="json").status_code == 201


def test_a_world_limit_given_through_a_group_applies_too(world):
    from django.contrib.auth.models import Group

    hero, _, _ = world
    gm = make_user(is_staff=True, permissions=GAME_MASTER)
    beta_team = Group.objects.create(name="beta team")
    WorldMembership.objects.create(group=beta_team, world_id="beta")
    gm.groups.add(beta_team)

    response = client_for(gm).get(state_url(hero.pk))

    assert response.status_code == 403
