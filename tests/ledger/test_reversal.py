"""Corrections: a reversal undoes what its original applied, once, and never edits it."""

import pytest
from django.db import connection

from ledger.exceptions import LedgerError
from ledger.models import EventEntityAxisDelta, Source
from ledger.provenance import Actor
from ledger.services import apply_event, reverse_event, validation
from ledger.verification import verify_ledger
from tests.conftest import table_state
from tests.factories import CharacterFactory
from tests.guard import ledger_maintenance
from tests.ledger.scores import scores_of

pytestmark = pytest.mark.usefixtures("synced")

GM = Actor(name="gm-mira", user_id=7)


def score(character, axis: str) -> float:
    return scores_of(character)[axis]


def applied(event) -> dict[tuple[int, str], tuple[float, float]]:
    return {
        (row.character_id, row.axis.name): (row.delta, row.requested_delta)
        for row in EventEntityAxisDelta.objects.filter(event=event).select_related("axis")
    }


def test_a_reversal_undoes_the_applied_deltas_of_every_character_and_axis(hero):
    partner = CharacterFactory(scores={"wealth": 0.95})
    original = apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={hero.pk: {"wealth": 0.3, "luck": -0.1}, partner.pk: {"wealth": 0.2}},
    )
    before = applied(original)

    reversal = reverse_event(
        event_id=original.pk, reason="duplicate trade", actor=GM, source=Source.ADMIN
    )

    assert reversal.reverses_id == original.pk
    assert reversal.recorded.event_type == "reversal"
    assert reversal.recorded.metadata == {"reason": "duplicate trade"}
    assert (reversal.actor_name, reversal.actor_user_id, reversal.source) == ("gm-mira", 7, "admin")
    # The partner was clamped at 1.0: +0.05 applied, so the reversal takes back 0.05.
    assert before[(partner.pk, "wealth")] == (0.05, 0.2)
    assert applied(reversal) == {
        (hero.pk, "wealth"): (-0.3, -0.3),
        (hero.pk, "luck"): (0.1, 0.1),
        (partner.pk, "wealth"): (-0.05, -0.05),
    }
    assert score(hero, "wealth") == 0.4
    assert score(partner, "wealth") == 0.95
    assert applied(original) == before  # the original row is untouched
    assert verify_ledger().clean


def test_a_reversal_is_clamped_like_any_delta_and_keeps_the_requested_delta(hero):
    original = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.5}})
    apply_event(world_id="alpha", event_type="theft", deltas={hero.pk: {"wealth": -0.9}})

    reversal = reverse_event(event_id=original.pk, reason="loot was a bug", actor=GM)

    assert applied(reversal) == {(hero.pk, "wealth"): (0.0, -0.5)}  # already at 0.0
    assert verify_ledger().clean


def test_an_event_is_reversed_at_most_once(hero):
    original = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}})
    reversal = reverse_event(event_id=original.pk, reason="first", actor=GM)
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        reverse_event(event_id=original.pk, reason="second", actor=GM)

    assert refused.value.code == "already_reversed"
    assert str(reversal.pk) in refused.value.message
    assert table_state() == before


def test_the_database_refuses_a_second_reversal_row_too(hero):
    original = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}})
    reversal = reverse_event(event_id=original.pk, reason="first", actor=GM)

    with pytest.raises(Exception, match="(?i)unique"), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO event (world_id, event_type_id, timestamp, request_hash, reverses_id) "
            "SELECT world_id, event_type_id, timestamp, 'x', reverses_id FROM event WHERE id = %s",
            [reversal.pk],
        )


def test_a_reversal_cannot_be_reversed(hero):
    original = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}})
    reversal = reverse_event(event_id=original.pk, reason="oops", actor=GM)
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        reverse_event(event_id=reversal.pk, reason="undo the undo", actor=GM)

    assert refused.value.code == "not_reversible"
    assert table_state() == before


