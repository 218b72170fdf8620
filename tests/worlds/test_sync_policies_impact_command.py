"""`manage.py sync_policies --dry-run` reports the impact on the characters, in text and as
one JSON document, and writes nothing."""

import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import table_state
from tests.factories import CharacterFactory
from tests.worlds.impact_edits import add_charm_retire_luck, move_wealth_edges, set_drift
from worlds.models import World
from worlds.services import IMPACT_NUMERIC, preview_policy_sync


@pytest.fixture
def changed(synced, worlds_dir):
    """Two alpha characters whose wealth label moves, one that stays, and a changed alpha."""
    characters = [
        CharacterFactory(name=name, scores={"wealth": score})
        for name, score in (("Ada", 0.42), ("Bo", 0.2), ("Cy", 0.9))
    ]
    move_wealth_edges(worlds_dir)
    add_charm_retire_luck(worlds_dir)
    set_drift(worlds_dir, "health", "{ rate: 0.01, every: 1h, toward: 0.5 }")
    return characters


def run(*args) -> str:
    out = io.StringIO()
    call_command("sync_policies", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_a_dry_run_prints_the_impact_under_each_changed_world(changed):
    ada, bo, _ = changed

    out = run("--dry-run")

    alpha, beta = out.split("beta: ")
    assert "alpha: would change" in alpha
    assert "  impact on 3 character(s):" in alpha
    assert "    axis wealth: 2 of 3 score(s) change label" in alpha
    assert f"        #{ada.pk} Ada (0.42): well-kept -> modest" in alpha
    assert f"        #{bo.pk} Bo (0.2): modest -> poor" in alpha
    assert "    axis charm added: 3 character(s) backfilled at 0.65" in alpha
    assert "    axis luck retired: 3 score(s) stop moving" in alpha
    assert (
        "    drift on health added: none -> +0.01 every 1h toward 0.5; per day none -> +0.24; "
        "moves 0 -> 3 character(s)"
    ) in alpha
    assert "up to date" in beta and "impact" not in beta
    assert out.endswith("dry run: nothing was written\n")


def test_a_dry_run_says_a_numeric_axis_has_no_matrix(synced, worlds_dir):
    CharacterFactory()
    move_wealth_edges(worlds_dir)

    out = run("alpha", "--dry-run")

    assert f"    axis luck: {IMPACT_NUMERIC}" in out


def test_the_json_dry_run_is_one_document_with_the_impact_under_each_world(changed):
    out = run("--dry-run", "--format", "json")

    payload = json.loads(out)  # the whole output, or it raises "Extra data"
    assert payload["ok"] is True and payload["dry_run"] is True
    alpha, beta = payload["worlds"]
    expected = preview_policy_sync(world_ids=["alpha"]).impacts["alpha"].as_dict()
    assert alpha["impact"] == expected
    assert alpha["impact"]["labels"][1]["changing"] == 2
    assert beta["changed"] is False and beta["impact"] is None


def test_a_real_run_prints_no_impact(changed):
    payload = json.loads(run("--format", "json"))

    assert [world["impact"] for world in payload["worlds"]] == [None, None]


@pytest.mark.parametrize("output", ["text", "json"])
def test_a_dry_run_writes_nothing(changed, output):
    before = table_state()
    world_hash = World.objects.get(pk="alpha").policy_hash

    with CaptureQueriesContext(connection) as ctx:
        out = run("--dry-run", "--format", output)

    statements = {query["sql"].lstrip().split()[0].upper() for query in ctx.captured_queries}
    assert statements == {"SELECT"}
    assert table_state() == before
    assert World.objects.get(pk="alpha").policy_hash == world_hash
    assert "wealth" in out
