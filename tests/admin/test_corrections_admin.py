"""Writes from the admin: reversing an event from its page, applying one from a character's.

Both go through the ledger services (``reverse_event``, ``apply_event``) with the admin
as source and the signed-in user as actor; both refuse users without the permission or
outside the world, and write nothing on any error.
"""

from html import unescape

import pytest
from django.urls import reverse

from access.models import WorldMembership
from ledger.admin import REVERSE_DONE, REVERSE_NO_REASON
from ledger.models import Event, Source
from ledger.services import (
    APPLY_EVENT_BAD_EVENT_TYPE,
    APPLY_EVENT_BAD_METADATA_KEY,
    APPLY_EVENT_NO_DELTAS,
    APPLY_EVENT_RESERVED_EVENT_TYPE,
    REVERSAL,
    apply_event,
    reverse_event,
)
from ledger.services.events import REVERSAL_ALREADY_REVERSED
from ledger.services.reversal import REVERSAL_OF_REVERSAL, REVERSAL_RETIRED_AXIS
from tests.admin.conftest import GAME_MASTER, INSPECTOR, messages_of
from tests.api.conftest import retire_axis
from tests.conftest import table_state
from tests.factories import CharacterFactory, UserFactory
from worlds.admin.characters import (
    APPLY_DONE,
    APPLY_METADATA_BAD_LINE,
    APPLY_METADATA_DUPLICATE_KEY,
    APPLY_METADATA_REASON_KEY,
)

pytestmark = pytest.mark.usefixtures("synced")


def event_url(event_id: int) -> str:
    return reverse("admin:ledger_event_change", args=[event_id])


def reverse_url(event_id: int) -> str:
    return reverse("admin:ledger_event_reverse", args=[event_id])


def character_url(character) -> str:
    return reverse("admin:worlds_character_change", args=[character.pk])


def apply_url(character) -> str:
    return reverse("admin:worlds_character_apply_event", args=[character.pk])


def metadata_of(event) -> dict[str, str]:
    return dict(event.metadata_entries.values_list("key", "value"))


@pytest.fixture
def inspector(db):
    return UserFactory(username="inspector", is_staff=True, permissions=INSPECTOR)


@pytest.fixture
def game_master(db):
    return UserFactory(username="gm", is_staff=True, permissions=GAME_MASTER)


@pytest.fixture
def loot(hero):
    return Event.objects.get(event_type__name="loot_found")


# Reversing an event ---------------------------------------------------------------------


def test_a_game_master_reverses_an_event_from_its_page(client, game_master, loot, hero):
    client.force_login(game_master)
    page = client.get(event_url(loot.pk))
    assert 'id="reverse-event"' in page.content.decode()
    assert f'action="{reverse_url(loot.pk)}"' in page.content.decode()

    response = client.post(
        reverse_url(loot.pk), {"reason": "the chest was empty"}, HTTP_X_REQUEST_ID="req-7"
    )

    reversal = Event.objects.get(reverses=loot)
    assert response.status_code == 302
    assert response["Location"] == event_url(reversal.pk)
    assert reversal.event_type.name == REVERSAL
    assert reversal.source == Source.ADMIN
    assert (reversal.actor_user_id, reversal.actor_name) == (game_master.pk, "gm")
    assert reversal.request_id == "req-7"
    assert metadata_of(reversal) == {"reason": "the chest was empty"}
    assert list(reversal.deltas.values_list("character_id", "axis__name", "delta")) == [
        (hero.pk, "wealth", -0.2)
    ]
    shown = client.get(response["Location"])
    assert messages_of(shown) == [REVERSE_DONE.format(reversal_id=reversal.pk, event_id=loot.pk)]
    html = shown.content.decode()
    assert f'reverses <a href="{event_url(loot.pk)}">#{loot.pk}</a>' in html
    assert 'id="reverse-event"' not in html  # a reversal is not reversible
    original = client.get(event_url(loot.pk)).content.decode()
    assert f'reversed by <a href="{event_url(reversal.pk)}">#{reversal.pk}</a>' in original
    assert 'id="reverse-event"' not in original  # reversed already


def test_a_second_reversal_is_refused_naming_the_first_and_writes_nothing(admin_client, loot):
    first = reverse_event(event_id=loot.pk, reason="empty chest")
    before = table_state()

    response = admin_client.post(reverse_url(loot.pk), {"reason": "again"}, follow=True)

    assert response.redirect_chain == [(event_url(loot.pk), 302)]
    assert messages_of(response) == [
        REVERSAL_ALREADY_REVERSED.format(event_id=loot.pk, reversal_id=first.pk)
    ]
    assert {m.level_tag for m in response.context["messages"]} == {"error"}
    assert table_state() == before


def test_a_reversal_cannot_be_reversed(admin_client, loot):
    reversal = reverse_event(event_id=loot.pk, reason="empty chest")
    before = table_state()

    response = admin_client.post(reverse_url(reversal.pk), {"reason": "undo"}, follow=True)

    assert messages_of(response) == [
        REVERSAL_OF_REVERSAL.format(event_id=reversal.pk, reverses=loot.pk)
    ]
    assert table_state() == before


