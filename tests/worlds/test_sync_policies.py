import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from axes.models import Axis, AxisValue, CharacterAxisScore
from ledger.exceptions import LedgerError
from ledger.models import EventEntityAxisDelta
from ledger.services import AXES_ADDED, apply_event
from tests.conftest import table_state
from tests.factories import CharacterFactory
from worlds.exceptions import PolicySyncError
from worlds.models import Character, World
from worlds.services import SYNC_UNKNOWN_WORLDS, sync_world_policies

WRITES = ("INSERT", "UPDATE", "DELETE")


def write_statements(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]


def edit(worlds_dir, world_id, filename, old, new):
    path = worlds_dir / world_id / "policies" / filename
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


@pytest.mark.django_db
def test_first_sync_mirrors_files_into_the_registry():
    result = sync_world_policies()

    assert [plan.world_id for plan in result.plans] == ["alpha", "beta"]
    alpha = World.objects.get(pk="alpha")
    assert alpha.policy_hash == result.plans[0].report.policy_hash
    assert alpha.policy_version == "1.0.0"
    wealth = Axis.objects.get(world=alpha, name="wealth")
    assert wealth.ordering_json == {
        "type": "ordinal",
        "values": ["poor", "modest", "well-kept", "wealthy", "decadent"],
    }
    assert wealth.default_score == 0.5
    assert list(wealth.values.values_list("value", "ordinal", "min_score", "max_score")) == [
        ("poor", 0, 0.0, 0.19),
        ("modest", 1, 0.2, 0.39),
        ("well-kept", 2, 0.4, 0.59),
        ("wealthy", 3, 0.6, 0.79),
        ("decadent", 4, 0.8, 1.0),
    ]
    luck = Axis.objects.get(world=alpha, name="luck")
    assert (luck.ordering_type, luck.default_score, luck.values.count()) == ("numeric", 0.25, 0)
    assert set(Axis.objects.filter(world_id="beta").values_list("name", flat=True)) == {
        "wealth",
        "morale",
    }


@pytest.mark.django_db
def test_second_sync_with_unchanged_files_writes_nothing(synced):
    CharacterFactory()
    before = table_state()

    with CaptureQueriesContext(connection) as ctx:
        result = sync_world_policies()

    assert not result.changed
    assert write_statements(ctx) == []
    assert table_state() == before


@pytest.mark.django_db
def test_dry_run_reports_changes_and_writes_nothing(synced, worlds_dir):
    CharacterFactory()
    edit(
        worlds_dir,
        "alpha",
        "thresholds.yaml",
        "modest: { min: 0.20, max: 0.39 }",
        "modest: { min: 0.20, max: 0.45 }",
    )
    edit(worlds_dir, "alpha", "thresholds.yaml", "well-kept: { min: 0.40", "well-kept: { min: 0.45")
    before = table_state()

    with CaptureQueriesContext(connection) as ctx:
        result = sync_world_policies(dry_run=True)

    assert write_statements(ctx) == []
    assert table_state() == before
    alpha = result.plans[0]
    assert alpha.changed and not result.plans[1].changed
    assert [line.split(":")[0] for line in alpha.describe() if line.startswith("update")] == [
        "update axis wealth"
    ]
    assert "re-derive 1 character snapshot(s)" in alpha.describe()


@pytest.mark.django_db
def test_any_invalid_world_means_nothing_is_written_for_any_world(worlds_dir):
    edit(
        worlds_dir,
        "beta",
        "thresholds.yaml",
        "low: { min: 0.0, max: 0.5 }",
        "low: { min: 0.0, max: 0.6 }",
    )
    before = table_state()

    with pytest.raises(PolicySyncError) as excinfo:
        sync_world_policies()

    assert [report.world_id for report in excinfo.value.reports] == ["beta"]
    assert table_state() == before
    assert not World.objects.exists()


@pytest.mark.django_db
def test_unknown_world_is_refused(worlds_dir):
    with pytest.raises(PolicySyncError) as excinfo:
        sync_world_policies(world_ids=["alpha", "gamma"])
    assert str(excinfo.value) == SYNC_UNKNOWN_WORLDS.format(names="gamma", directory=worlds_dir)
    assert not World.objects.exists()


@pytest.mark.django_db
def test_selected_worlds_only_are_synced():
    sync_world_policies(world_ids=["beta"])
    assert list(World.objects.values_list("world_id", flat=True)) == ["beta"]


