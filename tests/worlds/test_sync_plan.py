"""sync_policies plans once: a real run carries out exactly what the dry run described."""

import pytest

from axes.models import CharacterAxisScore
from ledger.models import EventEntityAxisDelta
from ledger.services import AXES_ADDED, state
from ledger.verification import verify_ledger
from tests.factories import CharacterFactory
from worlds.services import sync_world_policies

NEW_AXIS = (
    "  charm:\n    default: 0.65\n    values: [dull, charming]\n"
    "    ordering:\n      type: ordinal\n      values: [dull, charming]\n"
)
NEW_BANDS = (
    "  charm:\n    values:\n      dull: { min: 0.0, max: 0.5 }\n"
    "      charming: { min: 0.5, max: 1.0 }\n"
)


def policies(worlds_dir, world_id="alpha"):
    return worlds_dir / world_id / "policies"


def change_everything(worlds_dir):
    """Add an axis, retire one, move a band edge and a default (world alpha)."""
    axes = policies(worlds_dir) / "axes.yaml"
    text = axes.read_text().split("  luck:\n")[0]  # luck leaves the policy
    axes.write_text(text.replace("default: 0.8", "default: 0.7") + NEW_AXIS)
    thresholds = policies(worlds_dir) / "thresholds.yaml"
    text = thresholds.read_text().replace("well-kept: { min: 0.40", "well-kept: { min: 0.45")
    thresholds.write_text(text + NEW_BANDS)


def dry_then_real(**kwargs) -> tuple[dict, dict]:
    dry = sync_world_policies(dry_run=True, **kwargs)
    real = sync_world_policies(**kwargs)
    return (
        {plan.world_id: plan.describe() for plan in dry.plans},
        {plan.world_id: plan.describe_done() for plan in real.plans},
    )


@pytest.mark.django_db
def test_the_first_sync_does_what_its_dry_run_described():
    described, done = dry_then_real()

    assert described == done
    assert described["alpha"][:4] == [
        "create world alpha",
        "create axis health",
        "create axis luck",
        "create axis wealth",
    ]


@pytest.mark.django_db
def test_a_policy_change_does_what_its_dry_run_described(synced, worlds_dir):
    characters = [CharacterFactory() for _ in range(3)]
    CharacterFactory(world_id="beta")
    change_everything(worlds_dir)

    described, done = dry_then_real()

    assert described == done
    assert described["beta"] == []
    alpha = described["alpha"]
    assert "create axis charm" in alpha
    assert "retire axis luck (its ledger history is kept)" in alpha
    assert [line for line in alpha if line.startswith("update axis")] == [
        "update axis health: default 0.8 -> 0.7",
        "update axis wealth: bands poor [0.0, 0.19], modest [0.2, 0.39], well-kept [0.4, 0.59], "
        "wealthy [0.6, 0.79], decadent [0.8, 1.0] -> poor [0.0, 0.19], modest [0.2, 0.39], "
        "well-kept [0.45, 0.59], wealthy [0.6, 0.79], decadent [0.8, 1.0]",
    ]
    assert alpha[-2:] == [
        "give 3 existing character(s) their default score on charm through a ledger event",
        "re-derive 3 character snapshot(s)",
    ]
    backfilled = EventEntityAxisDelta.objects.filter(event__event_type__name=AXES_ADDED)
    assert sorted(backfilled.values_list("character_id", flat=True)) == [c.pk for c in characters]
    assert verify_ledger().clean


@pytest.mark.django_db
def test_a_returning_axis_backfills_only_the_characters_without_a_score(synced, worlds_dir):
    original = (policies(worlds_dir) / "axes.yaml").read_text()
    veteran = CharacterFactory(scores={"luck": 0.9})
    (policies(worlds_dir) / "axes.yaml").write_text(original.split("  luck:\n")[0])
    sync_world_policies()
    newcomers = [CharacterFactory(), CharacterFactory()]
    (policies(worlds_dir) / "axes.yaml").write_text(original)

    described, done = dry_then_real(world_ids=["alpha"])

    assert described == done
    assert described["alpha"][0] == "reactivate axis luck"
    assert (
        "give 2 existing character(s) their default score on luck through a ledger event"
        in described["alpha"]
    )
    assert CharacterAxisScore.objects.get(character=veteran, axis__name="luck").axis_score == 0.9
    for newcomer in newcomers:
        luck = CharacterAxisScore.objects.get(character=newcomer, axis__name="luck")
        assert luck.axis_score == 0.25


@pytest.mark.django_db
def test_each_snapshot_is_derived_once_by_a_sync_that_backfills(synced, worlds_dir, monkeypatch):
    characters = [CharacterFactory() for _ in range(4)]
    change_everything(worlds_dir)
    written = []

    def recording(original):
        def record(*, states, **kwargs):
            states = list(states)
            result = original(states=states, **kwargs)
            # With an event (PostgreSQL), None: its type was new, nothing was written.
            if kwargs.get("event") is None or result is not None:
                written.extend(character.character_id for character in states)
            return result

        return record

    # The backfill's event writes its characters' snapshots, the refresh the others'.
    for writer in ("write_snapshots", "write_event_state"):
        monkeypatch.setattr(state, writer, recording(getattr(state, writer)))

    sync_world_policies()

    assert sorted(written) == [c.pk for c in characters]
    for character in characters:
        character.refresh_from_db()
        assert character.current_state_json["axes"]["charm"] == {
            "score": 0.65,
            "label": "charming",
        }
        assert "luck" not in character.current_state_json["axes"]
    assert verify_ledger().clean
