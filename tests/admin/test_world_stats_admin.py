"""The world page's tuning panels: the charts, and every number linked to its rows.

The numbers are checked against a hand-computed fixture in ``tests/ledger/test_stats.py``;
here each link is followed to the event or character list it names, and that list must
hold exactly the rows the number counts.
"""

import html
import re

import pytest
from django.urls import reverse

from access.models import WorldMembership
from axes.models import Axis
from ledger.models import Event
from ledger.services import apply_event
from tests.admin.conftest import INSPECTOR, messages_of
from tests.factories import CharacterFactory, UserFactory

WORLD_PAGE = reverse("admin:worlds_world_change", args=["alpha"])
EVENTS = reverse("admin:ledger_event_changelist")
CHARACTERS = reverse("admin:worlds_character_changelist")


@pytest.fixture
def population(synced):
    """Four characters of alpha and three events: a crossing up, a clamp, a crossing down."""
    poor, gap, edge, rich = (
        CharacterFactory(name=name, scores={"wealth": wealth})
        for name, wealth in (("Poor", 0.0), ("Gap", 0.195), ("Edge", 0.2), ("Rich", 0.9))
    )
    CharacterFactory(name="Elsewhere", world_id="beta", scores={"wealth": 0.0})
    events = {
        "up": apply_event(world_id="alpha", event_type="loot", deltas={poor.pk: {"wealth": 0.3}}),
        "clamp": apply_event(
            world_id="alpha", event_type="loot", deltas={rich.pk: {"wealth": 0.5}}
        ),
        "down": apply_event(world_id="alpha", event_type="tax", deltas={edge.pk: {"wealth": -0.1}}),
    }
    # After: Poor 0.3 (modest), Gap 0.195 (poor), Edge 0.1 (poor), Rich 1.0 (decadent).
    return {"characters": (poor, gap, edge, rich), "events": {k: e.pk for k, e in events.items()}}


def page(client, **query) -> str:
    response = client.get(WORLD_PAGE, query)
    assert response.status_code == 200
    return response.content.decode()


def link(content: str, pattern: str) -> str:
    """Return the href of the first ``<a href=...`` followed by ``pattern``, unescaped."""
    found = re.search(r'<a href="([^"]+)"\s*' + pattern, content)
    assert found, pattern
    return html.unescape(found.group(1))


def listed_characters(client, url) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, response.get("Location")
    return sorted(character.name for character in response.context["cl"].result_list)


def listed_events(client, url) -> list[int]:
    response = client.get(url)
    assert response.status_code == 200, response.get("Location")
    return sorted(event.pk for event in response.context["cl"].result_list)


def test_the_label_bars_show_every_label_with_its_count(admin_client, population):
    content = page(admin_client)

    wealth = content[content.index('data-axis="wealth"') :]
    bars = re.findall(r'class="pw-label-bar" data-label="([^"]+)" data-count="(\d+)"', wealth)
    assert bars[:5] == [
        ("poor", "2"),
        ("modest", "1"),
        ("well-kept", "0"),
        ("wealthy", "0"),
        ("decadent", "1"),
    ]
    assert wealth.count('class="pw-histogram-bin"') >= 20


def test_a_label_count_links_to_exactly_its_characters(admin_client, population):
    content = page(admin_client)

    poor = link(content, r'class="pw-label-bar" data-label="poor"')
    decadent = link(content, r'class="pw-label-bar" data-label="decadent"')

    assert listed_characters(admin_client, poor) == ["Edge", "Gap"]  # the gap is poor's
    assert listed_characters(admin_client, decadent) == ["Rich"]


def test_the_clamped_ends_link_to_their_characters(admin_client, population):
    content = page(admin_client)
    wealth = content[content.index('data-axis="wealth"') :]

    assert listed_characters(admin_client, link(wealth, r'class="pw-at-one"')) == ["Rich"]
    assert listed_characters(admin_client, link(wealth, r'class="pw-at-zero"')) == []


