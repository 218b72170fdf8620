"""GET /admin/worlds/{world_id}/policy/impact: what a sync would do, as JSON, read only."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from access.models import WorldMembership
from access.permissions import ACCESS_WORLD_DENIED
from tests.api.conftest import GAME_MASTER, READ, api_key_for, make_user
from tests.api.test_schema import assert_matches
from tests.conftest import table_state
from tests.factories import CharacterFactory
from tests.worlds.impact_edits import (
    add_charm_retire_luck,
    edit,
    move_wealth_edges,
    policies,
    set_drift,
)
from worlds.models import World
from worlds.policies import POLICY_FILE_MISSING, POLICY_OVERLAPPING_BANDS
from worlds.services import preview_policy_sync
from worlds.views import API_INVALID_POLICY, API_UNKNOWN_WORLD

PATH = "/admin/worlds/{world_id}/policy/impact"


def impact_url(world_id: str) -> str:
    return PATH.format(world_id=world_id)


@pytest.fixture
def changed(synced, worlds_dir):
    """Alpha characters whose wealth label moves under changed files (and one that stays)."""
    characters = [
        CharacterFactory(name=name, scores={"wealth": score})
        for name, score in (("Ada", 0.42), ("Bo", 0.2), ("Cy", 0.9))
    ]
    move_wealth_edges(worlds_dir)
    add_charm_retire_luck(worlds_dir)
    set_drift(worlds_dir, "health", "{ rate: 0.01, every: 1h, toward: 0.5 }")
    return characters


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True)))


def test_the_impact_is_the_dry_runs_and_writes_nothing(staff_client, changed, schema):
    ada, bo, _ = changed
    before = table_state()

    response = staff_client.get(impact_url("alpha"))

    assert response.status_code == 200
    body = response.json()
    preview = preview_policy_sync(world_ids=["alpha"])
    [plan] = preview.plans
    assert body == {
        "world_id": "alpha",
        "changed": True,
        "file_hash": plan.report.policy_hash,
        "policy_hash": World.objects.get(pk="alpha").policy_hash,
        "changes": plan.describe(),
        "impact": preview.impacts["alpha"].as_dict(),
    }
    [health, wealth] = body["impact"]["labels"]
    assert (wealth["axis"], wealth["changing"]) == ("wealth", 2)
    assert [(c["character_id"], c["old_label"], c["new_label"]) for c in wealth["characters"]] == [
        (ada.pk, "well-kept", "modest"),
        (bo.pk, "modest", "poor"),
    ]
    assert health["matrix"] == [{"old": "hale", "new": "hale", "count": 3}]
    assert body["impact"]["added_axes"][0]["backfilled"] == 3
    assert body["impact"]["retired_axes"] == [{"axis": "luck", "scores": 3}]
    assert body["impact"]["drift"][0]["per_day_after"] == pytest.approx(0.24)
    assert table_state() == before
    assert_matches(schema, response, status="200", path=PATH, method="get")


def test_a_synced_world_has_no_impact(staff_client, synced, schema):
    response = staff_client.get(impact_url("beta"))

    assert response.status_code == 200
    body = response.json()
    assert (body["changed"], body["changes"], body["impact"]) == (False, [], None)
    assert_matches(schema, response, status="200", path=PATH, method="get")


def test_a_world_never_synced_adds_every_axis(staff_client, db, schema):
    response = staff_client.get(impact_url("alpha"))

    body = response.json()
    assert response.status_code == 200
    assert body["policy_hash"] is None and body["impact"]["new_world"] is True
    assert [axis["axis"] for axis in body["impact"]["added_axes"]] == ["health", "luck", "wealth"]
    assert not World.objects.exists()
    assert_matches(schema, response, status="200", path=PATH, method="get")


def test_a_numeric_axis_has_a_note_instead_of_a_matrix(staff_client, changed, worlds_dir, schema):
    edit(
        worlds_dir,
        "axes.yaml",
        "  health:\n",
        "  luck:\n    ordering:\n      type: numeric\n  health:\n",
    )

    response = staff_client.get(impact_url("alpha"))

    [luck] = [axis for axis in response.json()["impact"]["labels"] if axis["axis"] == "luck"]
    assert luck["matrix"] is None and luck["note"].startswith("numeric before and after")
    assert_matches(schema, response, status="200", path=PATH, method="get")


@pytest.mark.parametrize(
    ("world_id", "named"),
    [
        ("nowhere", "nowhere"),
        ("..", ".."),
        ("%2E%2E", ".."),
        ("ALPHA", "ALPHA"),
        ("beta%00", "beta\x00"),
    ],
)
def test_an_unknown_world_is_404(staff_client, synced, schema, world_id, named):
    response = staff_client.get(impact_url(world_id))

    assert response.status_code == 404
    assert response.json() == {
        "detail": API_UNKNOWN_WORLD.format(world_id=named),
        "code": "unknown_world",
        "field": None,
    }
    assert_matches(schema, response, status="404", path=PATH, method="get")


def test_invalid_files_are_a_409_naming_the_file_and_key(staff_client, changed, worlds_dir, schema):
    edit(worlds_dir, "thresholds.yaml", "modest: { min: 0.25", "modest: { min: 0.10")
    before = table_state()

    response = staff_client.get(impact_url("alpha"))

    assert response.status_code == 409
    thresholds = policies(worlds_dir) / "thresholds.yaml"
    overlap = POLICY_OVERLAPPING_BANDS.format(
        label="modest", min=0.1, max=0.44, prev="poor", pmin=0.0, pmax=0.24
    )
    assert response.json() == {
        "detail": API_INVALID_POLICY.format(
            world_id="alpha",
            errors=f"{thresholds}:6: axes.wealth.values.modest.min: {overlap}",
        ),
        "code": "invalid_policy",
        "field": None,
    }
    assert table_state() == before
    assert_matches(schema, response, status="409", path=PATH, method="get")


def test_a_synced_world_whose_files_are_gone_is_a_409_naming_them(staff_client, synced, worlds_dir):
    for path in policies(worlds_dir, "beta").iterdir():
        path.unlink()
    policies(worlds_dir, "beta").rmdir()
    (worlds_dir / "beta").rmdir()

    response = staff_client.get(impact_url("beta"))

    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail.startswith(API_INVALID_POLICY.format(world_id="beta", errors=""))
    for name in ("axes.yaml", "thresholds.yaml"):
        assert f"{policies(worlds_dir, 'beta') / name}: {POLICY_FILE_MISSING}" in detail


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize(
    ("permissions", "status"),
    [((), 403), (READ, 200), (GAME_MASTER, 200), (("ledger.apply_event",), 403)],
    ids=["staff without permissions", "inspector", "game master", "apply without read"],
)
def test_reading_the_impact_needs_the_read_permission(changed, permissions, status):
    client = client_for(make_user(is_staff=True, permissions=permissions))

    response = client.get(impact_url("alpha"))

    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "permission_denied"


def test_anonymous_is_401_and_a_member_who_is_not_staff_403(changed, member_client):
    assert APIClient().get(impact_url("alpha")).status_code == 401
    assert member_client.get(impact_url("alpha")).status_code == 403


def test_a_key_may_read_the_impact(changed, staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(staff_user)}")

    assert client.get(impact_url("alpha")).status_code == 200


@pytest.mark.parametrize("world_id", ["alpha", "nowhere"])
def test_world_limits_come_before_existence(changed, world_id):
    user = make_user(is_staff=True, permissions=READ)
    WorldMembership.objects.create(user=user, world_id="beta")
    client = client_for(user)

    response = client.get(impact_url(world_id))

    assert response.status_code == 403
    assert response.json()["detail"] == ACCESS_WORLD_DENIED.format(world_id=world_id)
    assert client.get(impact_url("beta")).status_code == 200


def count_queries(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(impact_url("alpha"))
    assert response.status_code == 200, response.content
    assert response.json()["impact"]["labels"][1]["characters"]
    return len(captured)


def test_the_query_count_does_not_grow_with_the_characters(
    token_client, changed, django_assert_max_num_queries
):
    count_queries(token_client)  # warm-up: the key's credentials are cached from now on
    few = count_queries(token_client)
    for _ in range(30):
        CharacterFactory(scores={"wealth": 0.4})

    with django_assert_max_num_queries(few):
        response = token_client.get(impact_url("alpha"))

    assert response.json()["impact"]["labels"][1]["changing"] == 32
    assert count_queries(token_client) == few


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_impact_is_read_only(staff_client, changed, method):
    before = table_state()

    response = getattr(staff_client, method)(impact_url("alpha"))

    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert table_state() == before
