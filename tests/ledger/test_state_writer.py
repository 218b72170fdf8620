"""Character state has one writer: every score and snapshot write passes through its module."""

import re
import traceback
from pathlib import Path

import pytest
from django.db import connection

from ledger.generator import generate_ledger
from ledger.services import apply_event, apply_events, rebuild_scores, refresh_snapshots
from tests.factories import CharacterFactory
from worlds.models import World
from worlds.services import sync_world_policies

STATE_MODULE = str(Path("ledger") / "services" / "state.py")
# Writes of score rows, and updates of a character's row (its snapshot columns; nothing
# else of a character is ever updated), alone or in a data-modifying CTE. Creating the
# character row itself is not one.
STATE_WRITE = re.compile(
    r'^\s*(WITH\s.*)?((INSERT\s+INTO|UPDATE)\s+"?character_axis_score"?|UPDATE\s+"?characters"?\s)',
    re.IGNORECASE | re.DOTALL,
)


@pytest.fixture
def state_writes():
    """Record the Python callers of every SQL statement that writes character state."""
    writes: list[tuple[str, bool]] = []

    def spy(execute, sql, params, many, context):
        if STATE_WRITE.match(sql):
            files = [frame.filename for frame in traceback.extract_stack()]
            writes.append((sql.split()[0:3], any(f.endswith(STATE_MODULE) for f in files)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        yield writes


@pytest.mark.django_db(transaction=True)
def test_every_score_and_snapshot_write_goes_through_the_state_module(
    synced, worlds_dir, state_writes
):
    hero = CharacterFactory(scores={"wealth": 0.3})
    other = CharacterFactory()
    apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.2}})
    apply_events(
        world_id="alpha",
        events=[
            {"event_type": "tick", "deltas": {c.pk: {"health": -0.01}}}
            for c in [hero, other] * 15  # enough rows for the bulk statements
        ],
    )
    axes = worlds_dir / "alpha" / "policies" / "axes.yaml"
    axes.write_text(axes.read_text() + "  charm:\n    ordering:\n      type: numeric\n")
    sync_world_policies()  # backfills charm and re-derives every snapshot
    refresh_snapshots(world=World.objects.get(pk="alpha"))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE character_axis_score SET axis_score = 0.99")  # a hand edit
    tampered = state_writes.pop()
    rebuild_scores()
    generate_ledger(world_id="alpha", characters=3, events=30)
    generate_ledger(world_id="alpha", characters=0, events=30, existing=True)

    assert tampered == (["UPDATE", "character_axis_score", "SET"], False)  # the spy sees others
    assert len(state_writes) >= 10
    outside = [sql for sql, through_state in state_writes if not through_state]
    assert outside == []
