"""One character's whole history as JSON Lines: API and admin button, streamed."""

import json
import tracemalloc

from ledger.export import history_lines
from ledger.generator import generate_ledger
from ledger.models import EventEntityAxisDelta
from ledger.services import apply_event
from tests.factories import CharacterFactory
from worlds.models import Character

URL = "/admin/characters/{character_id}/history.jsonl"


def lines(response) -> list[dict]:
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def test_the_export_streams_every_event_of_the_character_oldest_first(staff_client, hero):
    other = CharacterFactory()
    apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}})
    apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={hero.pk: {"wealth": -0.1}, other.pk: {"wealth": 0.1}},
    )

    response = staff_client.get(URL.format(character_id=hero.pk))

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson"
    assert f'filename="character-{hero.pk}-history.jsonl"' in response["Content-Disposition"]
    events = lines(response)
    assert [e["event_type"] for e in events] == ["character_created", "loot", "trade"]
    assert [e["event_id"] for e in events] == sorted(e["event_id"] for e in events)
    assert {d["character_id"] for e in events for d in e["deltas"]} == {hero.pk}


def test_the_export_refuses_unknown_characters_and_readers_without_permission(
    staff_client, bare_staff_client, hero
):
    assert staff_client.get(URL.format(character_id=999999)).status_code == 404
    assert bare_staff_client.get(URL.format(character_id=hero.pk)).status_code == 403


def test_the_character_page_links_to_the_export(admin_client, hero):
    page = admin_client.get(f"/admin/worlds/character/{hero.pk}/change/").content.decode()

    assert f'href="{URL.format(character_id=hero.pk)}" id="export-history"' in page


def peak_memory(character: Character) -> int:
    tracemalloc.start()
    count = sum(1 for _ in history_lines(character, chunk=100))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (
        count
        == EventEntityAxisDelta.objects.filter(character=character)
        .values("event_id")
        .distinct()
        .count()
    )
    return peak


def test_memory_stays_flat_as_the_history_grows(synced):
    generate_ledger(world_id="alpha", characters=2, events=300, seed=1)
    character = Character.objects.filter(world_id="alpha").earliest("pk")
    short = peak_memory(character)

    generate_ledger(world_id="alpha", characters=0, events=2700, seed=2, existing=True)

    assert peak_memory(character) < 1.5 * short
