"""Property-based tests: random event sequences keep the ledger's invariants."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axes.models import CharacterAxisScore
from axes.registry import get_world_registry
from ledger.exceptions import LedgerError
from ledger.services import apply_event
from ledger.verification import verify_ledger
from worlds.models import World
from worlds.services import create_character, sync_world_policies

pytestmark = pytest.mark.usefixtures("synced")

AXES = ["wealth", "health", "luck"]

deltas = st.one_of(
    st.floats(min_value=-1e-9, max_value=1e-9, allow_nan=False),  # tiny
    st.floats(min_value=-2.0, max_value=2.0, allow_nan=False),
    st.floats(min_value=-1e300, max_value=1e300, allow_nan=False),  # huge
    st.sampled_from([0.0, -0.0, 0.1, -0.1, 1.0, -1.0]),
)
events = st.lists(
    st.tuples(
        st.dictionaries(
            st.integers(min_value=0, max_value=2),
            st.dictionaries(st.sampled_from(AXES), deltas, min_size=1),
            min_size=1,
        ),
        st.one_of(st.none(), st.sampled_from(["k1", "k2", "k3"])),  # idempotency keys
    ),
    min_size=1,
    max_size=12,
)


class Rollback(Exception):
    """Undo one Hypothesis example's writes."""


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(events=events, initial=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_random_event_sequences_keep_the_ledger_invariants(events, initial):
    try:
        with transaction.atomic():
            characters = [
                create_character(world_id="alpha", name=f"c{i}", scores={"wealth": score})
                for i, score in enumerate(initial)
            ]
            used_keys = {}
            for raw_deltas, key in events:
                request = {characters[i].pk: axes for i, axes in raw_deltas.items()}
                try:
                    event = apply_event(
                        world_id="alpha", event_type="tick", deltas=request, idempotency_key=key
                    )
                except LedgerError as exc:
                    # Only a key reused with another payload may be refused.
                    assert exc.code == "idempotency_conflict"
                    assert key in used_keys and used_keys[key][1] != request
                    continue
                if key is None:
                    continue
                if key in used_keys:
                    assert event.pk == used_keys[key][0]  # a retry returns the original
                used_keys.setdefault(key, (event.pk, request))

            result = verify_ledger()  # folding the ledger gives the score table, chains hold
            assert result.clean, [str(d) for d in result.discrepancies]
            scores = list(CharacterAxisScore.objects.values_list("axis_score", flat=True))
            assert all(0.0 <= score <= 1.0 for score in scores)
            with CaptureQueriesContext(connection) as ctx:
                assert not sync_world_policies().changed  # a second sync is a no-op
            assert not [q for q in ctx.captured_queries if q["sql"].startswith("INSERT")]
            raise Rollback
    except Rollback:
        pass


@settings(max_examples=200, deadline=None)
@given(scores=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=2))
def test_labels_are_total_and_monotonic_in_the_score(scores):
    registry = get_world_registry(World.objects.get(pk="alpha"))
    wealth = registry.by_name["wealth"]
    low, high = sorted(scores)

    low_label, high_label = wealth.label_for(low), wealth.label_for(high)

    assert low_label in wealth.labels and high_label in wealth.labels
    assert wealth.labels.index(low_label) <= wealth.labels.index(high_label)
