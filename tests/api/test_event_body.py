"""The write API builds an event's answer without DRF's fields: the same body as
``EventSerializer``'s, for every shape of event."""

from datetime import UTC, datetime

import pytest

from ledger.provenance import Actor
from ledger.serializers import EventSerializer
from ledger.services import apply_event, reverse_event
from ledger.views import event_body
from tests.factories import CharacterFactory


def serializer_body(event) -> dict:
    from ledger.selectors import serialize_event

    return dict(EventSerializer(serialize_event(event)).data)


@pytest.fixture
def party(synced):
    return [CharacterFactory(name=name, scores={"wealth": 0.995}) for name in ("a", "b")]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"metadata": {"zone": "north", "quest": "q1"}, "idempotency_key": "k-1"},
        {"occurred_at": datetime(519, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)},
        {"actor": Actor(name="gm (key abc)", user_id=None, key="abc"), "source": "api"},
    ],
    ids=["plain", "metadata and key", "an old game time", "an API key's actor"],
)
def test_the_body_is_the_serializers(party, kwargs):
    event = apply_event(
        world_id="alpha",
        event_type="trade",
        deltas={
            party[0].pk: {"wealth": 0.01, "health": -0.2, "luck": 0.1},
            party[1].pk: {"wealth": -0.3},
        },
        **kwargs,
    )

    body = event_body(event)

    assert body == serializer_body(event)
    assert any(d["delta"] != d["requested_delta"] for d in body["deltas"])  # clamped
    assert any(d["new_label"] is None for d in body["deltas"])  # a numeric axis


@pytest.mark.django_db
def test_a_replay_and_a_reversal_have_the_serializers_body(party):
    kwargs = {"world_id": "alpha", "event_type": "trade", "idempotency_key": "once"}
    first = apply_event(deltas={party[0].pk: {"wealth": 0.001}}, **kwargs)
    replay = apply_event(deltas={party[0].pk: {"wealth": 0.001}}, **kwargs)
    reversal = reverse_event(event_id=first.pk, reason="a test")

    for event in (replay, reversal):
        assert event_body(event) == serializer_body(event)
    assert event_body(reversal)["reverses"] == first.pk
