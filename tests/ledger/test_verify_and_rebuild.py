import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from axes.models import CharacterAxisScore
from ledger.models import Event, EventEntityAxisDelta, EventMetadata
from ledger.services import apply_event, rebuild_scores
from ledger.verification import Discrepancy, verify_character, verify_ledger
from tests.conftest import table_state
from tests.factories import CharacterFactory
from tests.guard import ledger_maintenance
from worlds.models import Character

pytestmark = pytest.mark.usefixtures("synced")


@pytest.fixture
def cast():
    hero = CharacterFactory(scores={"wealth": 0.5})
    rival = CharacterFactory(scores={"wealth": 0.2})
    outsider = CharacterFactory(world_id="beta")
    for delta in (0.3, 0.4, -0.25):
        apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": delta}})
    apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={hero.pk: {"wealth": -0.1}, rival.pk: {"wealth": 0.1}},
    )
    apply_event(world_id="beta", event_type="tick", deltas={outsider.pk: {"morale": 0.2}})
    return hero, rival, outsider


def tamper(sql, params=()):
    """Edit the ledger the way only someone bypassing the guard could."""
    with ledger_maintenance(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def run(*args):
    out = io.StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=io.StringIO())
    except CommandError as exc:
        return exc.returncode, out.getvalue()
    return 0, out.getvalue()


def test_a_ledger_written_by_the_services_verifies_clean(cast):
    code, out = run()
    result = verify_ledger()

    assert code == 0
    assert result.clean
    assert result.characters == 3
    assert result.deltas == EventEntityAxisDelta.objects.count()
    assert result.events == Event.objects.count()
    assert (result.deltas, result.events, result.scores) == (14, 8, 8)
    assert result.summary() == "replayed 14 deltas in 8 events for 3 characters and 8 scores: clean"
    assert re.fullmatch(re.escape(result.summary()) + r" \(\d+\.\d s\)\n", out)


def test_a_hand_edited_score_is_reported_with_expected_and_found(cast):
    hero = cast[0]
    CharacterAxisScore.objects.filter(character=hero, axis__name="wealth").update(axis_score=0.99)

    code, out = run()

    assert code == 1
    [discrepancy] = [d for d in verify_ledger().discrepancies if d.check == "score"]
    assert (discrepancy.character_id, discrepancy.axis) == (hero.pk, "wealth")
    assert (discrepancy.expected, discrepancy.found) == (0.65, 0.99)
    lines = out.splitlines()
    assert lines[0] == (
        f"score: current state, character {hero.pk} axis wealth: expected 0.65, found 0.99"
    )
    assert lines[1].startswith(f"snapshot: current state, character {hero.pk}: expected {{")
    assert re.fullmatch(
        re.escape("replayed 14 deltas in 8 events for 3 characters and 8 scores: 2 discrepancies")
        + r" \(\d+\.\d s\)",
        lines[2],
    )
    assert len(lines) == 3


def test_a_stale_snapshot_is_reported(cast):
    Character.objects.filter(pk=cast[1].pk).update(current_state_json={"axes": {}})

    checks = [(d.check, d.character_id) for d in verify_ledger().discrepancies]

    assert checks == [("snapshot", cast[1].pk)]


def test_a_forged_delta_breaks_the_chain_and_the_clamp(cast):
    hero = cast[0]
    forged = EventEntityAxisDelta.objects.filter(character=hero, axis__name="wealth").order_by(
        "event_id"
    )[2]
    tamper("UPDATE event_entity_axis_delta SET new_score = 0.33 WHERE id = %s", [forged.pk])

    found = verify_ledger().discrepancies

    next_event = (
        EventEntityAxisDelta.objects.filter(
            character=hero, axis__name="wealth", event_id__gt=forged.event_id
        )
        .order_by("event_id")
        .first()
    )
    assert found == [
        Discrepancy("clamp", hero.pk, "wealth", forged.event_id, 1.0, 0.33),
        Discrepancy("chain", hero.pk, "wealth", next_event.event_id, 0.33, 1.0),
    ]


def test_a_wrong_applied_delta_is_reported(cast):
    row = EventEntityAxisDelta.objects.filter(character=cast[1]).order_by("-event_id").first()
    tamper("UPDATE event_entity_axis_delta SET delta = 0.5 WHERE id = %s", [row.pk])

    assert [d.check for d in verify_ledger().discrepancies] == ["applied_delta"]


def test_a_delta_recorded_in_the_wrong_world_is_reported(cast):
    row = EventEntityAxisDelta.objects.filter(character=cast[0]).order_by("-event_id").first()
    tamper("UPDATE event_entity_axis_delta SET world_id = 'beta' WHERE id = %s", [row.pk])

    assert [d.check for d in verify_ledger().discrepancies] == ["world"]