def test_an_axis_character_count_links_to_every_character_scored_on_it(admin_client, population):
    wealth = page(admin_client)
    wealth = wealth[wealth.index('data-axis="wealth"') :]

    scored = link(wealth, r'class="pw-scored"')

    assert listed_characters(admin_client, scored) == ["Edge", "Gap", "Poor", "Rich"]


def test_event_type_numbers_link_to_the_events_that_make_them_up(admin_client, population):
    content = page(admin_client)
    loot = content[content.index('data-type="loot"') :]
    tax = content[content.index('data-type="tax"') :]
    events = population["events"]

    assert listed_events(admin_client, link(loot, r'class="pw-type-events"')) == sorted(
        [events["up"], events["clamp"]]
    )
    assert listed_events(admin_client, link(loot, r'class="pw-clamped-link"')) == [events["clamp"]]
    assert listed_events(admin_client, link(loot, r'class="pw-up"')) == [events["up"]]
    assert listed_events(admin_client, link(tax, r'class="pw-down"')) == [events["down"]]
    assert listed_characters(admin_client, link(loot, r'class="pw-type-characters"')) == [
        "Poor",
        "Rich",
    ]


def test_the_window_limits_the_linked_events_too(admin_client, population):
    old = Event.objects.get(pk=population["events"]["up"])
    content = page(admin_client, window="24h")

    url = link(content, r'id="window-events"')

    assert "recorded_since" in url
    assert old.pk in listed_events(admin_client, url)
    assert "recorded_since" not in link(page(admin_client, window="all"), r'id="window-events"')


def test_a_crossing_day_links_to_that_days_crossings(admin_client, population):
    content = page(admin_client)
    wealth = content[content.index('class="pw-chart-cell pw-axis-window" data-axis="wealth"') :]

    day = link(wealth, r"><title>[-0-9]+: 1 crossing\(s\) down")

    assert listed_events(admin_client, day) == [population["events"]["down"]]


def test_a_bad_window_says_so_and_shows_the_default(admin_client, population):
    response = admin_client.get(WORLD_PAGE, {"window": "2d"})

    assert response.status_code == 200
    assert "window must be one of 24h, 7d, 30d, all, not '2d'" in messages_of(response)
    assert '<strong data-window="7d">' in response.content.decode()


@pytest.mark.parametrize(
    ("url", "query"),
    [
        (CHARACTERS, {"axis": "x"}),
        (CHARACTERS, {"axis": "999999"}),
        (CHARACTERS, {"score_gte": "0.5"}),  # a range without an axis
        (CHARACTERS, {"axis": "1", "score_lt": "2"}),
        (CHARACTERS, {"touched_since": "2026-01-01T00:00:00Z"}),
        (CHARACTERS, {"touched_type": "loot"}),  # a type is named within a world
        (
            CHARACTERS,
            {"touched_world": "alpha", "touched_type": "loot", "touched_since": "yesterday"},
        ),
        (
            CHARACTERS,
            {"touched_world": "alpha", "touched_type": "x", "touched_since": "2026-02-30T00:00:00"},
        ),
        (EVENTS, {"recorded_since": "2026-13-01T00:00:00"}),
        (EVENTS, {"recorded_until": "2026-01-01T00:00:00+99:00"}),
        (EVENTS, {"recorded_since": "0001-01-01T00:00:00+01:00"}),
        (EVENTS, {"axis": "1", "change": "sideways"}),
        (EVENTS, {"change": "up"}),
        (EVENTS, {"recorded_since": "last week"}),
    ],
)
def test_bad_filter_values_are_refused_as_the_admin_does(admin_client, population, url, query):
    response = admin_client.get(url, query)

    assert (response.status_code, response["Location"]) == (302, f"{url}?e=1")


