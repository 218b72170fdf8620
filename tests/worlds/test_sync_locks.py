"""A sync does not hold up, nor deadlock with, ledger writes in its world (PostgreSQL).

Found in review: the sync locked the world row FOR UPDATE, which conflicts with the
FOR KEY SHARE each ledger insert takes on it when its foreign keys are checked at COMMIT:
every event of the world waited for the whole sync, and a drift chunk could deadlock
with it. The sync now takes FOR NO KEY UPDATE.
"""

import threading
import time

import pytest
from django.db import connection

from ledger.services import apply_event
from tests.factories import CharacterFactory
from worlds.services import sync, sync_world_policies

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_an_event_commits_while_a_sync_holds_its_world(synced, worlds_dir, monkeypatch):
    hero = CharacterFactory()
    path = worlds_dir / "alpha" / "policies" / "axes.yaml"
    path.write_text(path.read_text().replace("default: 0.8", "default: 0.7"))
    locked, release = threading.Event(), threading.Event()
    original = sync._carry_out

    def slow_carry_out(*args, **kwargs):
        locked.set()  # the world row is locked by the sync's transaction
        assert release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(sync, "_carry_out", slow_carry_out)

    def syncing():
        try:
            sync_world_policies(world_ids=["alpha"])
        finally:
            connection.close()

    thread = threading.Thread(target=syncing)
    thread.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"luck": 0.1}})
        waited = time.monotonic() - started
    finally:
        release.set()
        thread.join(10)

    assert waited < 1.0
