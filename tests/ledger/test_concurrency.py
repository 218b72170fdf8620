"""Concurrent writers on PostgreSQL, where row locks are real (SQLite serialises whole
transactions, so the same test proves nothing there)."""

import random
import threading
import time

import psycopg
import pytest
from django.db import connection

from axes.models import CharacterAxisScore
from axes.scoring import apply_delta
from ledger.models import EventEntityAxisDelta
from ledger.services import apply_event
from tests.factories import CharacterFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 4
EVENTS_PER_THREAD = 25


def run_threads(target, count):
    errors = []

    def wrapper(index):
        try:
            target(index)
        except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapper, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []


def assert_chain_folds_to_score(character, axis_name, start):
    chain = list(
        EventEntityAxisDelta.objects.filter(character=character, axis__name=axis_name)
        .order_by("event_id")
        .values_list("old_score", "new_score", "requested_delta")
    )
    score = 0.0
    for index, (old, new, requested) in enumerate(chain):
        assert old == score, f"broken chain at link {index}"
        expected_new, _ = apply_delta(old, requested)
        assert new == expected_new
        score = new
    assert chain[0][1] == start
    stored = CharacterAxisScore.objects.get(character=character, axis__name=axis_name)
    assert stored.axis_score == score
    return chain


def test_threads_on_one_character_serialise_without_lost_updates(synced):
    hero = CharacterFactory(scores={"wealth": 0.5})
    requested = {}

    def worker(index):
        rng = random.Random(index)
        requested[index] = [rng.choice([0.07, -0.05, 0.3, -0.4]) for _ in range(EVENTS_PER_THREAD)]
        for delta in requested[index]:
            apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": delta}})

    run_threads(worker, THREADS)

    chain = assert_chain_folds_to_score(hero, "wealth", start=0.5)
    assert len(chain) == 1 + THREADS * EVENTS_PER_THREAD
    assert sorted(r for _, _, r in chain[1:]) == sorted(
        d for deltas in requested.values() for d in deltas
    )


def test_multi_character_events_in_opposite_orders_do_not_deadlock(synced):
    first = CharacterFactory(scores={"wealth": 0.5})
    second = CharacterFactory(scores={"wealth": 0.5})

    def worker(index):
        for _ in range(EVENTS_PER_THREAD):
            pair = [first, second] if index % 2 else [second, first]
            deltas = {pair[0].pk: {"wealth": 0.05}, pair[1].pk: {"wealth": -0.05, "health": 0.01}}
            apply_event(world_id="alpha", event_type="trade", deltas=deltas)

    run_threads(worker, THREADS)

    for character in (first, second):
        chain = assert_chain_folds_to_score(character, "wealth", start=0.5)
        assert len(chain) == 1 + THREADS * EVENTS_PER_THREAD
        character.refresh_from_db()
        assert character.state_seed == THREADS * EVENTS_PER_THREAD


def test_apply_event_locks_each_character_before_its_scores(synced):
    """One statement locks the characters and their scores; it must take a character
    before its scores, as every writer does. Here another transaction holds only a
    score row: apply_event, waiting for it, must already hold the character (so a writer
    that takes characters first queues behind it instead of deadlocking with it)."""
    hero = CharacterFactory(scores={"wealth": 0.5})
    # The first score row the statement meets: held, it stops the writer at once.
    score_id = CharacterAxisScore.objects.filter(character=hero).order_by("pk")[0].pk
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    with psycopg.connect(url) as holder, psycopg.connect(url) as probe:
        holder.execute(
            "SELECT id FROM character_axis_score WHERE id = %s FOR NO KEY UPDATE", [score_id]
        )
        errors = []

        def write():
            try:
                apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
            except Exception as exc:  # noqa: BLE001  (reported by the assertion below)
                errors.append(exc)
            finally:
                connection.close()

        writer = threading.Thread(target=write)
        writer.start()
        held = False
        deadline = time.monotonic() + 30
        while not held and time.monotonic() < deadline:
            try:
                probe.execute(
                    "SELECT id FROM characters WHERE id = %s FOR NO KEY UPDATE NOWAIT", [hero.pk]
                )
                time.sleep(0.05)  # the writer has not locked the character yet
            except psycopg.errors.LockNotAvailable:
                held = True
            probe.rollback()
        holder.rollback()
        writer.join(timeout=60)

    assert held
    assert errors == []
    assert CharacterAxisScore.objects.get(character=hero, axis__name="wealth").axis_score == 0.6
