"""GET /admin/worlds/ and GET /admin/worlds/{world_id}/policy."""

import shutil

import pytest

from pipeworks.serializers import TIMESTAMP_FORMAT
from tests.api.conftest import WORLDS_URL, policy_url
from tests.factories import CharacterFactory
from worlds.models import World
from worlds.policies import POLICY_FILE_MISSING, POLICY_UNKNOWN_ORDERING_TYPE, load_world_policy
from worlds.views import API_UNKNOWN_WORLD


def worlds_by_id(client) -> dict[str, dict]:
    response = client.get(WORLDS_URL)
    assert response.status_code == 200
    return {world["world_id"]: world for world in response.json()["worlds"]}


def test_world_list_shows_each_synced_world_with_hashes_and_counts(staff_client, synced):
    CharacterFactory()
    CharacterFactory()
    CharacterFactory(world_id="beta")
    alpha_world = World.objects.get(pk="alpha")
    alpha_hash = alpha_world.policy_hash

    worlds = worlds_by_id(staff_client)

    assert list(worlds) == ["alpha", "beta"]
    alpha = worlds["alpha"]
    assert alpha == {
        "world_id": "alpha",
        "version": "1.0.0",
        "registry_version": "1.0.0",
        "policy_hash": alpha_hash,
        "file_hash": alpha_hash,
        "in_sync": True,
        "valid": True,
        "has_files": True,
        "synced_at": alpha_world.synced_at.strftime(TIMESTAMP_FORMAT),
        "axis_count": 3,
        "character_count": 2,
        "error_count": 0,
        "warning_count": 0,
    }
    assert (worlds["beta"]["axis_count"], worlds["beta"]["character_count"]) == (2, 1)
    assert worlds["beta"]["version"] == "2.0.0"


def test_a_world_directory_never_synced_is_listed_out_of_sync(staff_client, synced, worlds_dir):
    shutil.copytree(worlds_dir / "beta", worlds_dir / "gamma")

    gamma = worlds_by_id(staff_client)["gamma"]

    assert gamma["has_files"] is True
    assert gamma["valid"] is True
    assert gamma["in_sync"] is False
    assert gamma["policy_hash"] is None
    assert gamma["registry_version"] is None
    assert gamma["synced_at"] is None
    assert gamma["file_hash"] == load_world_policy(worlds_dir / "gamma").policy_hash
    assert (gamma["axis_count"], gamma["character_count"]) == (0, 0)


def test_edited_policy_files_put_the_world_out_of_sync(staff_client, synced, worlds_dir):
    path = worlds_dir / "alpha" / "policies" / "thresholds.yaml"
    path.write_text(path.read_text().replace("well-kept: { min: 0.40", "well-kept: { min: 0.45"))

    alpha = worlds_by_id(staff_client)["alpha"]

    assert alpha["in_sync"] is False
    assert alpha["valid"] is True
    assert alpha["file_hash"] == load_world_policy(worlds_dir / "alpha").policy_hash
    assert alpha["policy_hash"] == World.objects.get(pk="alpha").policy_hash
    assert alpha["file_hash"] != alpha["policy_hash"]


def test_invalid_policy_files_are_listed_as_invalid(staff_client, synced, worlds_dir):
    path = worlds_dir / "alpha" / "policies" / "axes.yaml"
    path.write_text(path.read_text().replace("type: numeric", "type: cardinal"))

    alpha = worlds_by_id(staff_client)["alpha"]

    assert (alpha["valid"], alpha["in_sync"]) == (False, False)
    assert alpha["error_count"] == 1


def test_a_synced_world_whose_directory_is_gone_is_still_listed(staff_client, synced, worlds_dir):
    shutil.rmtree(worlds_dir / "beta")

    beta = worlds_by_id(staff_client)["beta"]

    assert beta["has_files"] is False
    assert (beta["valid"], beta["in_sync"]) == (False, False)
    assert beta["policy_hash"] == World.objects.get(pk="beta").policy_hash
    assert beta["file_hash"] is None
    assert beta["axis_count"] == 2


def test_world_list_before_any_sync_shows_the_files_only(staff_client, db):
    worlds = worlds_by_id(staff_client)

    assert sorted(worlds) == ["alpha", "beta"]
    assert [(world["in_sync"], world["policy_hash"]) for world in worlds.values()] == [
        (False, None),
        (False, None),
    ]