def test_an_event_on_a_now_retired_axis_cannot_be_reversed(hero, worlds_dir):
    from tests.api.conftest import retire_axis

    original = apply_event(world_id="alpha", event_type="luck", deltas={hero.pk: {"luck": 0.1}})
    retire_axis(worlds_dir, "alpha", "luck")
    before = table_state()

    with pytest.raises(LedgerError) as refused:
        reverse_event(event_id=original.pk, reason="too late", actor=GM)

    assert refused.value.code == "retired_axis"
    assert "'luck'" in refused.value.message and "retired" in refused.value.message
    assert table_state() == before


def test_a_retried_reversal_with_its_key_returns_the_reversal(hero):
    original = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}})
    first = reverse_event(event_id=original.pk, reason="oops", idempotency_key="rev-1", actor=GM)
    before = table_state()

    retry = reverse_event(event_id=original.pk, reason="oops", idempotency_key="rev-1", actor=GM)

    assert (retry.pk, retry.replayed, first.replayed) == (first.pk, True, False)
    assert table_state() == before


@pytest.mark.parametrize("reason", ["", None, "x" * 1001, 42])
def test_a_reversal_needs_a_reason(hero, reason):
    original = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}})

    with pytest.raises(LedgerError) as refused:
        reverse_event(event_id=original.pk, reason=reason, actor=GM)

    assert (refused.value.code, refused.value.field) == ("invalid", "reason")


def test_an_unknown_event_cannot_be_reversed(db):
    with pytest.raises(LedgerError) as refused:
        reverse_event(event_id=10**9, reason="?", actor=GM)

    assert refused.value.code == "unknown_event"


def test_clients_may_not_write_the_reserved_types(hero):
    for reserved in ("reversal", "drift"):
        with pytest.raises(LedgerError) as refused:
            apply_event(world_id="alpha", event_type=reserved, deltas={hero.pk: {"wealth": 0.1}})
        assert refused.value.code == "reserved_event_type"


def test_verify_ledger_reports_a_reversal_that_does_not_undo_its_original(hero):
    original = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.2}})
    reversal = reverse_event(event_id=original.pk, reason="oops", actor=GM)
    other = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.1}})
    with ledger_maintenance(), connection.cursor() as cursor:
        # Point the reversal at another event: its deltas no longer undo that one.
        cursor.execute("UPDATE event SET reverses_id = %s WHERE id = %s", [other.pk, reversal.pk])

    found = [d for d in verify_ledger().discrepancies if d.check == "reversal"]

    assert [(d.event_id, d.character_id, d.axis, d.expected, d.found) for d in found] == [
        (reversal.pk, hero.pk, "wealth", -0.1, -0.2)
    ]


def test_verify_ledger_reports_a_reversal_across_worlds(hero, foreigner):
    original = apply_event(
        world_id="beta", event_type="tick", deltas={foreigner.pk: {"morale": 0.2}}
    )
    reversal = reverse_event(event_id=original.pk, reason="oops", actor=GM)
    target = apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.2}})
    with ledger_maintenance(), connection.cursor() as cursor:
        cursor.execute("UPDATE event SET reverses_id = %s WHERE id = %s", [target.pk, reversal.pk])

    found = [d for d in verify_ledger().discrepancies if d.check == "reversal"]

    assert [(d.event_id, d.expected, d.found) for d in found] == [
        (reversal.pk, f"event {target.pk} in world beta", "world alpha")
    ]


def test_a_client_event_named_reversal_before_the_name_was_reserved_stays_valid(hero, monkeypatch):
    # A client wrote "reversal" while the name was still free.
    monkeypatch.setattr(validation, "SYSTEM_EVENT_TYPES", frozenset({"character_created"}))
    legacy = apply_event(world_id="alpha", event_type="reversal", deltas={hero.pk: {"wealth": 0.1}})
    monkeypatch.undo()

    assert legacy.reverses_id is None
    assert verify_ledger().clean
    # It is no product reversal: it can itself be reversed.
    fixed = reverse_event(event_id=legacy.pk, reason="client bug", actor=GM)
    assert fixed.reverses_id == legacy.pk
    assert verify_ledger().clean