def test_an_event_on_a_retired_axis_cannot_be_reversed(admin_client, hero, worlds_dir):
    combat = Event.objects.get(event_type__name="combat")  # health and luck
    retire_axis(worlds_dir, "alpha", "luck")
    before = table_state()

    response = admin_client.post(reverse_url(combat.pk), {"reason": "undo"}, follow=True)

    assert messages_of(response) == [
        REVERSAL_RETIRED_AXIS.format(event_id=combat.pk, axis="luck", world_id="alpha")
    ]
    assert table_state() == before


def test_a_reversal_needs_a_reason(admin_client, loot):
    before = table_state()

    response = admin_client.post(reverse_url(loot.pk), {"reason": "   "}, follow=True)

    assert messages_of(response) == [REVERSE_NO_REASON.format(event_id=loot.pk)]
    assert table_state() == before


def test_reversing_takes_a_post_and_a_known_event(admin_client, loot):
    assert admin_client.get(reverse_url(loot.pk)).status_code == 405
    assert admin_client.post(reverse_url(10**9), {"reason": "x"}).status_code == 404
    assert admin_client.post(reverse_url("abc"), {"reason": "x"}).status_code == 404


def test_an_inspector_sees_no_reverse_control_and_may_not_post(client, inspector, loot):
    client.force_login(inspector)
    before = table_state()

    page = client.get(event_url(loot.pk))

    assert page.status_code == 200
    assert 'id="reverse-event"' not in page.content.decode()
    assert client.post(reverse_url(loot.pk), {"reason": "x"}).status_code == 403
    assert table_state() == before


def test_a_game_master_of_beta_may_not_reverse_an_alpha_event(client, game_master, loot):
    WorldMembership.objects.create(world_id="beta", user=game_master)
    client.force_login(game_master)
    before = table_state()

    assert client.post(reverse_url(loot.pk), {"reason": "x"}).status_code == 403
    assert table_state() == before
    listed = client.get(reverse("admin:ledger_event_changelist")).context["cl"].result_list
    assert loot.pk not in [event.pk for event in listed]

    outsider = CharacterFactory(world_id="beta")
    trade = apply_event(world_id="beta", event_type="trade", deltas={outsider.pk: {"wealth": 0.1}})
    response = client.post(reverse_url(trade.pk), {"reason": "mistake"})
    assert response.status_code == 302
    assert Event.objects.get(reverses=trade).world_id == "beta"


def test_a_post_without_the_csrf_token_is_refused(game_master, loot):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(game_master)

    assert client.post(reverse_url(loot.pk), {"reason": "x"}).status_code == 403
    assert not Event.objects.filter(reverses=loot).exists()


# Applying an event ----------------------------------------------------------------------


def apply_form(response):
    return response.context["inspector"]["apply_form"]


