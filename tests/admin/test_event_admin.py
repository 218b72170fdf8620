"""The ledger admin: read-only for everyone, filterable, searchable, constant in queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledger import admin as ledger_admin
from ledger.models import Event
from ledger.services import apply_event
from tests.admin.conftest import add_events
from tests.conftest import table_state
from tests.factories import CharacterFactory

pytestmark = pytest.mark.usefixtures("synced")

CHANGELIST = "admin:ledger_event_changelist"


def listed(response) -> list[int]:
    return [event.pk for event in response.context["cl"].result_list]


def test_changelist_lists_events_newest_first_with_changes_and_metadata(admin_client, hero):
    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert listed(response) == list(Event.objects.order_by("-id").values_list("pk", flat=True))
    html = response.content.decode()
    assert "Ada Brass · wealth +0.2" in html
    assert "source=treasure_chest" in html
    assert response.context["cl"].show_full_result_count is False


def test_change_page_shows_deltas_and_metadata_read_only(admin_client, hero):
    event = Event.objects.get(event_type__name="combat")

    response = admin_client.get(reverse("admin:ledger_event_change", args=[event.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "View event" in html
    assert "<form" in html and 'name="_save"' not in html
    assert "ailing" in html  # health 0.8 -> 0.0: hale -> ailing
    assert '<strong class="pw-clamped">clamped</strong>' in html
    assert "arena" in html
    formsets = {f.opts.model._meta.model_name: f for f in response.context["inline_admin_formsets"]}
    assert len(formsets["evententityaxisdelta"].formset.forms) == 2
    assert len(formsets["eventmetadata"].formset.forms) == 1


def test_nobody_may_add_change_or_delete_events(admin_client, hero):
    event = Event.objects.get(event_type__name="loot_found")
    before = table_state()

    assert admin_client.get(reverse("admin:ledger_event_add")).status_code == 403
    assert admin_client.post(reverse("admin:ledger_event_add"), {}).status_code == 403
    change = reverse("admin:ledger_event_change", args=[event.pk])
    posted = {"world": "beta", "event_type": event.event_type_id, "_save": "Save"}
    assert admin_client.post(change, posted).status_code == 403
    delete = reverse("admin:ledger_event_delete", args=[event.pk])
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert table_state() == before
    changelist = admin_client.get(reverse(CHANGELIST))
    assert changelist.context["action_form"] is None  # not even a delete action


def test_character_filter_shows_one_character_and_its_events_once(admin_client, hero):
    other = CharacterFactory(name="Corin Valve")
    apply_event(world_id="alpha", event_type="trade", deltas={other.pk: {"wealth": 0.1}})

    response = admin_client.get(reverse(CHANGELIST), {"character": hero.pk})

    # The combat event has two deltas for the hero (health, luck): listed once.
    hero_events = list(
        Event.objects.filter(deltas__character=hero).distinct().values_list("pk", flat=True)
    )
    assert sorted(listed(response)) == sorted(hero_events)
    assert response.context["cl"].result_count == 3
    character_filter = next(
        spec for spec in response.context["cl"].filter_specs if spec.title == "character"
    )
    assert list(character_filter.lookup_choices) == [(str(hero.pk), "Ada Brass (alpha)")]
    html = response.content.decode()
    assert "Ada Brass (alpha)" in html
    assert "Corin Valve (alpha)" not in html


def test_character_filter_without_a_selection_lists_no_characters(admin_client, hero):
    response = admin_client.get(reverse(CHANGELIST))

    assert not any(
        spec.title == "character"
        for spec in response.context["cl"].filter_specs
        if spec.has_output()
    )


def test_character_filter_rejects_a_non_numeric_id(admin_client, hero):
    response = admin_client.get(reverse(CHANGELIST), {"character": "ada"})

    assert response.status_code == 302
    assert response["Location"] == reverse(CHANGELIST) + "?e=1"


def test_filters_by_world_and_event_type(admin_client, hero):
    other = CharacterFactory(world_id="beta")
    apply_event(world_id="beta", event_type="loot_found", deltas={other.pk: {"wealth": 0.1}})
    url = reverse(CHANGELIST)

    by_world = admin_client.get(url, {"world__world_id__exact": "beta"})
    assert set(Event.objects.filter(pk__in=listed(by_world)).values_list("world", flat=True)) == {
        "beta"
    }
    by_type = admin_client.get(url, {"type": "loot_found"})
    assert listed(by_type) == list(
        Event.objects.filter(event_type__name="loot_found")
        .order_by("-id")
        .values_list("pk", flat=True)
    )
    assert len(listed(by_type)) == 2
    both = admin_client.get(url, {"type": "loot_found", "world__world_id__exact": "alpha"})
    assert listed(both) == [Event.objects.get(world="alpha", event_type__name="loot_found").pk]
    # Only the selected type is a choice (a world may hold a thousand); a text box names
    # another (tests/admin/test_admin_bounds.py).
    type_filter = next(s for s in both.context["cl"].filter_specs if s.title == "event type")
    assert [name for name, _ in type_filter.lookup_choices] == ["loot_found"]


def test_search_by_metadata_value_and_by_key_value(admin_client, hero):
    url = reverse(CHANGELIST)
    loot = Event.objects.get(event_type__name="loot_found")

    assert listed(admin_client.get(url, {"q": "treasure"})) == [loot.pk]
    assert listed(admin_client.get(url, {"q": "source=treasure"})) == [loot.pk]
    assert listed(admin_client.get(url, {"q": "reason=treasure"})) == []


def test_search_by_character_name_lists_each_event_once(admin_client, hero):
    partner = CharacterFactory(name="Ada Copper")
    shared = apply_event(
        world_id="alpha",
        event_type="duel",
        deltas={hero.pk: {"health": 0.1, "wealth": 0.1}, partner.pk: {"health": -0.1}},
    )

    response = admin_client.get(reverse(CHANGELIST), {"q": "ada"})

    ids = listed(response)
    # Every event of the two characters named Ada, each once, newest first.
    assert ids == sorted(
        Event.objects.filter(deltas__character__in=[hero, partner])
        .distinct()
        .values_list("pk", flat=True),
        reverse=True,
    )
    assert ids.count(shared.pk) == 1
    assert response.context["cl"].result_count == len(ids)
    assert listed(admin_client.get(reverse(CHANGELIST), {"q": "ada copper"})) == sorted(
        Event.objects.filter(deltas__character=partner).distinct().values_list("pk", flat=True),
        reverse=True,
    )


def count_queries(client, url, params=None) -> int:
    """Return how many queries one GET runs (read before the next request clears the log)."""
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


def test_changelist_runs_the_same_queries_for_3_and_60_events(
    admin_client, django_assert_max_num_queries
):
    character = CharacterFactory(scores={"wealth": 0.5})
    add_events(character, 2)
    url = reverse(CHANGELIST)
    views = [{}, {"character": character.pk}, {"q": "shift"}, {"type": "wage_paid"}]
    admin_client.get(url)
    assert Event.objects.count() == 3
    few = [count_queries(admin_client, url, params) for params in views]

    add_events(character, 57)
    assert Event.objects.count() == 60
    with django_assert_max_num_queries(few[0]):
        response = admin_client.get(url)
    assert len(response.context["cl"].result_list) == 60
    assert [count_queries(admin_client, url, params) for params in views] == few


def test_event_change_page_queries_do_not_grow_with_deltas(admin_client, hero):
    few = apply_event(world_id="alpha", event_type="crowd", deltas={hero.pk: {"wealth": 0.1}})
    crowd = [CharacterFactory() for _ in range(8)]
    many = apply_event(
        world_id="alpha", event_type="crowd", deltas={c.pk: {"wealth": 0.1} for c in crowd}
    )
    admin_client.get(reverse("admin:ledger_event_change", args=[few.pk]))

    one = count_queries(admin_client, reverse("admin:ledger_event_change", args=[few.pk]))
    eight = count_queries(admin_client, reverse("admin:ledger_event_change", args=[many.pk]))
    assert eight == one


def test_unfiltered_list_counts_in_one_statement_at_every_size(admin_client, hero, monkeypatch):
    url = reverse(CHANGELIST)

    def counting_queries():
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url)
        return response, [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]

    small, exact = counting_queries()
    monkeypatch.setattr(ledger_admin.EstimatedCountPaginator, "estimate_from", 1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE event")
    large, estimated = counting_queries()

    assert len(exact) == len(estimated) == 1
    assert small.context["cl"].result_count == Event.objects.count()
    # The estimate: the planner's statistics, or the id range of the append-only table.
    assert large.context["cl"].result_count == Event.objects.count()


def test_a_filtered_list_counts_exactly(admin_client, hero, monkeypatch):
    monkeypatch.setattr(ledger_admin.EstimatedCountPaginator, "estimate_from", 1)

    response = admin_client.get(reverse(CHANGELIST), {"character": hero.pk})

    assert response.context["cl"].result_count == len(
        set(Event.objects.filter(deltas__character=hero).values_list("pk", flat=True))
    )


def test_paginator_counts_exactly_below_the_threshold_or_without_statistics(hero):
    paginator = ledger_admin.EstimatedCountPaginator(Event.objects.order_by("-id"), 100)
    assert paginator.count == Event.objects.count()
