"""The character inspector: panels, creation through the service, snapshot and ledger actions."""

import re
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from axes.models import CharacterAxisScore
from ledger.models import Event, EventEntityAxisDelta
from ledger.services import CHARACTER_CREATED
from tests.admin.conftest import add_events, messages_of
from tests.conftest import table_state
from tests.factories import CharacterFactory, UserFactory
from worlds.admin import REFRESH_DONE, STALE_SNAPSHOT, VERIFY_CLEAN, VERIFY_FOUND, inspector
from worlds.admin.characters import AS_OF_REFUSED
from worlds.models import Character, World
from worlds.services import CREATE_CHARACTER_NO_AXES

pytestmark = pytest.mark.usefixtures("synced")


def change_url(character) -> str:
    return reverse("admin:worlds_character_change", args=[character.pk])


def test_changelist_lists_characters_filters_by_world_and_searches_by_name(admin_client):
    CharacterFactory(name="Ada Brass")
    CharacterFactory(name="Corin Valve", world_id="beta")
    url = reverse("admin:worlds_character_changelist")

    response = admin_client.get(url)
    assert response.status_code == 200
    assert {c.name for c in response.context["cl"].result_list} == {"Ada Brass", "Corin Valve"}
    for column in ("name", "world", "state_seed", "state_updated_at"):
        assert column in response.context["cl"].list_display

    by_world = admin_client.get(url, {"world__world_id__exact": "beta"})
    assert [c.name for c in by_world.context["cl"].result_list] == ["Corin Valve"]
    by_name = admin_client.get(url, {"q": "ada"})
    assert [c.name for c in by_name.context["cl"].result_list] == ["Ada Brass"]


def test_change_page_shows_axis_state_with_band_bars(admin_client, hero):
    response = admin_client.get(change_url(hero))

    assert response.status_code == 200
    html = response.content.decode()
    state = html[
        html.index('id="axis-state"') : html.index("</table>", html.index('id="axis-state"'))
    ]
    # wealth 0.3 + 0.2 = 0.5 is well-kept; every band of the axis is drawn, in order.
    wealth = state[state.index('data-axis="wealth"') :]
    wealth = wealth[: wealth.index("</tr>")]
    assert ">0.5<" in wealth
    assert ">well-kept<" in wealth
    labels = re.findall(r'class="pw-band[^"]*"[^>]*>([^<]+)<', wealth)
    assert labels == ["poor", "modest", "well-kept", "wealthy", "decadent"]
    assert re.search(r'class="pw-band pw-current"[^>]*>well-kept<', wealth)
    assert 'class="pw-marker" style="left: 50.000%;"' in wealth
    # health was clamped to 0.0 (ailing); luck is numeric: a bar with no bands.
    health = state[state.index('data-axis="health"') :]
    assert ">0<" in health[: health.index("</tr>")]
    luck = state[state.index('data-axis="luck"') :]
    luck = luck[: luck.index("</tr>")]
    assert "pw-bar-numeric" in luck
    assert "pw-band" not in luck


def test_change_page_shows_snapshot_metadata_and_pretty_json(admin_client, hero):
    hero.refresh_from_db()
    response = admin_client.get(change_url(hero))

    html = response.content.decode()
    assert hero.state_version in html
    assert ">current<" in html
    assert 'id="stale-snapshot"' not in html
    text = unescape(html)
    assert '\n  "world_id": "alpha"' in text  # indented JSON, not a one-line dict
    assert '"label": "well-kept"' in text
    assert f'<div class="readonly">{hero.state_seed}</div>' in html


def test_change_page_warns_when_the_snapshot_is_stale(admin_client, hero):
    Character.objects.filter(pk=hero.pk).update(state_version="0123456789abcdef")

    response = admin_client.get(change_url(hero))

    html = response.content.decode()
    message = STALE_SNAPSHOT.format(
        state_version="0123456789ab", policy_hash=World.objects.get(pk="alpha").policy_hash[:12]
    )
    assert f'<p class="pw-warning" id="stale-snapshot">{message}</p>' in html
    assert ">stale<" in html


def test_change_page_lists_events_with_deltas_metadata_and_highlights(admin_client, hero):
    response = admin_client.get(change_url(hero))

    html = response.content.decode()
    events = html[html.index('id="axis-events"') :]
    rows = re.findall(r'<tr class="pw-event" data-event="(\d+)">', events)
    expected = list(
        EventEntityAxisDelta.objects.filter(character=hero)
        .order_by("-event_id")
        .values_list("event_id", flat=True)
        .distinct()
    )
    assert [int(row) for row in rows] == expected  # newest first, one row per event
    assert "<code>source</code>=treasure_chest" in events
    # wealth 0.3 -> 0.5 crosses from modest to well-kept: a highlighted label change.
    assert "0.3 → 0.5 (+0.2)" in events
    assert "<mark>modest → well-kept</mark>" in events
    # health 0.8 - 2.0 is clamped to 0: applied -0.8, requested -2.
    assert "0.8 → 0 (-0.8)" in events
    assert '<mark class="pw-clamp">clamped: requested -2</mark>' in events
    ledger_url = reverse("admin:ledger_event_changelist") + f"?character={hero.pk}"
    assert f'href="{ledger_url}"' in events


