"""apply_event's refusals: each names its code and field, and leaves every table as it was."""

import math
import re

import pytest

from ledger import services
from ledger.exceptions import LedgerError
from ledger.services import apply_event
from tests.conftest import table_state

pytestmark = pytest.mark.usefixtures("synced")


REJECTIONS = [
    # (description, kwargs builder, code, field, message); a field or message that names
    # a character is a builder of (hero, foreigner) too.
    (
        "unknown world",
        lambda h, f: {"world_id": "nowhere", "deltas": {h.pk: {"wealth": 0.1}}},
        "unknown_world",
        "world_id",
        services.APPLY_EVENT_UNKNOWN_WORLD.format(world_id="nowhere"),
    ),
    (
        "unknown axis",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1, "charisma": 0.1}}},
        "unknown_axis",
        lambda h, f: f"deltas.{h.pk}.charisma",
        services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="charisma", world_id="alpha"),
    ),
    (
        "axis of another world",
        lambda h, f: {"deltas": {h.pk: {"morale": 0.1}}},
        "unknown_axis",
        lambda h, f: f"deltas.{h.pk}.morale",
        services.APPLY_EVENT_UNKNOWN_AXIS.format(axis="morale", world_id="alpha"),
    ),
    (
        "unknown character",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}, 999999: {"wealth": 0.1}}},
        "unknown_character",
        "deltas.999999",
        services.APPLY_EVENT_UNKNOWN_CHARACTER.format(character_id=999999),
    ),
    (
        "character of another world",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}, f.pk: {"wealth": 0.1}}},
        "foreign_character",
        lambda h, f: f"deltas.{f.pk}",
        lambda h, f: services.APPLY_EVENT_FOREIGN_CHARACTER.format(
            character_id=f.pk, other="beta", world_id="alpha"
        ),
    ),
    (
        "nan delta",
        lambda h, f: {"deltas": {h.pk: {"wealth": math.nan}}},
        "invalid",
        lambda h, f: f"deltas.{h.pk}.wealth",
        services.APPLY_EVENT_BAD_DELTA.format(axis="wealth", value=math.nan),
    ),
    (
        "infinite delta",
        lambda h, f: {"deltas": {h.pk: {"wealth": math.inf}}},
        "invalid",
        lambda h, f: f"deltas.{h.pk}.wealth",
        services.APPLY_EVENT_BAD_DELTA.format(axis="wealth", value=math.inf),
    ),
    (
        "string delta",
        lambda h, f: {"deltas": {h.pk: {"wealth": "0.1"}}},
        "invalid",
        lambda h, f: f"deltas.{h.pk}.wealth",
        services.APPLY_EVENT_BAD_DELTA.format(axis="wealth", value="0.1"),
    ),
    (
        "bool delta",
        lambda h, f: {"deltas": {h.pk: {"wealth": True}}},
        "invalid",
        lambda h, f: f"deltas.{h.pk}.wealth",
        services.APPLY_EVENT_BAD_DELTA.format(axis="wealth", value=True),
    ),
    (
        "no deltas",
        lambda h, f: {"deltas": {}},
        "invalid",
        "deltas",
        services.APPLY_EVENT_NO_DELTAS,
    ),
    (
        "empty axes",
        lambda h, f: {"deltas": {h.pk: {}}},
        "invalid",
        "deltas",
        services.APPLY_EVENT_NO_DELTAS,
    ),
    (
        "deltas not a mapping",
        lambda h, f: {"deltas": [h.pk]},
        "invalid",
        "deltas",
        services.APPLY_EVENT_DELTAS_NOT_MAPPING.format(kind="list"),
    ),
    (
        "string character id",
        lambda h, f: {"deltas": {str(h.pk): {"wealth": 0.1}}},
        "invalid",
        "deltas",
        lambda h, f: services.APPLY_EVENT_BAD_CHARACTER_ID.format(value=str(h.pk)),
    ),
    (
        "bad event type",
        lambda h, f: {"event_type": "", "deltas": {h.pk: {"wealth": 0.1}}},
        "invalid",
        "event_type",
        services.APPLY_EVENT_BAD_EVENT_TYPE.format(value=""),
    ),
    (
        "reserved event type",
        lambda h, f: {"event_type": "character_created", "deltas": {h.pk: {"wealth": 0.1}}},
        "reserved_event_type",
        "event_type",
        services.APPLY_EVENT_RESERVED_EVENT_TYPE.format(value="character_created"),
    ),
    (
        "metadata value not a string",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}}, "metadata": {"n": 1}},
        "invalid",
        "metadata.n",
        services.APPLY_EVENT_BAD_METADATA_VALUE.format(key="n", kind="int"),
    ),
    (
        "metadata value too long",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}}, "metadata": {"n": "x" * 1001}},
        "invalid",
        "metadata.n",
        services.APPLY_EVENT_BAD_METADATA_VALUE.format(key="n", kind="1001 characters"),
    ),
    (
        "metadata key too long",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}}, "metadata": {"k" * 101: "v"}},
        "invalid",
        "metadata",
        services.APPLY_EVENT_BAD_METADATA_KEY.format(value="k" * 101),
    ),
    (
        "too much metadata",
        lambda h, f: {
            "deltas": {h.pk: {"wealth": 0.1}},
            "metadata": {f"k{i}": "v" for i in range(51)},
        },
        "invalid",
        "metadata",
        services.APPLY_EVENT_TOO_MUCH_METADATA,
    ),
    (
        "empty idempotency key",
        lambda h, f: {"deltas": {h.pk: {"wealth": 0.1}}, "idempotency_key": ""},
        "invalid",
        "idempotency_key",
        services.APPLY_EVENT_BAD_IDEMPOTENCY_KEY,
    ),
]


@pytest.mark.parametrize(
    "build, code, field, message", [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS]
)
def test_apply_event_rejection_writes_nothing(hero, foreigner, build, code, field, message):
    kwargs = {"world_id": "alpha", "event_type": "loot_found", **build(hero, foreigner)}
    before = table_state()

    with pytest.raises(LedgerError) as excinfo:
        apply_event(**kwargs)

    def expected(value):
        return value(hero, foreigner) if callable(value) else value

    assert excinfo.value.code == code
    assert excinfo.value.field == expected(field)
    assert str(excinfo.value) == expected(message)
    assert table_state() == before


def test_apply_event_rejects_a_character_of_another_world_naming_both_worlds(hero, foreigner):
    message = services.APPLY_EVENT_FOREIGN_CHARACTER.format(
        character_id=foreigner.pk, other="beta", world_id="alpha"
    )
    with pytest.raises(LedgerError, match=re.escape(message)):
        apply_event(world_id="alpha", event_type="trade", deltas={foreigner.pk: {"wealth": 0.1}})


@pytest.mark.parametrize("event_type", ["tick\n", "tick\r\n", "\ntick"])
def test_an_event_type_with_a_line_break_is_refused(hero, event_type):
    before = table_state()

    with pytest.raises(LedgerError) as excinfo:
        apply_event(world_id="alpha", event_type=event_type, deltas={hero.pk: {"wealth": 0.1}})

    assert (excinfo.value.code, excinfo.value.field, excinfo.value.message) == (
        "invalid",
        "event_type",
        services.APPLY_EVENT_BAD_EVENT_TYPE.format(value=event_type),
    )
    assert table_state() == before