def test_world_policy_returns_the_validation_report_and_registry_hash(staff_client, synced):
    world = World.objects.get(pk="alpha")

    response = staff_client.get(policy_url("alpha"))

    assert response.status_code == 200
    body = response.json()
    assert body["world_id"] == "alpha"
    assert body["valid"] is True
    assert body["axes"] == ["health", "luck", "wealth"]
    assert body["ordering"]["wealth"] == {
        "type": "ordinal",
        "values": ["poor", "modest", "well-kept", "wealthy", "decadent"],
    }
    assert body["ordering"]["luck"] == {"type": "numeric", "values": []}
    assert body["thresholds"]["health"] == {
        "ailing": {"min": 0.0, "max": 0.5},
        "hale": {"min": 0.5, "max": 1.0},
    }
    assert (body["missing"], body["errors"], body["warnings"]) == ([], [], [])
    assert (body["version"], body["thresholds_version"]) == ("1.0.0", "1.0.0")
    assert body["policy_hash"] == world.policy_hash
    assert body["registry_hash"] == world.policy_hash
    assert body["in_sync"] is True


def test_world_policy_report_equals_the_loaders(staff_client, synced, worlds_dir):
    body = staff_client.get(policy_url("beta")).json()

    report = load_world_policy(worlds_dir / "beta", "beta").as_dict()
    assert {key: body[key] for key in report} == report
    assert set(body) == set(report) | {"registry_hash", "in_sync"}


def test_world_policy_of_a_never_synced_world_has_no_registry_hash(
    staff_client, synced, worlds_dir
):
    shutil.copytree(worlds_dir / "beta", worlds_dir / "gamma")

    body = staff_client.get(policy_url("gamma")).json()

    assert body["registry_hash"] is None
    assert body["in_sync"] is False
    assert body["policy_hash"] == load_world_policy(worlds_dir / "gamma").policy_hash


def test_world_policy_reports_errors_with_file_key_path_and_line(staff_client, synced, worlds_dir):
    path = worlds_dir / "alpha" / "policies" / "axes.yaml"
    path.write_text(path.read_text().replace("type: numeric", "type: cardinal"))

    body = staff_client.get(policy_url("alpha")).json()

    assert body["valid"] is False
    assert body["in_sync"] is False
    assert body["errors"] == [
        {
            "file": str(path),
            "key_path": "axes.luck.ordering.type",
            "line": 17,
            "message": POLICY_UNKNOWN_ORDERING_TYPE.format(
                value="cardinal", expected="ordinal, numeric"
            ),
        }
    ]


def test_world_policy_of_a_world_without_files_reports_them_missing(
    staff_client, synced, worlds_dir
):
    shutil.rmtree(worlds_dir / "beta")

    response = staff_client.get(policy_url("beta"))

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["missing"] == ["axes.yaml", "thresholds.yaml"]
    assert body["errors"] == [
        {
            "file": str(worlds_dir / "beta" / "policies" / name),
            "key_path": "",
            "line": None,
            "message": POLICY_FILE_MISSING,
        }
        for name in ("axes.yaml", "thresholds.yaml")
    ]
    assert body["registry_hash"] == World.objects.get(pk="beta").policy_hash
    assert body["in_sync"] is False


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
def test_world_policy_of_an_unknown_world_is_404(staff_client, synced, world_id, named):
    response = staff_client.get(policy_url(world_id))

    assert response.status_code == 404
    assert response.json() == {
        "detail": API_UNKNOWN_WORLD.format(world_id=named),
        "code": "unknown_world",
        "field": None,
    }


def test_a_browser_at_the_world_list_gets_the_admin_app_index(admin_client, synced):
    response = admin_client.get(WORLDS_URL, HTTP_ACCEPT="text/html,*/*;q=0.8")

    assert response.status_code == 200
    assert "admin/app_index.html" in [t.name for t in response.templates]
    worlds = admin_client.get(WORLDS_URL, HTTP_ACCEPT="application/json").json()["worlds"]
    assert [world["world_id"] for world in worlds] == ["alpha", "beta"]


def test_an_anonymous_browser_at_the_world_list_is_sent_to_the_login(anonymous_client):
    response = anonymous_client.get(WORLDS_URL, HTTP_ACCEPT="text/html")

    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={WORLDS_URL}"