def test_change_page_draws_the_score_history_as_svg(admin_client, hero):
    response = admin_client.get(change_url(hero))

    html = response.content.decode()
    history = html[html.index('id="score-history"') : html.index('id="axis-events"')]
    assert history.count("<svg") == 3  # health, luck, wealth
    wealth = history[history.index('data-axis="wealth"') :]
    wealth = wealth[: wealth.index("</svg>")]
    assert "<polyline" in wealth
    # One point per wealth delta (genesis and loot), titled with the event.
    assert len(re.findall(r"<circle ", wealth)) == 2
    assert "loot_found: 0.3 → 0.5" in wealth
    for label in ("poor", "modest", "well-kept", "wealthy", "decadent"):
        assert f">{label}</text>" in wealth


def test_chart_reads_at_most_the_latest_500_deltas(admin_client, hero, monkeypatch):
    response = admin_client.get(change_url(hero))
    chart = response.context["inspector"]["chart"]
    assert chart["limit"] == 500
    assert chart["truncated"] is False
    assert chart["deltas"] == EventEntityAxisDelta.objects.filter(character=hero).count()

    monkeypatch.setattr(inspector, "CHART_DELTA_LIMIT", 2)
    response = admin_client.get(change_url(hero))
    chart = response.context["inspector"]["chart"]
    assert (chart["deltas"], chart["truncated"]) == (2, True)


def test_add_form_creates_the_character_through_the_ledger(admin_client):
    response = admin_client.post(
        reverse("admin:worlds_character_add"), {"world": "alpha", "name": "Mira Gasket"}
    )

    character = Character.objects.get(name="Mira Gasket")
    assert response.status_code == 302
    genesis = Event.objects.filter(deltas__character=character).distinct().get()
    assert genesis.event_type.name == CHARACTER_CREATED
    assert genesis.deltas.count() == 3
    assert character.state_seed == 0
    assert character.base_state_json["axes"]["health"] == {"score": 0.8, "label": "hale"}
    assert character.base_state_json == character.current_state_json
    assert CharacterAxisScore.objects.filter(character=character).count() == 3


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        # Django's messages for the form and the model's unique constraint.
        ({"world": "alpha", "name": ""}, "name", "This field is required."),
        (
            {"world": "nowhere", "name": "Ada"},
            "world",
            "Select a valid choice. That choice is not one of the available choices.",
        ),
        (
            {"world": "alpha", "name": "Taken"},
            "__all__",
            "Character with this World and Name already exists.",
        ),
    ],
)
def test_add_form_shows_invalid_input_as_errors_and_writes_nothing(
    admin_client, data, field, error
):
    CharacterFactory(name="Taken")
    before = table_state()

    response = admin_client.post(reverse("admin:worlds_character_add"), data)

    assert response.status_code == 200
    assert error in unescape(response.content.decode())
    assert response.context["adminform"].form.errors == {field: [error]}
    assert table_state() == before