@pytest.mark.django_db
def test_policy_change_rederives_every_snapshot_of_that_world(synced, worlds_dir):
    hero = CharacterFactory(scores={"wealth": 0.42})
    outsider = CharacterFactory(world_id="beta")
    old_hash = hero.state_version
    outsider_snapshot = outsider.current_state_json
    assert hero.current_state_json["axes"]["wealth"]["label"] == "well-kept"

    edit(worlds_dir, "alpha", "thresholds.yaml", "well-kept: { min: 0.40", "well-kept: { min: 0.45")
    edit(
        worlds_dir,
        "alpha",
        "thresholds.yaml",
        "modest: { min: 0.20, max: 0.39 }",
        "modest: { min: 0.20, max: 0.44 }",
    )
    sync_world_policies()

    hero.refresh_from_db()
    outsider.refresh_from_db()
    new_hash = World.objects.get(pk="alpha").policy_hash
    assert new_hash != old_hash
    assert hero.state_version == new_hash
    assert hero.current_state_json["policy_hash"] == new_hash
    assert hero.current_state_json["axes"]["wealth"] == {"score": 0.42, "label": "modest"}
    assert hero.state_seed == 0  # no event happened
    assert outsider.current_state_json == outsider_snapshot


@pytest.mark.django_db
def test_axis_removed_from_policy_is_retired_with_its_history_kept(synced, worlds_dir):
    hero = CharacterFactory()
    apply_event(world_id="alpha", event_type="rested", deltas={hero.pk: {"health": 0.1}})
    history = EventEntityAxisDelta.objects.filter(axis__name="health", axis__world="alpha").count()
    axes_text = (worlds_dir / "alpha/policies/axes.yaml").read_text()
    head, tail = axes_text.split("  health:\n")
    (worlds_dir / "alpha/policies/axes.yaml").write_text(
        head + "  luck:\n" + tail.split("  luck:\n")[1]
    )
    thresholds = (worlds_dir / "alpha/policies/thresholds.yaml").read_text()
    (worlds_dir / "alpha/policies/thresholds.yaml").write_text(thresholds.split("  health:\n")[0])

    sync_world_policies()

    health = Axis.objects.get(world="alpha", name="health")
    assert not health.is_active and health.retired_at is not None
    assert EventEntityAxisDelta.objects.filter(axis=health).count() == history
    assert CharacterAxisScore.objects.filter(axis=health).exists()
    hero.refresh_from_db()
    assert "health" not in hero.current_state_json["axes"]
    with pytest.raises(LedgerError) as excinfo:
        apply_event(world_id="alpha", event_type="rested", deltas={hero.pk: {"health": 0.1}})
    assert excinfo.value.code == "retired_axis"
    # A character created after retirement gets no score on the retired axis.
    newcomer = CharacterFactory()
    assert "health" not in set(newcomer.scores.values_list("axis__name", flat=True))


@pytest.mark.django_db
def test_new_axis_gives_existing_characters_their_default_through_the_ledger(synced, worlds_dir):
    first, second = CharacterFactory(), CharacterFactory()
    outsider = CharacterFactory(world_id="beta")
    with open(worlds_dir / "alpha/policies/axes.yaml", "a") as f:
        f.write(
            "  charm:\n    default: 0.65\n    values: [dull, charming]\n"
            "    ordering:\n      type: ordinal\n      values: [dull, charming]\n"
        )
    with open(worlds_dir / "alpha/policies/thresholds.yaml", "a") as f:
        f.write(
            "  charm:\n    values:\n      dull: { min: 0.0, max: 0.5 }\n"
            "      charming: { min: 0.5, max: 1.0 }\n"
        )

    result = sync_world_policies()

    assert "create axis charm" in result.plans[0].describe_done()
    deltas = EventEntityAxisDelta.objects.filter(axis__name="charm").select_related("event")
    assert sorted(d.character_id for d in deltas) == [first.pk, second.pk]
    for delta in deltas:
        assert delta.event.event_type.name == AXES_ADDED
        assert (delta.old_score, delta.new_score, delta.delta) == (0.0, 0.65, 0.65)
        # The product's own event: the system is its actor, whoever ran the sync.
        event = delta.event
        assert (event.actor_name, event.actor_user_id, event.source) == ("system", None, "system")
        assert event.policy_hash == World.objects.get(pk="alpha").policy_hash
    assert len({d.event_id for d in deltas}) == 1
    for character in (first, second):
        character.refresh_from_db()
        assert character.current_state_json["axes"]["charm"] == {"score": 0.65, "label": "charming"}
        assert character.state_seed == 1
    assert not CharacterAxisScore.objects.filter(character=outsider, axis__name="charm").exists()
    apply_event(world_id="alpha", event_type="flirt", deltas={first.pk: {"charm": 0.1}})


