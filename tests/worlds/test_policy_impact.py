"""The impact of a policy change, before it is made: label matrices, the characters that
would change label, axes added and retired, drift rules; read only, in a bounded number of
queries per axis."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import table_state
from tests.factories import CharacterFactory
from tests.worlds.impact_edits import (
    add_charm_retire_luck,
    drop_luck,
    edit,
    move_wealth_edges,
    policies,
    rename_poor,
    set_drift,
)
from worlds.policies import load_world_policy
from worlds.services import (
    IMPACT_BECOMES_NUMERIC,
    IMPACT_BECOMES_ORDINAL,
    IMPACT_NUMERIC,
    MAX_LABEL_MOVES,
    preview_policy_sync,
    sync_world_policies,
)

# Wealth scores at and around every band edge, with their labels under the fixture's bands
# and under move_wealth_edges' (modest from 0.25, well-kept from 0.45), worked out by hand.
EDGE_SCORES = [
    (0.0, "poor", "poor"),
    (0.19, "poor", "poor"),
    (0.195, "poor", "poor"),  # the gap between 0.19 and 0.20 belongs to the band below
    (0.2, "modest", "poor"),
    (0.245, "modest", "poor"),  # the new gap between 0.24 and 0.25
    (0.25, "modest", "modest"),
    (0.39, "modest", "modest"),
    (0.4, "well-kept", "modest"),
    (0.42, "well-kept", "modest"),
    (0.45, "well-kept", "well-kept"),
    (0.5999, "well-kept", "well-kept"),
    (0.6, "wealthy", "wealthy"),
    (0.7999, "wealthy", "wealthy"),
    (0.8, "decadent", "decadent"),
    (1.0, "decadent", "decadent"),
]


def impact_of(world_id: str = "alpha"):
    preview = preview_policy_sync(world_ids=[world_id])
    return preview.impacts[world_id]


def axis_impact(impact, name: str):
    [axis] = [axis for axis in impact.labels if axis.axis == name]
    return axis


@pytest.fixture
def edge_characters(synced):
    return [
        CharacterFactory(name=f"w{score}", scores={"wealth": score}) for score, _, _ in EDGE_SCORES
    ]


def test_a_threshold_move_gives_the_hand_computed_matrix_and_characters(
    edge_characters, worlds_dir
):
    move_wealth_edges(worlds_dir)

    wealth = axis_impact(impact_of(), "wealth")

    assert wealth.note is None
    assert wealth.matrix == (
        ("poor", "poor", 3),
        ("modest", "poor", 2),
        ("modest", "modest", 2),
        ("well-kept", "modest", 2),
        ("well-kept", "well-kept", 2),
        ("wealthy", "wealthy", 2),
        ("decadent", "decadent", 2),
    )
    assert (wealth.scores, wealth.changing) == (15, 4)
    assert [(m.character_id, m.name, m.score, m.old_label, m.new_label) for m in wealth.moves] == [
        (edge_characters[3].pk, "w0.2", 0.2, "modest", "poor"),
        (edge_characters[4].pk, "w0.245", 0.245, "modest", "poor"),
        (edge_characters[7].pk, "w0.4", 0.4, "well-kept", "modest"),
        (edge_characters[8].pk, "w0.42", 0.42, "well-kept", "modest"),
    ]


def test_the_database_resolves_labels_as_resolve_label_does(edge_characters, worlds_dir):
    move_wealth_edges(worlds_dir)
    new_wealth = load_world_policy(policies(worlds_dir).parent, "alpha").policy.axis("wealth")

    wealth = axis_impact(impact_of(), "wealth")

    expected: dict[tuple[str, str], int] = {}
    for character in edge_characters:
        old = character.current_state_json["axes"]["wealth"]
        key = (old["label"], new_wealth.label_for(old["score"]))
        expected[key] = expected.get(key, 0) + 1
    assert {(old, new): count for old, new, count in wealth.matrix} == expected
    assert [(old, new) for _, old, new in EDGE_SCORES] == [
        (c.current_state_json["axes"]["wealth"]["label"], new_wealth.label_for(score))
        for c, (score, _, _) in zip(edge_characters, EDGE_SCORES, strict=True)
    ]


def test_unchanged_bands_give_a_diagonal_matrix_and_no_characters(edge_characters, worlds_dir):
    move_wealth_edges(worlds_dir)

    health = axis_impact(impact_of(), "health")

    # Every character has health at the default 0.8: hale before and after.
    assert health.matrix == (("hale", "hale", 15),)
    assert (health.changing, health.moves) == (0, ())
    assert health.grid == [("ailing", [0, 0]), ("hale", [0, 15])]


def test_a_label_rename_is_a_full_off_diagonal_column(edge_characters, worlds_dir):
    rename_poor(worlds_dir)

    wealth = axis_impact(impact_of(), "wealth")

    assert wealth.new_labels == ("broke", "modest", "well-kept", "wealthy", "decadent")
    assert wealth.matrix == (
        ("poor", "broke", 3),
        ("modest", "modest", 4),
        ("well-kept", "well-kept", 4),
        ("wealthy", "wealthy", 2),
        ("decadent", "decadent", 2),
    )
    assert wealth.grid[0] == ("poor", [3, 0, 0, 0, 0])
    assert wealth.changing == 3
    assert [m.name for m in wealth.moves] == ["w0.0", "w0.19", "w0.195"]
    assert {(m.old_label, m.new_label) for m in wealth.moves} == {("poor", "broke")}


def test_at_most_the_first_characters_by_id_are_listed(synced, worlds_dir):
    characters = [CharacterFactory(scores={"wealth": 0.4}) for _ in range(MAX_LABEL_MOVES + 3)]
    move_wealth_edges(worlds_dir)

    wealth = axis_impact(impact_of(), "wealth")

    assert wealth.changing == MAX_LABEL_MOVES + 3
    assert [m.character_id for m in wealth.moves] == [c.pk for c in characters[:MAX_LABEL_MOVES]]


def test_an_added_and_a_retired_axis(edge_characters, worlds_dir):
    add_charm_retire_luck(worlds_dir)

    impact = impact_of()

    [charm] = impact.added
    assert (charm.axis, charm.reactivated, charm.backfilled, charm.score) == (
        "charm",
        False,
        15,
        0.65,
    )
    [luck] = impact.retired
    assert (luck.axis, luck.scores) == ("luck", 15)
    assert [axis.axis for axis in impact.labels] == ["health", "wealth"]
    assert impact.characters == 15


def test_numeric_axes_have_no_matrix_and_say_why(edge_characters, worlds_dir):
    # luck stays numeric; health becomes numeric.
    edit(
        worlds_dir,
        "axes.yaml",
        "    values: [ailing, hale]\n    ordering:\n      type: ordinal\n"
        "      values: [ailing, hale]\n",
        "    ordering:\n      type: numeric\n",
    )
    thresholds = policies(worlds_dir) / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().split("  health:\n")[0])

    impact = impact_of()

    assert axis_impact(impact, "luck").note == IMPACT_NUMERIC
    health_impact = axis_impact(impact, "health")
    assert health_impact.note == IMPACT_BECOMES_NUMERIC
    assert health_impact.as_dict()["matrix"] is None
    assert health_impact.describe() == [f"axis health: {IMPACT_BECOMES_NUMERIC}"]


def test_a_numeric_axis_that_gets_labels_says_so(edge_characters, worlds_dir):
    edit(
        worlds_dir,
        "axes.yaml",
        "  luck:\n    default: 0.25\n    ordering:\n      type: numeric\n",
        "  luck:\n    default: 0.25\n    values: [cursed, blessed]\n"
        "    ordering:\n      type: ordinal\n      values: [cursed, blessed]\n",
    )
    thresholds = policies(worlds_dir) / "thresholds.yaml"
    thresholds.write_text(
        thresholds.read_text() + "  luck:\n    values:\n      cursed: { min: 0.0, max: 0.5 }\n"
        "      blessed: { min: 0.5, max: 1.0 }\n"
    )

    luck = axis_impact(impact_of(), "luck")

    assert luck.note == IMPACT_BECOMES_ORDINAL
    assert luck.new_labels == ("cursed", "blessed")


def test_an_empty_world_has_an_impact_of_zeros(synced, worlds_dir):
    move_wealth_edges(worlds_dir)
    add_charm_retire_luck(worlds_dir)

    impact = impact_of()

    assert impact.characters == 0
    wealth = axis_impact(impact, "wealth")
    assert (wealth.matrix, wealth.scores, wealth.changing, wealth.moves) == ((), 0, 0, ())
    assert [(a.axis, a.backfilled) for a in impact.added] == [("charm", 0)]
    assert [(r.axis, r.scores) for r in impact.retired] == [("luck", 0)]


def test_a_world_never_synced_adds_every_axis(db, worlds_dir):
    impact = impact_of("beta")

    assert impact.new_world
    assert [(a.axis, a.backfilled, a.score) for a in impact.added] == [
        ("morale", 0, 0.5),
        ("wealth", 0, 0.1),
    ]
    assert impact.labels == impact.retired == impact.drift == ()


def test_an_unchanged_world_has_no_impact(synced):
    preview = preview_policy_sync()

    assert preview.impacts == {"alpha": None, "beta": None}
    assert not preview.changed


def test_a_retired_axis_stays_out_of_the_impact_and_its_return_is_a_reactivation(
    synced, worlds_dir
):
    veterans = [CharacterFactory(scores={"luck": 0.9}) for _ in range(2)]
    original = drop_luck(worlds_dir)
    sync_world_policies(world_ids=["alpha"])
    CharacterFactory()  # created while luck is retired: no luck score

    move_wealth_edges(worlds_dir)
    impact = impact_of()
    assert impact.retired == impact.added == ()
    assert "luck" not in [axis.axis for axis in impact.labels]

    (policies(worlds_dir) / "axes.yaml").write_text(original)
    [luck] = impact_of().added
    assert (luck.axis, luck.reactivated, luck.backfilled, luck.kept) == ("luck", True, 1, 2)
    assert len(veterans) == luck.kept


@pytest.fixture
def health_scores(synced):
    """Characters at health 0.5 (where a rule toward 0.5 stops), 0.0 and 1.0 (clamped ends),
    and two at 0.8 (the default)."""
    return [CharacterFactory(scores={"health": score}) for score in (0.5, 0.0, 1.0, 0.8, 0.8)]


def test_a_drift_rule_added(health_scores, worlds_dir):
    set_drift(worlds_dir, "health", "{ rate: 0.01, every: 1h, toward: 0.5 }")

    [drift] = impact_of().drift

    assert (drift.axis, drift.change, drift.before) == ("health", "added", None)
    assert drift.after.describe() == "+0.01 every 1h toward 0.5"
    assert (drift.per_day_before, drift.per_day_after) == (None, pytest.approx(0.24))
    # Every score but the one already at 0.5.
    assert (drift.characters_before, drift.characters_after) == (0, 4)


def test_a_drift_rule_changed(health_scores, worlds_dir):
    set_drift(worlds_dir, "health", "{ rate: 0.01, every: 1h, toward: 0.5 }")
    sync_world_policies(world_ids=["alpha"])
    set_drift(worlds_dir, "health", "{ rate: -0.02, every: 1d }")

    [drift] = impact_of().drift

    assert drift.change == "changed"
    assert (drift.per_day_before, drift.per_day_after) == (
        pytest.approx(0.24),
        pytest.approx(-0.02),
    )
    # Without toward, a falling rule stops at 0: the score at 0.0 does not move.
    assert (drift.characters_before, drift.characters_after) == (4, 4)
    assert drift.as_dict()["after"] == {
        "rate": -0.02,
        "period": 86_400,
        "toward": None,
        "rule": "-0.02 every 1d",
    }


def test_a_drift_rule_removed(health_scores, worlds_dir):
    set_drift(worlds_dir, "health", "{ rate: 0.05, every: 12h }")
    sync_world_policies(world_ids=["alpha"])
    set_drift(worlds_dir, "health", None)

    [drift] = impact_of().drift

    assert (drift.change, drift.after, drift.per_day_after) == ("removed", None, None)
    assert drift.per_day_before == pytest.approx(0.1)
    # A rising rule stops at 1: the score at 1.0 did not move.
    assert (drift.characters_before, drift.characters_after) == (4, 0)


def test_a_drift_rule_of_rate_zero_moves_no_one(health_scores, worlds_dir):
    set_drift(worlds_dir, "health", "{ rate: 0, every: 1d }")

    [drift] = impact_of().drift

    assert (drift.change, drift.per_day_after, drift.characters_after) == ("added", 0.0, 0)


def test_a_new_axis_with_drift_moves_the_backfilled_characters(health_scores, worlds_dir):
    add_charm_retire_luck(worlds_dir)
    set_drift(worlds_dir, "charm", "{ rate: -0.001, every: 1h, toward: 0.65 }")

    [drift] = impact_of().drift

    # Everyone is backfilled at charm's default, 0.65: already where the rule stops.
    assert (drift.axis, drift.change, drift.characters_after) == ("charm", "added", 0)
    set_drift(worlds_dir, "charm", "{ rate: -0.001, every: 1h, toward: 0.5 }")
    assert impact_of().drift[0].characters_after == len(health_scores)


def test_a_preview_writes_nothing(edge_characters, worlds_dir):
    move_wealth_edges(worlds_dir)
    add_charm_retire_luck(worlds_dir)
    set_drift(worlds_dir, "health", "{ rate: 0.01, every: 1h, toward: 0.5 }")
    before = table_state()

    with CaptureQueriesContext(connection) as ctx:
        impact = impact_of()

    assert impact.changing == 4 and impact.added and impact.retired and impact.drift
    statements = [query["sql"].lstrip().split()[0].upper() for query in ctx.captured_queries]
    assert statements and set(statements) == {"SELECT"}
    assert table_state() == before


def queries_of_a_preview() -> int:
    with CaptureQueriesContext(connection) as ctx:
        preview_policy_sync(world_ids=["alpha"])
    return len(ctx.captured_queries)


def test_the_query_count_does_not_grow_with_the_characters(synced, worlds_dir):
    CharacterFactory(scores={"wealth": 0.4})
    move_wealth_edges(worlds_dir)
    add_charm_retire_luck(worlds_dir)
    set_drift(worlds_dir, "health", "{ rate: 0.01, every: 1h, toward: 0.5 }")
    few = queries_of_a_preview()

    for _ in range(40):
        CharacterFactory(scores={"wealth": 0.42})

    assert queries_of_a_preview() == few
    assert impact_of().changing == 41


def test_the_impact_reads_as_text_and_json(edge_characters, worlds_dir):
    move_wealth_edges(worlds_dir)
    add_charm_retire_luck(worlds_dir)

    impact = impact_of()

    lines = impact.describe()
    assert lines[0] == "impact on 15 character(s):"
    assert "  axis wealth: 4 of 15 score(s) change label" in lines
    assert "    old \\ new  poor  modest  well-kept  wealthy  decadent" in lines
    assert "    modest        2       2          0        0         0" in lines
    first = edge_characters[3]
    assert f"      #{first.pk} w0.2 (0.2): modest -> poor" in lines
    assert "  axis charm added: 15 character(s) backfilled at 0.65" in lines
    assert "  axis luck retired: 15 score(s) stop moving" in lines
    data = impact.as_dict()
    assert data["world_id"] == "alpha" and data["characters"] == 15
    [wealth] = [axis for axis in data["labels"] if axis["axis"] == "wealth"]
    assert {"old": "well-kept", "new": "modest", "count": 2} in wealth["matrix"]
    assert wealth["characters"][0] == {
        "character_id": first.pk,
        "name": "w0.2",
        "score": 0.2,
        "old_label": "modest",
        "new_label": "poor",
    }
    assert data["added_axes"] == [
        {"axis": "charm", "reactivated": False, "backfilled": 15, "score": 0.65, "kept": 0}
    ]
    assert data["retired_axes"] == [{"axis": "luck", "scores": 15}]
