"""A world's statistics (ledger.stats) against a hand-computed fixture, on both engines.

World alpha: wealth bands poor [0, 0.19], modest [0.20, ...], well-kept [0.40, ...],
wealthy [0.60, ...], decadent [0.80, 1]; health ailing [0, 0.5), hale [0.5, 1]; luck is
numeric. The clock is fixed (``timezone.now``), so every event is recorded at a known time
and the windows' boundaries are exact.
"""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger.services import apply_event
from ledger.stats import (
    STATS_UNKNOWN_WINDOW,
    parse_window,
    window_statistics,
    world_distributions,
)
from tests.api.conftest import retire_axis
from tests.factories import CharacterFactory
from worlds.models import World

pytestmark = pytest.mark.usefixtures("synced")

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    """Set the time events are recorded at (and statistics are read at: ``NOW``)."""

    def at(moment: datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    at(NOW)
    return at


@pytest.fixture
def population(clock):
    """Five characters created 40 days ago, one wealth score on each band edge or gap."""
    clock(NOW - timedelta(days=40))
    scores = [
        {"wealth": 0.0, "health": 0.1},  # poor, at zero
        {"wealth": 0.195, "health": 0.3},  # in the gap between poor and modest: poor
        {"wealth": 0.2, "health": 0.5},  # modest's min; health's hale min
        {"wealth": 0.8, "health": 0.9},  # decadent's min
        {"wealth": 1.0},  # decadent, at one; health at its default 0.8
    ]
    characters = [
        CharacterFactory(name=f"c{index}", scores=score) for index, score in enumerate(scores)
    ]
    clock(NOW)
    return characters


@pytest.fixture
def history(population, clock):
    """Events at known times: 10 days, 3 days, 1 hour ago, and either side of 7 days."""
    c0, c1, c2, c3, c4 = population

    def event(ago: timedelta, event_type: str, deltas: dict) -> int:
        clock(NOW - ago)
        event_id = apply_event(world_id="alpha", event_type=event_type, deltas=deltas).pk
        clock(NOW)
        return event_id

    return {
        # c0 0.0 -> 0.3: poor -> modest, a crossing up.
        "loot_old": event(timedelta(days=10), "loot", {c0.pk: {"wealth": 0.3}}),
        # Just outside the 7-day window, and exactly on its start (inside: since <= t).
        "edge_out": event(timedelta(days=7, microseconds=1), "edge", {c3.pk: {"wealth": -0.01}}),
        "edge_in": event(timedelta(days=7), "edge", {c3.pk: {"wealth": 0.01}}),
        # c3 0.8 -> 1.0 (asked +0.5: clamped, decadent both); c1 0.195 -> 0 (clamped).
        "loot_new": event(
            timedelta(days=3), "loot", {c3.pk: {"wealth": 0.5}, c1.pk: {"wealth": -0.5}}
        ),
        # c2 0.2 -> 0.1: modest -> poor, a crossing down; health 0.5 -> 0.3: hale -> ailing.
        "tax": event(timedelta(hours=1), "tax", {c2.pk: {"wealth": -0.1, "health": -0.2}}),
    }


def by_name(items, attribute="name"):
    return {getattr(item, attribute): item for item in items}


# Distributions ----------------------------------------------------------------------------


def test_labels_histogram_and_figures_match_the_hand_computed_fixture(population):
    axes = by_name(world_distributions(World.objects.get(pk="alpha")))

    wealth = axes["wealth"]
    assert wealth.characters == 5
    assert [(label.label, label.count) for label in wealth.labels] == [
        ("poor", 2),  # 0.0 and 0.195 (the gap belongs to the band below)
        ("modest", 1),  # 0.2
        ("well-kept", 0),
        ("wealthy", 0),
        ("decadent", 2),  # 0.8 and 1.0
    ]
    assert [label.share for label in wealth.labels] == [0.4, 0.2, 0.0, 0.0, 0.4]
    assert [(label.min_score, label.below) for label in wealth.labels][-2:] == [
        (0.6, 0.8),
        (0.8, None),
    ]
    expected_bins = [0] * 20
    for bin_index in (0, 3, 4, 16, 19):  # 0.0, 0.195, 0.2, 0.8, 1.0
        expected_bins[bin_index] += 1
    assert wealth.histogram == expected_bins
    assert wealth.mean == pytest.approx(0.439)  # 2.195 / 5
    assert wealth.median == 0.2
    assert (wealth.at_zero, wealth.at_one) == (1, 1)

    health = axes["health"]
    assert [(label.label, label.count) for label in health.labels] == [("ailing", 2), ("hale", 3)]
    assert health.median == 0.5  # 0.1, 0.3, 0.5, 0.8, 0.9

    luck = axes["luck"]
    assert luck.labels == []  # numeric: no labels, still a histogram
    assert luck.histogram[5] == 5  # every character at the default 0.25


def test_the_median_of_an_even_count_is_the_mean_of_the_middle_two(clock):
    for wealth in (0.1, 0.2, 0.4, 0.9):
        CharacterFactory(scores={"wealth": wealth})

    wealth = by_name(world_distributions(World.objects.get(pk="alpha")))["wealth"]

    assert wealth.median == 0.3


def test_an_empty_world_lists_every_label_with_zero_counts():
    axes = by_name(world_distributions(World.objects.get(pk="alpha")))

    assert [(label.label, label.count, label.share) for label in axes["wealth"].labels] == [
        (name, 0, 0.0) for name in ("poor", "modest", "well-kept", "wealthy", "decadent")
    ]
    assert axes["wealth"].characters == 0
    assert axes["wealth"].histogram == [0] * 20
    assert (axes["wealth"].mean, axes["wealth"].median) == (None, None)


def test_distributions_are_of_one_world(population):
    CharacterFactory(world_id="beta")

    axes = by_name(world_distributions(World.objects.get(pk="alpha")))

    assert axes["wealth"].characters == 5


def test_a_retired_axis_has_no_distribution_but_its_window_deltas_are_kept(
    population, clock, worlds_dir
):
    clock(NOW - timedelta(seconds=1))  # the window ends at now, excluded
    apply_event(world_id="alpha", event_type="luck_shift", deltas={population[0].pk: {"luck": 0.1}})
    clock(NOW)
    retire_axis(worlds_dir, "alpha", "luck")
    world = World.objects.get(pk="alpha")

    assert "luck" not in by_name(world_distributions(world))
    stats = window_statistics(world, window="24h")
    (luck,) = by_name(stats.types, "event_type")["luck_shift"].axes
    assert (luck.axis, luck.retired, luck.deltas, luck.total) == ("luck", True, 1, 0.1)
    assert by_name(stats.axes)["luck"].retired is True


# Windows ----------------------------------------------------------------------------------


def test_each_window_counts_the_events_recorded_inside_it(history):
    world = World.objects.get(pk="alpha")

    def types(window):
        stats = window_statistics(world, window=window)
        return stats.events, {impact.event_type: impact.events for impact in stats.types}

    assert types("24h") == (1, {"tax": 1})
    # The window starts exactly 7 days before now, inclusive: edge_in is in, edge_out not.
    assert types("7d") == (3, {"tax": 1, "loot": 1, "edge": 1})
    assert types("30d") == (5, {"tax": 1, "loot": 2, "edge": 2})
    assert types("all") == (10, {"tax": 1, "loot": 2, "edge": 2, "character_created": 5})


def test_an_event_recorded_at_the_windows_end_is_not_in_it(population, clock):
    hero = population[0]
    apply_event(world_id="alpha", event_type="at_now", deltas={hero.pk: {"wealth": 0.1}})

    stats = window_statistics(World.objects.get(pk="alpha"), window="24h")

    # [since, until): the list each number links to filters the same way.
    assert stats.events == 0


def test_the_window_bounds_are_reported(history):
    stats = window_statistics(World.objects.get(pk="alpha"), window="7d")

    assert (stats.since, stats.until) == (NOW - timedelta(days=7), NOW)
    assert window_statistics(World.objects.get(pk="alpha"), window="all").since is None


def test_event_type_impact_matches_the_hand_computed_fixture(history):
    stats = window_statistics(World.objects.get(pk="alpha"), window="30d")
    loot = by_name(stats.types, "event_type")["loot"]

    assert (loot.events, loot.characters) == (2, 3)
    (wealth,) = loot.axes
    assert wealth.deltas == 3
    assert wealth.total == pytest.approx(0.3 + 0.2 - 0.195)  # applied, not requested
    assert wealth.mean == pytest.approx(0.305 / 3, abs=1e-6)
    assert (wealth.clamped, wealth.clamped_share) == (2, 2 / 3)
    assert (wealth.crossings_up, wealth.crossings_down) == (1, 0)

    tax = by_name(stats.types, "event_type")["tax"]
    axes = by_name(tax.axes, "axis")
    assert (axes["wealth"].crossings_up, axes["wealth"].crossings_down) == (0, 1)
    assert (axes["health"].crossings_down, axes["health"].clamped) == (1, 0)
    assert (tax.events, tax.characters) == (1, 1)


def test_top_movers_are_ranked_by_the_size_of_their_net_change(history):
    stats = window_statistics(World.objects.get(pk="alpha"), window="30d")
    movers = by_name(stats.axes)["wealth"].movers

    # c0 +0.3, c3 +0.2 (the two edge events cancel out), c1 -0.195, c2 -0.1.
    assert [(mover.name, mover.change, mover.deltas) for mover in movers] == [
        ("c0", 0.3, 1),
        ("c3", 0.2, 3),
        ("c1", -0.195, 1),
        ("c2", -0.1, 1),
    ]


def test_crossings_are_counted_per_day_over_every_day_of_the_window(history):
    stats = window_statistics(World.objects.get(pk="alpha"), window="30d")
    days = by_name(stats.axes)["wealth"].days

    assert len(days) == 31  # 2026-10-21 .. 2026-11-20, zero days included
    assert days[0].day == date(2026, 10, 21)
    crossings = {day.day: (day.up, day.down) for day in days if day.up or day.down}
    # loot_old up on the 10th; the edge events take c3 from decadent to wealthy and back
    # on the 13th; tax down today.
    assert crossings == {
        date(2026, 11, 10): (1, 0),
        date(2026, 11, 13): (1, 1),
        date(2026, 11, 20): (0, 1),
    }


def test_an_empty_window_has_no_types_and_zero_crossings(population):
    stats = window_statistics(World.objects.get(pk="alpha"), window="24h")

    assert (stats.events, stats.types) == (0, [])
    assert all(not axis.movers for axis in stats.axes)
    assert all(day.up == day.down == 0 for axis in stats.axes for day in axis.days)


def test_windows_are_of_one_world(history, clock):
    foreigner = CharacterFactory(world_id="beta")
    apply_event(world_id="beta", event_type="loot", deltas={foreigner.pk: {"wealth": 0.1}})

    stats = window_statistics(World.objects.get(pk="alpha"), window="24h")

    assert {impact.event_type for impact in stats.types} == {"tax"}


def test_the_statistics_cost_the_same_queries_for_a_bigger_world_and_ledger(history, clock):
    world = World.objects.get(pk="alpha")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            world_distributions(world)
            window_statistics(world, window="30d")
        return len(captured.captured_queries)

    before = queries()
    characters = [CharacterFactory(scores={"wealth": 0.5}) for _ in range(20)]
    for index, character in enumerate(characters):
        clock(NOW - timedelta(days=index % 9, hours=1))
        apply_event(
            world_id="alpha",
            event_type=f"type_{index % 4}",
            deltas={character.pk: {"wealth": 0.3, "health": -0.2}},
        )
    clock(NOW)

    assert queries() == before
    assert before <= 7  # distributions 2, window 4 + the type names


@pytest.mark.parametrize("value", ["", None])
def test_no_window_is_the_default(value):
    assert parse_window(value) == "7d"


@pytest.mark.parametrize("value", ["2d", "7D", "all "])
def test_an_unknown_window_is_refused_naming_the_choices(value):
    with pytest.raises(ValueError) as refused:
        parse_window(value)

    assert str(refused.value) == STATS_UNKNOWN_WINDOW.format(
        choices="24h, 7d, 30d, all", value=value
    )


def test_only_a_delta_cut_at_0_or_1_counts_as_clamped(population, clock):
    hero = population[2]  # wealth 0.2
    clock(NOW - timedelta(seconds=1))  # the window ends at now, excluded
    for asked in (1 / 3, 1e-7, -2.0, 0.5):  # rounded, rounded, cut at 0, not cut
        apply_event(world_id="alpha", event_type="fine", deltas={hero.pk: {"wealth": asked}})
    clock(NOW)

    stats = window_statistics(World.objects.get(pk="alpha"), window="24h")
    (wealth,) = by_name(stats.types, "event_type")["fine"].axes

    assert (wealth.deltas, wealth.clamped) == (4, 1)