def test_a_history_that_does_not_start_with_a_system_event_is_reported(cast):
    hero = cast[0]
    genesis = EventEntityAxisDelta.objects.filter(character=hero).order_by("event_id").first()
    tamper("DELETE FROM event_entity_axis_delta WHERE event_id = %s", [genesis.event_id])

    found = verify_ledger(character_id=hero.pk).discrepancies

    first = EventEntityAxisDelta.objects.filter(character=hero).order_by("event_id").first()
    assert found == [
        Discrepancy("genesis", hero.pk, "wealth", first.event_id, "a system event", first.event_id),
        Discrepancy("chain", hero.pk, "wealth", first.event_id, 0.0, 0.5),
        # The other axes lost their only delta: their scores have no ledger behind them.
        Discrepancy("score", hero.pk, "health", None, "a ledger delta", 0.8),
        Discrepancy("score", hero.pk, "luck", None, "a ledger delta", 0.25),
    ]


def test_filters_limit_the_replay_to_a_world_or_a_character(cast):
    hero, rival, outsider = cast
    CharacterAxisScore.objects.filter(character=outsider).update(axis_score=0.0)

    assert verify_ledger(world_ids=["alpha"]).clean
    assert not verify_ledger(world_ids=["beta"]).clean
    assert verify_ledger(character_id=hero.pk).characters == 1
    found = verify_character(outsider)
    assert [(d.check, d.axis) for d in found] == [
        ("score", "morale"),
        ("score", "wealth"),
        ("snapshot", None),
    ]
    assert [(d.expected, d.found) for d in found[:2]] == [(0.7, 0.0), (0.1, 0.0)]
    assert verify_character(hero) == []


def test_verify_ledger_json_output_and_bad_arguments(cast):
    CharacterAxisScore.objects.filter(character=cast[0], axis__name="wealth").update(axis_score=0.1)

    code, out = run("--format", "json", "alpha")

    payload = json.loads(out)
    assert code == 1
    assert payload["clean"] is False
    assert [d["check"] for d in payload["discrepancies"]] == ["score", "snapshot"]
    assert payload["discrepancies"][0] == {
        "check": "score",
        "event_id": None,
        "character_id": cast[0].pk,
        "axis": "wealth",
        "expected": 0.65,
        "found": 0.1,
    }
    with pytest.raises(CommandError, match=re.escape("unknown world(s): gamma")):
        call_command("verify_ledger", "gamma", stdout=io.StringIO())
    with pytest.raises(CommandError, match=re.escape("unknown character 999999")):
        call_command("verify_ledger", "--character", "999999", stdout=io.StringIO())


def ledger_state():
    state = table_state()
    return {t: state[t] for t in ("event", "event_entity_axis_delta", "event_metadata")}


def test_rebuild_scores_repairs_hand_edits_and_never_touches_the_ledger(cast):
    hero, rival, _ = cast
    CharacterAxisScore.objects.filter(character=hero, axis__name="wealth").update(axis_score=0.99)
    CharacterAxisScore.objects.filter(character=rival, axis__name="health").delete()
    Character.objects.filter(pk=rival.pk).update(current_state_json={})
    ledger_before = ledger_state()
    assert not verify_ledger().clean

    result = rebuild_scores()

    assert sorted(result.fixed) == [
        (hero.pk, "wealth", 0.99, 0.65),
        (rival.pk, "health", None, 0.8),
    ]
    assert ledger_state() == ledger_before
    assert verify_ledger().clean
    assert EventMetadata.objects.count() == 0


def test_rebuild_scores_dry_run_writes_nothing(cast):
    CharacterAxisScore.objects.filter(character=cast[0], axis__name="wealth").update(
        axis_score=0.99
    )
    before = table_state()

    out = io.StringIO()
    call_command("rebuild_scores", "--dry-run", stdout=out)

    assert table_state() == before
    assert out.getvalue().splitlines() == [
        f"character {cast[0].pk} wealth: 0.99 -> 0.65",
        "would fix 1 score(s)",
        "dry run: nothing was written",
    ]


def test_rebuild_scores_command_for_one_character(cast):
    hero, rival, _ = cast
    CharacterAxisScore.objects.filter(character__in=[hero, rival]).update(axis_score=0.01)

    out = io.StringIO()
    call_command("rebuild_scores", "--character", str(rival.pk), stdout=out)

    assert verify_ledger(character_id=rival.pk).clean
    assert [(d.check, d.axis) for d in verify_ledger(character_id=hero.pk).discrepancies] == [
        ("score", "health"),
        ("score", "luck"),
        ("score", "wealth"),
        ("snapshot", None),
    ]
    assert out.getvalue().splitlines() == [
        f"character {rival.pk} health: 0.01 -> 0.8",
        f"character {rival.pk} luck: 0.01 -> 0.25",
        f"character {rival.pk} wealth: 0.01 -> 0.3",
        "fixed 3 score(s)",
        "re-derived 1 snapshot(s)",
    ]