def test_an_axis_of_a_world_the_user_may_not_see_is_no_axis(client, population):
    user = UserFactory(is_staff=True, permissions=INSPECTOR)
    WorldMembership.objects.create(user=user, world_id="beta")
    client.force_login(user)
    alpha_wealth = Axis.objects.get(world_id="alpha", name="wealth").pk

    response = client.get(CHARACTERS, {"axis": alpha_wealth, "score_gte": "0"})
    events = client.get(EVENTS, {"axis": alpha_wealth})

    assert (response.status_code, response["Location"]) == (302, f"{CHARACTERS}?e=1")
    assert (events.status_code, events["Location"]) == (302, f"{EVENTS}?e=1")
    beta_wealth = Axis.objects.get(world_id="beta", name="wealth").pk
    assert listed_characters(client, f"{CHARACTERS}?axis={beta_wealth}&score_lte=0") == [
        "Elsewhere"
    ]


def test_the_world_page_costs_the_same_queries_as_the_world_grows(
    admin_client, population, django_assert_max_num_queries
):
    page(admin_client)  # warms the registry cache
    with django_assert_max_num_queries(40) as small:
        page(admin_client)
    for index in range(20):
        character = CharacterFactory(scores={"wealth": 0.5})
        apply_event(
            world_id="alpha",
            event_type=f"kind_{index % 6}",
            deltas={character.pk: {"wealth": 0.3, "health": -0.3}},
        )

    with django_assert_max_num_queries(len(small.captured_queries)):
        page(admin_client)


def test_every_character_page_links_its_world_statistics(admin_client, population):
    poor = population["characters"][0]

    response = admin_client.get(reverse("admin:worlds_character_change", args=[poor.pk]))

    assert f'href="{WORLD_PAGE}#distributions" id="world-statistics"' in response.content.decode()


def test_a_delta_count_says_how_many_events_its_link_lists(admin_client, synced):
    rich, poor, other = (CharacterFactory(scores={"wealth": w}) for w in (0.9, 0.1, 0.1))
    event = apply_event(
        world_id="alpha",
        event_type="windfall",
        deltas={rich.pk: {"wealth": 0.5}, poor.pk: {"wealth": 0.3}, other.pk: {"wealth": 0.3}},
    )
    content = page(admin_client)
    windfall = content[content.index('data-type="windfall"') :]

    up = re.search(r'class="pw-up" title="([^"]+)">(\d+)</a>', windfall)
    assert up.groups() == ("2 delta(s) in 1 event(s), listed by the link", "2")
    assert listed_events(admin_client, link(windfall, r'class="pw-up"')) == [event.pk]


def test_a_request_finer_than_the_precision_is_not_a_clamp(admin_client, synced):
    hero = CharacterFactory(scores={"wealth": 0.5})
    apply_event(world_id="alpha", event_type="fine", deltas={hero.pk: {"wealth": 1 / 3}})
    clamped = apply_event(world_id="alpha", event_type="fine", deltas={hero.pk: {"wealth": 0.5}})
    content = page(admin_client)
    fine = content[content.index('data-type="fine"') :]

    assert re.search(r'class="pw-clamped-link" title="[^"]+">(\d+)</a>', fine)[1] == "1"
    assert listed_events(admin_client, link(fine, r'class="pw-clamped-link"')) == [clamped.pk]


def test_a_user_of_other_worlds_sees_the_world_page_without_its_statistics(client, population):
    user = UserFactory(is_staff=True, permissions=INSPECTOR)
    WorldMembership.objects.create(user=user, world_id="beta")
    client.force_login(user)

    alpha = client.get(WORLD_PAGE).content.decode()
    beta = client.get(reverse("admin:worlds_world_change", args=["beta"])).content.decode()

    assert 'id="statistics-hidden"' in alpha
    assert 'id="distributions"' not in alpha and "Poor" not in alpha
    assert 'id="distributions"' in beta and 'id="statistics-hidden"' not in beta