def test_add_form_shows_a_service_refusal_as_a_form_error(admin_client):
    # A world row without axes (never synced): only create_character can refuse it.
    World.objects.create(world_id="gamma")
    before = table_state()

    response = admin_client.post(
        reverse("admin:worlds_character_add"), {"world": "gamma", "name": "Ada"}
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["world"] == [CREATE_CHARACTER_NO_AXES.format(world_id="gamma")]
    assert table_state() == before


def test_characters_with_history_cannot_be_deleted(admin_client, hero):
    delete_url = reverse("admin:worlds_character_delete", args=[hero.pk])

    assert admin_client.get(delete_url).status_code == 403
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Character.objects.filter(pk=hero.pk).exists()
    changelist = admin_client.get(reverse("admin:worlds_character_changelist"))
    assert "delete_selected" not in dict(changelist.context["action_form"].fields["action"].choices)


def test_refresh_snapshot_button_rederives_a_corrupted_snapshot(admin_client, hero):
    hero.refresh_from_db()
    good = hero.current_state_json
    Character.objects.filter(pk=hero.pk).update(
        current_state_json={"corrupted": True}, state_version="old"
    )

    response = admin_client.post(
        reverse("admin:worlds_character_refresh_snapshot", args=[hero.pk]), follow=True
    )

    assert response.redirect_chain == [(change_url(hero), 302)]
    assert messages_of(response) == [REFRESH_DONE.format(count=1)]
    hero.refresh_from_db()
    assert hero.current_state_json == good
    assert hero.state_version == World.objects.get(pk="alpha").policy_hash


def test_refresh_snapshot_refuses_get(admin_client, hero):
    url = reverse("admin:worlds_character_refresh_snapshot", args=[hero.pk])
    assert admin_client.get(url).status_code == 405


def test_verify_button_reports_a_clean_ledger(admin_client, hero):
    response = admin_client.post(
        reverse("admin:worlds_character_verify_ledger", args=[hero.pk]), follow=True
    )

    deltas = EventEntityAxisDelta.objects.filter(character=hero).count()
    assert deltas == 6
    assert messages_of(response) == [VERIFY_CLEAN.format(character=hero, deltas=deltas)]
    assert messages_of(response) == [
        "Ada Brass (alpha): ledger verified: 6 deltas, no discrepancies."
    ]


def test_verify_button_reports_each_discrepancy(admin_client, hero):
    CharacterAxisScore.objects.filter(character=hero, axis__name="wealth").update(axis_score=0.9)

    response = admin_client.post(
        reverse("admin:worlds_character_verify_ledger", args=[hero.pk]), follow=True
    )

    reported = messages_of(response)
    assert len(reported) == 3
    assert reported[0] == VERIFY_FOUND.format(character=hero, count=2)
    assert reported[1] == (
        f"score: current state, character {hero.pk} axis wealth: expected 0.5, found 0.9"
    )
    assert reported[2].startswith(f"snapshot: current state, character {hero.pk}: expected {{")
    levels = {message.level_tag for message in response.context["messages"]}
    assert levels == {"error"}


def test_changelist_actions_refresh_and_verify_selected_characters(admin_client, hero):
    other = CharacterFactory(world_id="beta")
    Character.objects.update(current_state_json={})
    url = reverse("admin:worlds_character_changelist")
    selected = [hero.pk, other.pk]

    response = admin_client.post(
        url, {"action": "refresh_snapshots", "_selected_action": selected}, follow=True
    )
    assert messages_of(response) == [REFRESH_DONE.format(count=2)]
    assert not Character.objects.filter(current_state_json={}).exists()

    response = admin_client.post(
        url, {"action": "verify_ledgers", "_selected_action": selected}, follow=True
    )
    assert messages_of(response) == [
        VERIFY_CLEAN.format(character=hero, deltas=6),
        VERIFY_CLEAN.format(character=other, deltas=2),
    ]


def test_view_only_staff_can_verify_but_not_refresh(client, hero):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_character"))
    client.force_login(user)

    assert client.get(change_url(hero)).status_code == 200
    refresh = reverse("admin:worlds_character_refresh_snapshot", args=[hero.pk])
    assert client.post(refresh).status_code == 403
    verify = reverse("admin:worlds_character_verify_ledger", args=[hero.pk])
    assert client.post(verify).status_code == 302


def test_change_page_runs_the_same_queries_for_3_and_60_events(
    admin_client, django_assert_max_num_queries
):
    character = CharacterFactory(scores={"wealth": 0.5})
    add_events(character, 2)
    url = change_url(character)
    admin_client.get(url)  # warm the registry cache and the session
    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get(url).status_code == 200
    few = len(captured)  # now: the next request clears the connection's query log

    add_events(character, 57)
    assert EventEntityAxisDelta.objects.filter(character=character).values("event").count() == 62
    admin_client.get(url)  # the registry cache again (apply_event may have replaced it)
    with django_assert_max_num_queries(few):
        response = admin_client.get(url)
    assert len(response.context["inspector"]["events"]) == 50
    with CaptureQueriesContext(connection) as many:
        admin_client.get(url)
    assert len(many) == few


def axis_scores(response) -> dict[str, str]:
    html = response.content.decode()
    state = html[html.index('id="axis-state"') :]
    state = state[: state.index("</table>")]
    return dict(
        re.findall(
            r'data-axis="([^"]+)">\s*<th scope="row">[^<]+</th>\s*<td class="pw-score">([^<]+)<',
            state,
        )
    )


def test_change_page_shows_the_state_as_of_an_event_from_the_ledger(admin_client, hero):
    loot = Event.objects.get(event_type__name="loot_found")

    response = admin_client.get(change_url(hero), {"as_of": loot.pk})

    # After the loot (wealth 0.3 -> 0.5) and before the combat (health 0.8 -> 0).
    assert axis_scores(response) == {"health": "0.8", "luck": "0.25", "wealth": "0.5"}
    assert f"right after event #{loot.pk}" in response.content.decode()
    live = admin_client.get(change_url(hero))
    assert axis_scores(live) == {"health": "0", "luck": "0.3", "wealth": "0.5"}
    assert f'href="?as_of={loot.pk}"' in live.content.decode()


def test_an_as_of_event_of_another_world_shows_the_live_state_with_a_warning(admin_client, hero):
    outsider = CharacterFactory(world_id="beta")
    foreign = Event.objects.filter(deltas__character=outsider).first()

    response = admin_client.get(change_url(hero), {"as_of": foreign.pk})

    assert response.status_code == 200
    assert axis_scores(response)["health"] == "0"
    assert messages_of(response) == [
        AS_OF_REFUSED.format(error=f"no event {foreign.pk} in world 'alpha'")
    ]