def test_a_game_master_applies_an_event_from_the_character_page(client, game_master, hero):
    client.force_login(game_master)
    page = client.get(character_url(hero))
    form = apply_form(page)
    assert [field.name for field in form.visible_fields()] == [
        "event_type",
        "delta_health",
        "delta_luck",
        "delta_wealth",
        "reason",
        "metadata",
    ]
    assert [field.name for field in form.hidden_fields()] == ["idempotency_key"]
    assert f'action="{apply_url(hero)}"' in page.content.decode()

    response = client.post(
        apply_url(hero),
        {
            "event_type": "gm_adjustment",
            "delta_wealth": "0.1",
            "delta_luck": "-0.05",
            "delta_health": "",
            "reason": "found a purse",
            "metadata": "quest=q-17\n\n  scene = market  \n",
        },
        HTTP_X_REQUEST_ID="req-9",
        follow=True,
    )

    event = Event.objects.get(event_type__name="gm_adjustment")
    assert response.redirect_chain == [(character_url(hero), 302)]
    assert messages_of(response) == [
        APPLY_DONE.format(event_id=event.pk, event_type="gm_adjustment", character=hero)
    ]
    assert event.source == Source.ADMIN
    assert (event.actor_user_id, event.actor_name, event.request_id) == (
        game_master.pk,
        "gm",
        "req-9",
    )
    assert metadata_of(event) == {"reason": "found a purse", "quest": "q-17", "scene": "market"}
    assert sorted(event.deltas.values_list("character_id", "axis__name", "requested_delta")) == [
        (hero.pk, "luck", -0.05),
        (hero.pk, "wealth", 0.1),
    ]
    # The new event heads the character's events, with who did it.
    events = response.content.decode()
    events = events[events.index('id="axis-events"') :]
    first = events[events.index('<tr class="pw-event"') :]
    first = first[: first.index("</tr>")]
    assert f'data-event="{event.pk}"' in first
    assert "gm_adjustment" in first
    actor = reverse("admin:ledger_event_changelist") + f"?actor_user__id__exact={game_master.pk}"
    assert f'<a class="pw-actor" href="{actor}" title="Events caused by this user">gm</a>' in first
    assert '<div class="pw-quiet pw-source">admin</div>' in first


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({}, "__all__", APPLY_EVENT_NO_DELTAS),
        (
            {"event_type": "9 lives", "delta_wealth": "0.1"},
            "event_type",
            APPLY_EVENT_BAD_EVENT_TYPE.format(value="9 lives"),
        ),
        (
            {"event_type": REVERSAL, "delta_wealth": "0.1"},
            "event_type",
            APPLY_EVENT_RESERVED_EVENT_TYPE.format(value=REVERSAL),
        ),
        ({"delta_wealth": "lots"}, "delta_wealth", "Enter a number."),
        ({"delta_luck": "inf"}, "delta_luck", "Enter a number."),
        (
            {"delta_wealth": "0.1", "metadata": "quest=1\nno equals sign"},
            "metadata",
            APPLY_METADATA_BAD_LINE.format(line=2, text="no equals sign"),
        ),
        (
            {"delta_wealth": "0.1", "metadata": "=orphan"},
            "metadata",
            APPLY_METADATA_BAD_LINE.format(line=1, text="=orphan"),
        ),
        (
            {"delta_wealth": "0.1", "metadata": "a=1\na=2"},
            "metadata",
            APPLY_METADATA_DUPLICATE_KEY.format(line=2, key="a"),
        ),
        (
            {"delta_wealth": "0.1", "metadata": "reason=other"},
            "metadata",
            APPLY_METADATA_REASON_KEY.format(line=1),
        ),
        (
            {"delta_wealth": "0.1", "metadata": f"{'k' * 101}=v"},
            "metadata",
            APPLY_EVENT_BAD_METADATA_KEY.format(value="k" * 101),
        ),
        ({"delta_wealth": "0.1", "reason": ""}, "reason", "This field is required."),
    ],
)
def test_apply_form_errors_show_on_their_field_and_write_nothing(
    admin_client, hero, data, field, error
):
    posted = {"event_type": "gm_adjustment", "reason": "because", **data}
    before = table_state()

    response = admin_client.post(apply_url(hero), posted)

    assert response.status_code == 200
    form = apply_form(response)
    assert form.is_bound
    assert form.errors == {field: [error]}
    assert table_state() == before
    # The character page again, with the form's input and its error.
    html = unescape(response.content.decode())
    assert 'id="axis-state"' in html
    assert error in html
    assert f'value="{posted["event_type"]}"' in html


def test_a_retired_axis_is_not_offered(admin_client, hero, worlds_dir):
    retire_axis(worlds_dir, "alpha", "luck")

    form = apply_form(admin_client.get(character_url(hero)))

    assert "delta_luck" not in form.fields
    assert {"delta_health", "delta_wealth"} <= set(form.fields)


def test_an_inspector_sees_no_apply_form_and_may_not_post(client, inspector, hero):
    client.force_login(inspector)
    before = table_state()

    page = client.get(character_url(hero))

    assert page.status_code == 200
    assert apply_form(page) is None
    assert 'id="apply-event"' not in page.content.decode()
    posted = {"event_type": "gm_adjustment", "delta_wealth": "0.1", "reason": "x"}
    assert client.post(apply_url(hero), posted).status_code == 403
    assert table_state() == before


def test_a_game_master_of_beta_may_not_apply_to_an_alpha_character(client, game_master, hero):
    WorldMembership.objects.create(world_id="beta", user=game_master)
    client.force_login(game_master)
    before = table_state()

    posted = {"event_type": "gm_adjustment", "delta_wealth": "0.1", "reason": "x"}
    assert client.post(apply_url(hero), posted).status_code == 403
    assert table_state() == before

    outsider = CharacterFactory(world_id="beta")
    assert apply_form(client.get(character_url(outsider))) is not None
    assert client.post(apply_url(outsider), posted).status_code == 302


def test_applying_takes_a_post_and_a_known_character(admin_client, hero):
    assert admin_client.get(apply_url(hero)).status_code == 405
    posted = {"event_type": "gm_adjustment", "delta_wealth": "0.1", "reason": "x"}
    missing = reverse("admin:worlds_character_apply_event", args=[10**9])
    assert admin_client.post(missing, posted).status_code == 404


def test_the_character_page_marks_reversed_events_and_reversals(admin_client, loot, hero):
    reversal = reverse_event(event_id=loot.pk, reason="empty chest")

    html = admin_client.get(character_url(hero)).content.decode()

    events = html[html.index('id="axis-events"') :]
    assert (
        f'<div class="pw-reversed-by">reversed by <a href="{event_url(reversal.pk)}">'
        f"#{reversal.pk}</a></div>"
    ) in events
    assert (
        f'<div class="pw-reverses">reverses <a href="{event_url(loot.pk)}">#{loot.pk}</a></div>'
    ) in events
