import re

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError

from axes.models import Axis, CharacterAxisScore
from ledger.exceptions import LedgerImmutableError
from ledger.models import LEDGER_IMMUTABLE, Event, EventEntityAxisDelta, EventType
from ledger.services import CHARACTER_CREATED, apply_event
from tests.conftest import table_state
from worlds import services
from worlds.models import Character, World
from worlds.services import create_character

pytestmark = pytest.mark.usefixtures("synced")


def test_create_character_records_a_genesis_event_from_zero():
    hero = create_character(world_id="alpha", name="Ada", scores={"wealth": 0.7})

    deltas = {
        d.axis.name: d
        for d in EventEntityAxisDelta.objects.filter(character=hero).select_related(
            "axis", "event__event_type"
        )
    }
    assert set(deltas) == {"wealth", "health", "luck"}
    assert {d.event.event_type.name for d in deltas.values()} == {CHARACTER_CREATED}
    assert len({d.event_id for d in deltas.values()}) == 1
    # explicit score, axis default, axis default of a numeric axis
    assert {name: (d.old_score, d.new_score) for name, d in deltas.items()} == {
        "wealth": (0.0, 0.7),
        "health": (0.0, 0.8),
        "luck": (0.0, 0.25),
    }
    assert dict(hero.scores.values_list("axis__name", "axis_score")) == {
        "wealth": 0.7,
        "health": 0.8,
        "luck": 0.25,
    }


def test_axis_without_a_default_starts_at_one_half():
    hero = create_character(world_id="alpha", name="Ada")
    assert hero.scores.get(axis__name="wealth").axis_score == 0.5


def test_create_character_writes_base_snapshot_at_seed_zero():
    hero = create_character(world_id="alpha", name="Ada", scores={"wealth": 0.195})

    world = World.objects.get(pk="alpha")
    assert hero.state_seed == 0
    assert hero.state_version == world.policy_hash
    genesis = Event.objects.filter(deltas__character=hero).distinct().get()
    assert hero.state_updated_at == genesis.timestamp
    assert (
        hero.base_state_json
        == hero.current_state_json
        == {
            "world_id": "alpha",
            "seed": 0,
            "policy_hash": world.policy_hash,
            "axes": {
                "health": {"score": 0.8, "label": "hale"},
                "luck": {"score": 0.25, "label": None},
                "wealth": {"score": 0.195, "label": "poor"},
            },
        }
    )


def test_base_snapshot_is_never_rewritten_by_later_events():
    hero = create_character(world_id="alpha", name="Ada")
    base = hero.base_state_json

    apply_event(world_id="alpha", event_type="loot", deltas={hero.pk: {"wealth": 0.3}})

    hero.refresh_from_db()
    assert hero.base_state_json == base
    assert hero.current_state_json == {
        **base,
        "seed": 1,
        "axes": {**base["axes"], "wealth": {"score": 0.8, "label": "decadent"}},
    }


@pytest.mark.parametrize(
    "kwargs, field, message",
    [
        (
            {"world_id": "gamma"},
            "world",
            services.CREATE_CHARACTER_UNKNOWN_WORLD.format(world_id="gamma"),
        ),
        (
            {"scores": {"charm": 0.5}},
            "scores",
            services.CREATE_CHARACTER_UNKNOWN_AXIS.format(axis="charm", world_id="alpha"),
        ),
        (
            {"scores": {"wealth": 1.5}},
            "scores",
            services.CREATE_CHARACTER_BAD_SCORE.format(axis="wealth", value=1.5),
        ),
        (
            {"scores": {"wealth": float("nan")}},
            "scores",
            services.CREATE_CHARACTER_BAD_SCORE.format(axis="wealth", value=float("nan")),
        ),
        (
            {"scores": {"wealth": "0.5"}},
            "scores",
            services.CREATE_CHARACTER_BAD_SCORE.format(axis="wealth", value="0.5"),
        ),
        # Django's own messages for the model field (max_length=200, not blank).
        ({"name": ""}, "name", "This field cannot be blank."),
        ({"name": "x" * 201}, "name", "Ensure this value has at most 200 characters (it has 201)."),
    ],
    ids=["unknown world", "unknown axis", "out of range", "nan", "string", "blank", "too long"],
)
def test_create_character_rejects_bad_input_and_writes_nothing(kwargs, field, message):
    before = table_state()

    with pytest.raises(ValidationError) as excinfo:
        create_character(**{"world_id": "alpha", "name": "Ada", **kwargs})

    assert excinfo.value.message_dict == {field: [message]}
    assert table_state() == before


def test_names_are_unique_within_a_world_only():
    create_character(world_id="alpha", name="Ada")
    create_character(world_id="beta", name="Ada")
    before = table_state()

    with pytest.raises(ValidationError) as excinfo:
        create_character(world_id="alpha", name="Ada")
    assert excinfo.value.message_dict == {
        "__all__": ["Character with this World and Name already exists."]
    }
    assert table_state() == before


def test_world_without_active_axes_cannot_have_characters():
    World.objects.create(world_id="empty", policy_hash="x" * 64)
    with pytest.raises(ValidationError) as excinfo:
        create_character(world_id="empty", name="Ada")
    assert excinfo.value.message_dict == {
        "world": [services.CREATE_CHARACTER_NO_AXES.format(world_id="empty")]
    }


def test_ledger_rows_are_protected_from_cascading_deletes():
    hero = create_character(world_id="alpha", name="Ada")

    def protected(model):
        message = f"Cannot delete some instances of model {model.__name__!r} because they are "
        return pytest.raises(ProtectedError, match=re.escape(message))

    with protected(Character):
        Character.objects.filter(pk=hero.pk).delete()
    with protected(Axis):
        Axis.objects.filter(world="alpha").delete()
    with protected(EventType):
        EventType.objects.all().delete()
    with protected(World):
        World.objects.filter(pk="alpha").delete()
    message = LEDGER_IMMUTABLE.format(operation="delete()", model="Event")
    with pytest.raises(LedgerImmutableError, match=re.escape(message)):
        Event.objects.all().delete()
    assert EventEntityAxisDelta.objects.filter(character=hero).count() == 3
    assert CharacterAxisScore.objects.filter(character=hero).count() == 3