@pytest.mark.django_db
def test_retired_axis_that_returns_is_reactivated_and_backfilled(synced, worlds_dir):
    original_axes = (worlds_dir / "alpha/policies/axes.yaml").read_text()
    veteran = CharacterFactory(scores={"luck": 0.9})
    (worlds_dir / "alpha/policies/axes.yaml").write_text(original_axes.split("  luck:\n")[0])
    sync_world_policies()
    newcomer = CharacterFactory()

    (worlds_dir / "alpha/policies/axes.yaml").write_text(original_axes)
    result = sync_world_policies()

    assert result.plans[0].describe_done()[0] == "reactivate axis luck"
    luck = Axis.objects.get(world="alpha", name="luck")
    assert luck.is_active and luck.retired_at is None
    assert CharacterAxisScore.objects.get(character=veteran, axis=luck).axis_score == 0.9
    assert CharacterAxisScore.objects.get(character=newcomer, axis=luck).axis_score == 0.25


@pytest.mark.django_db
def test_changed_bands_replace_the_axis_values(synced, worlds_dir):
    # Both `values` and `ordering.values` of health.
    edit(worlds_dir, "alpha", "axes.yaml", "values: [ailing, hale]", "values: [ailing, fine, hale]")
    edit(
        worlds_dir,
        "alpha",
        "thresholds.yaml",
        "hale: { min: 0.5, max: 1.0 }",
        "fine: { min: 0.5, max: 0.75 }\n      hale: { min: 0.75, max: 1.0 }",
    )

    result = sync_world_policies()

    assert [line.split(":")[0] for line in result.plans[0].describe_done()][:1] == [
        "update axis health"
    ]
    health = Axis.objects.get(world="alpha", name="health")
    assert list(health.values.values_list("value", "ordinal")) == [
        ("ailing", 0),
        ("fine", 1),
        ("hale", 2),
    ]
    assert AxisValue.objects.filter(axis=health).count() == 3


# --- the command ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_sync_policies_command_prints_changes_then_up_to_date():
    out = io.StringIO()
    call_command("sync_policies", stdout=out)
    assert "alpha: synced" in out.getvalue()
    assert "create axis wealth" in out.getvalue()

    out = io.StringIO()
    call_command("sync_policies", stdout=out)
    assert "alpha: up to date" in out.getvalue()
    assert "all worlds up to date; nothing written" in out.getvalue()


@pytest.mark.django_db
def test_sync_policies_command_dry_run_says_so():
    out = io.StringIO()
    call_command("sync_policies", "alpha", "--dry-run", stdout=out)
    assert "alpha: would change" in out.getvalue()
    assert "dry run: nothing was written" in out.getvalue()
    assert not World.objects.exists()


@pytest.mark.django_db
def test_sync_policies_command_json_output():
    out = io.StringIO()
    call_command("sync_policies", "--format", "json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["ok"] is True
    assert [w["world_id"] for w in payload["worlds"]] == ["alpha", "beta"]
    assert payload["worlds"][0]["report"]["axes"] == ["health", "luck", "wealth"]


@pytest.mark.django_db
def test_sync_policies_command_fails_with_the_report_on_invalid_files(worlds_dir):
    edit(
        worlds_dir,
        "alpha",
        "thresholds.yaml",
        "decadent: { min: 0.80, max: 1.0 }",
        "decadent: { min: 0.80, max: 1.5 }",
    )
    err = io.StringIO()

    with pytest.raises(CommandError, match="policy errors in alpha; nothing was written"):
        call_command("sync_policies", stderr=err, stdout=io.StringIO())

    assert "thresholds.yaml" in err.getvalue()
    assert "axes.wealth.values.decadent.max" in err.getvalue()
    assert not World.objects.exists()


@pytest.mark.django_db
def test_sync_policies_command_json_failure(worlds_dir):
    edit(worlds_dir, "alpha", "axes.yaml", "type: numeric", "type: cardinal")
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("sync_policies", "--format", "json", stdout=out)
    payload = json.loads(out.getvalue())
    assert payload["ok"] is False
    assert payload["reports"][0]["world_id"] == "alpha"
    assert payload["reports"][0]["errors"]


@pytest.mark.django_db
def test_refresh_snapshots_command_rederives_corrupted_snapshots(synced):
    hero = CharacterFactory(scores={"wealth": 0.9})
    good = Character.objects.get(pk=hero.pk).current_state_json
    Character.objects.filter(pk=hero.pk).update(current_state_json={"garbage": True})

    out = io.StringIO()
    call_command("refresh_snapshots", "alpha", stdout=out)

    assert "alpha: refreshed 1 snapshot(s)" in out.getvalue()
    assert Character.objects.get(pk=hero.pk).current_state_json == good


@pytest.mark.django_db
def test_refresh_snapshots_command_refuses_unknown_world(synced):
    with pytest.raises(CommandError, match="unknown world"):
        call_command("refresh_snapshots", "gamma", stdout=io.StringIO())
