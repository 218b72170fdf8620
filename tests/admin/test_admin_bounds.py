"""Bounded admin pages and actions: a wide event's page, many characters, many event types."""

import pytest
from django.contrib.admin import helpers
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from ledger import admin as ledger_admin
from ledger.generator import generate_ledger
from ledger.models import Event, EventType
from ledger.services import record_system_event
from ledger.services.validation import AXES_ADDED
from tests.admin.conftest import messages_of
from tests.conftest import table_state
from tests.factories import CharacterFactory
from worlds.admin import characters as character_admin
from worlds.models import Character, World

AXES = ("health", "luck", "wealth")


def wide_event(characters: int) -> Event:
    """Return a system event of world alpha touching ``characters`` new characters."""
    generate_ledger(world_id="alpha", characters=characters, events=characters)
    ids = Character.objects.filter(world="alpha").order_by("pk").values_list("pk", flat=True)
    deltas = {pk: dict.fromkeys(AXES, 0.001) for pk in ids[:characters]}
    return record_system_event(world_id="alpha", event_type=AXES_ADDED, deltas=deltas)


def delta_forms(response):
    formsets = {f.opts.model._meta.model_name: f for f in response.context["inline_admin_formsets"]}
    return formsets["evententityaxisdelta"].formset


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(ledger_admin.DeltaPageFormSet, "per_page", 50)


def test_a_wide_event_page_shows_one_page_of_deltas_with_links(admin_client, synced, small_pages):
    event = wide_event(700)  # 2,100 deltas
    url = reverse("admin:ledger_event_change", args=[event.pk])

    first = admin_client.get(url)
    third = admin_client.get(url, {"deltas_page": 3})

    assert first.status_code == third.status_code == 200
    assert len(delta_forms(first).forms) == len(delta_forms(third).forms) == 50
    html = third.content.decode()
    assert "Deltas 101–150 of 2100, 50 a page" in html
    assert 'href="?deltas_page=4"' in html and 'href="?deltas_page=42"' in html
    rows = [form.instance.pk for form in delta_forms(third).forms]
    assert rows == list(
        event.deltas.order_by("character_id", "axis__name").values_list("pk", flat=True)[100:150]
    )


@pytest.mark.parametrize(("page", "shown"), [("abc", 1), ("2.5", 1), ("0", 42), ("99999", 42)])
def test_a_bad_delta_page_number_shows_the_first_or_last_page(
    admin_client, synced, small_pages, page, shown
):
    event = wide_event(700)

    response = admin_client.get(
        reverse("admin:ledger_event_change", args=[event.pk]), {"deltas_page": page}
    )

    assert response.status_code == 200
    assert delta_forms(response).delta_page.number == shown


def test_a_wide_event_page_runs_the_queries_of_a_narrow_one(admin_client, synced, small_pages):
    narrow = wide_event(2)
    wide = wide_event(698)  # 2,094 deltas

    def queries(event) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = admin_client.get(reverse("admin:ledger_event_change", args=[event.pk]))
        assert response.status_code == 200
        return len(captured)

    assert queries(wide) == queries(narrow)


def test_the_character_page_shows_only_that_characters_deltas_of_a_wide_event(admin_client, synced):
    event = wide_event(400)
    character = event.deltas.order_by("character_id").first().character

    response = admin_client.get(reverse("admin:worlds_character_change", args=[character.pk]))

    assert response.status_code == 200
    shown = next(
        row for row in response.context["inspector"]["events"] if row["event_id"] == event.pk
    )
    assert {delta["character_id"] for delta in shown["deltas"]} == {character.pk}
    assert len(shown["deltas"]) == len(AXES)


# Actions over many characters -----------------------------------------------------------


def run_action(client, action: str, ids: list[int], *, across: bool = False):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in ids], "index": 0}
    if across:
        data["select_across"] = "1"
    return client.post(reverse("admin:worlds_character_changelist"), data, follow=True)


@pytest.mark.parametrize("action", ["verify_ledgers", "refresh_snapshots"])
def test_an_action_runs_on_the_most_characters_and_refuses_one_more(admin_client, synced, action):
    limit = character_admin.MAX_ACTION_CHARACTERS
    generate_ledger(world_id="alpha", characters=limit + 1, events=limit + 1)
    ids = list(Character.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == limit + 1

    done = run_action(admin_client, action, ids[:limit])
    if action == "verify_ledgers":
        assert sum("no discrepancies" in m for m in messages_of(done)) == limit
    else:
        assert messages_of(done) == [f"Snapshot refreshed for {limit} character(s)."]
    before = table_state()

    for refused in (
        run_action(admin_client, action, ids),
        run_action(admin_client, action, ids[:1], across=True),
    ):
        messages = messages_of(refused)
        assert len(messages) == 1
        assert messages[0].startswith(f"More than {limit} characters are selected")
        command = "verify_ledger" if action == "verify_ledgers" else "refresh_snapshots"
        assert f"manage.py {command} <world_id>" in messages[0]
    assert table_state() == before


# The event type filter ------------------------------------------------------------------


def test_the_event_list_does_not_grow_with_the_event_types(admin_client, synced):
    url = reverse("admin:ledger_event_changelist")
    few = admin_client.get(url)
    few_queries = CaptureQueriesContext(connection)
    with few_queries:
        admin_client.get(url)

    alpha = World.objects.get(pk="alpha")
    EventType.objects.bulk_create(EventType(world=alpha, name=f"type_{i:04}") for i in range(5000))
    many_queries = CaptureQueriesContext(connection)
    with many_queries:
        many = admin_client.get(url)

    assert many.status_code == 200
    assert len(many.content) == len(few.content)
    assert len(many_queries) == len(few_queries)
    assert "type_0001" not in many.content.decode()


def test_the_type_filter_shows_the_selected_type_and_a_box_for_another(admin_client, synced):
    url = reverse("admin:ledger_event_changelist")

    response = admin_client.get(
        url, {"type": "loot_found", "world__world_id__exact": "alpha", "q": "x"}
    )

    spec = next(s for s in response.context["cl"].filter_specs if s.title == "event type")
    assert spec.lookup_choices == [("loot_found", "loot_found")]
    html = response.content.decode()
    assert 'id="event-type-filter"' in html
    assert 'name="type" value="loot_found"' in html
    assert '<input type="hidden" name="world__world_id__exact" value="alpha">' in html
    assert '<input type="hidden" name="q" value="x">' in html


def test_the_event_types_page_links_each_type_to_its_events(admin_client, synced):
    CharacterFactory()  # a character_created event: the type exists
    response = admin_client.get(reverse("admin:ledger_eventtype_changelist"))

    assert response.status_code == 200
    assert "?type=character_created&amp;world__world_id__exact=alpha" in response.content.decode()
