"""apply_event's idempotency keys: a retry returns the original, another request conflicts."""

import pytest

from ledger import services
from ledger.exceptions import IdempotencyConflict
from ledger.services import apply_event
from tests.conftest import table_state
from tests.ledger.scores import scores_of

pytestmark = pytest.mark.usefixtures("synced")


def test_retry_with_same_idempotency_key_returns_the_original_event(hero):
    kwargs = {
        "world_id": "alpha",
        "event_type": "loot_found",
        "deltas": {hero.pk: {"wealth": 0.1}},
        "metadata": {"source": "chest"},
        "idempotency_key": "req-1",
    }
    original = apply_event(**kwargs)
    before = table_state()

    retried = apply_event(**kwargs)

    assert retried.pk == original.pk
    assert table_state() == before
    assert scores_of(hero)["wealth"] == 0.5


@pytest.mark.parametrize(
    "change",
    [
        {"deltas": {"wealth": 0.2}},
        {"event_type": "taxes_paid"},
        {"metadata": {"source": "other"}},
    ],
    ids=["other delta", "other type", "other metadata"],
)
def test_reusing_an_idempotency_key_for_another_request_is_a_conflict(hero, change):
    kwargs = {
        "world_id": "alpha",
        "event_type": "loot_found",
        "deltas": {hero.pk: {"wealth": 0.1}},
        "metadata": {"source": "chest"},
        "idempotency_key": "req-1",
    }
    original = apply_event(**kwargs)
    before = table_state()
    if "deltas" in change:
        change = {"deltas": {hero.pk: change["deltas"]}}

    with pytest.raises(IdempotencyConflict) as excinfo:
        apply_event(**{**kwargs, **change})

    assert str(excinfo.value) == services.APPLY_EVENT_IDEMPOTENCY_CONFLICT.format(
        key="req-1", event_id=original.pk
    )
    assert table_state() == before


def test_idempotency_keys_are_scoped_to_their_world(hero, foreigner):
    apply_event(
        world_id="alpha", event_type="t", deltas={hero.pk: {"wealth": 0.1}}, idempotency_key="k"
    )
    other = apply_event(
        world_id="beta", event_type="t", deltas={foreigner.pk: {"wealth": 0.1}}, idempotency_key="k"
    )
    assert other.world_id == "beta"
