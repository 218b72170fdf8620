"""Provenance and world limits in the ledger admin: who did each event, through which
channel, how it was corrected, and which worlds a user may see."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from access.models import WorldMembership
from ledger.models import Event, Source
from ledger.services import apply_event, reverse_event
from tests.admin.conftest import add_events
from tests.factories import CharacterFactory, UserFactory
from tests.guard import ledger_maintenance
from worlds.models import Character

pytestmark = pytest.mark.usefixtures("synced")

CHANGELIST = "admin:ledger_event_changelist"
READER = [
    "ledger.view_event",
    "ledger.view_evententityaxisdelta",
    "ledger.view_eventmetadata",
    "worlds.view_character",
    "worlds.view_world",
]


def listed(response) -> list[int]:
    return [event.pk for event in response.context["cl"].result_list]


def row_of(response, event_id: int) -> str:
    """Return the HTML of one event's row in the changelist."""
    html = response.content.decode()
    # The link may carry the list's filters (?_changelist_filters=...).
    link = f'<th class="field-id"><a href="{reverse("admin:ledger_event_change", args=[event_id])}'
    start = html.index(link)
    return html[start : html.index("</tr>", start)]


def actor_url(user) -> str:
    return reverse(CHANGELIST) + f"?actor_user__id__exact={user.pk}"


def forget_provenance(event) -> None:
    """Make ``event`` look recorded before provenance existed (its columns NULL)."""
    with ledger_maintenance(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE event SET actor_name = NULL, actor_user_id = NULL, source = NULL, "
            "request_id = NULL, policy_hash = NULL WHERE id = %s",
            [event.pk],
        )


@pytest.fixture
def mira(db):
    return UserFactory(username="mira")


@pytest.fixture
def paid(hero, mira):
    """An event applied through the API by the user mira."""
    return apply_event(
        world_id="alpha",
        event_type="wage_paid",
        deltas={hero.pk: {"wealth": 0.05}},
        actor=mira,
        source=Source.API,
        request_id="req-42",
    )


def test_list_shows_the_actor_linked_to_their_events_and_the_source(admin_client, paid, mira):
    command_event = Event.objects.get(event_type__name="loot_found")

    response = admin_client.get(reverse(CHANGELIST))

    row = row_of(response, paid.pk)
    assert (
        f'<a class="pw-actor" href="{actor_url(mira)}" title="Events caused by this user">'
        'mira</a><div class="pw-quiet">API</div>'
    ) in row
    # An event without a user account: the recorded name, not linked.
    row = row_of(response, command_event.pk)
    name = command_event.actor_name
    assert f'<span class="pw-actor">{name}</span>' in row
    assert '<div class="pw-quiet">management command</div>' in row


def test_old_events_show_an_unknown_actor_and_source(admin_client, paid):
    forget_provenance(paid)

    row = row_of(admin_client.get(reverse(CHANGELIST)), paid.pk)

    assert '<span class="pw-actor">unknown</span><div class="pw-quiet">unknown</div>' in row


def test_the_actor_link_lists_that_users_events_even_after_the_account_is_deleted(
    admin_client, paid, mira, hero
):
    other = UserFactory(username="otto")
    apply_event(world_id="alpha", event_type="trade", deltas={hero.pk: {"luck": 0.1}}, actor=other)
    again = apply_event(
        world_id="alpha", event_type="trade", deltas={hero.pk: {"luck": 0.1}}, actor=mira
    )

    response = admin_client.get(actor_url(mira))

    assert response.status_code == 200
    assert listed(response) == [again.pk, paid.pk]
    actor_filter = next(s for s in response.context["cl"].filter_specs if s.title == "actor")
    assert list(actor_filter.lookup_choices) == [(str(mira.pk), "mira")]

    mira_id = mira.pk
    mira.delete()
    response = admin_client.get(reverse(CHANGELIST) + f"?actor_user__id__exact={mira_id}")
    assert listed(response) == [again.pk, paid.pk]
    actor_filter = next(s for s in response.context["cl"].filter_specs if s.title == "actor")
    assert list(actor_filter.lookup_choices) == [(str(mira_id), f"deleted user #{mira_id}")]
    # The ledger still names the actor.
    assert "mira</a>" in row_of(response, paid.pk)


def test_search_finds_events_by_actor_name(admin_client, paid):
    response = admin_client.get(reverse(CHANGELIST), {"q": "mir"})

    assert listed(response) == [paid.pk]


def test_source_filter_lists_one_channel_or_the_unknown_ones(admin_client, paid):
    old = Event.objects.get(event_type__name="combat")
    forget_provenance(old)
    url = reverse(CHANGELIST)

    assert listed(admin_client.get(url, {"source": "api"})) == [paid.pk]
    assert listed(admin_client.get(url, {"source": "unknown"})) == [old.pk]
    commands = listed(admin_client.get(url, {"source": "command"}))
    assert commands == list(
        Event.objects.filter(source=Source.COMMAND).order_by("-id").values_list("pk", flat=True)
    )
    assert paid.pk not in commands and old.pk not in commands
    source_filter = next(
        s for s in admin_client.get(url).context["cl"].filter_specs if s.title == "source"
    )
    assert [value for value, _ in source_filter.lookup_choices] == [
        "api",
        "admin",
        "command",
        "system",
        "unknown",
    ]


def test_reversal_filter_and_the_markers_of_the_list(admin_client, paid, hero):
    reversal = reverse_event(event_id=paid.pk, reason="paid twice")
    url = reverse(CHANGELIST)

    assert listed(admin_client.get(url, {"reversal": "is_reversal"})) == [reversal.pk]
    assert listed(admin_client.get(url, {"reversal": "reversed"})) == [paid.pk]
    neither = listed(admin_client.get(url, {"reversal": "neither"}))
    assert set(neither) == set(Event.objects.values_list("pk", flat=True)) - {
        paid.pk,
        reversal.pk,
    }

    response = admin_client.get(url)
    paid_url = reverse("admin:ledger_event_change", args=[paid.pk])
    reversal_url = reverse("admin:ledger_event_change", args=[reversal.pk])
    assert (
        f'<div class="pw-reversed-by">reversed by <a href="{reversal_url}">#{reversal.pk}</a>'
        in row_of(response, paid.pk)
    )
    assert f'<div class="pw-reverses">reverses <a href="{paid_url}">#{paid.pk}</a>' in row_of(
        response, reversal.pk
    )


@pytest.mark.parametrize(
    "params",
    [
        {"source": "telepathy"},
        {"reversal": "sometimes"},
        {"actor_user__id__exact": "mira"},
        {"actor_user__id__exact": "0"},
    ],
)
def test_bad_filter_values_are_refused_as_the_admin_refuses_any(admin_client, paid, params):
    response = admin_client.get(reverse(CHANGELIST), params)

    assert response.status_code == 302
    assert response["Location"] == reverse(CHANGELIST) + "?e=1"


def count_queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, params or {}).status_code == 200
    return len(queries)


def test_provenance_filters_and_markers_keep_the_list_constant_in_queries(
    admin_client, mira, django_assert_max_num_queries
):
    character = CharacterFactory(scores={"wealth": 0.5})
    add_events(character, 1)
    # Every filtered view lists an event, so the page's per-page reads all run.
    apply_event(
        world_id="alpha",
        event_type="wage_paid",
        deltas={character.pk: {"wealth": 0.01}},
        actor=mira,
    )
    url = reverse(CHANGELIST)
    views = [
        {},
        {"source": "command"},
        {"reversal": "neither"},
        {"type": "wage_paid"},
        {"actor_user__id__exact": mira.pk},
        {"q": "pytest"},
    ]
    admin_client.get(url)
    few = [count_queries(admin_client, url, params) for params in views]

    # More events, by users and commands, some of them reversed.
    for index in range(20):
        event = apply_event(
            world_id="alpha",
            event_type="wage_paid",
            deltas={character.pk: {"wealth": 0.01}},
            actor=UserFactory() if index % 2 else mira,
            source=Source.ADMIN,
        )
        if index % 3 == 0:
            reverse_event(event_id=event.pk, reason="mistake", actor=mira, source=Source.ADMIN)
    with django_assert_max_num_queries(few[0]):
        response = admin_client.get(url)
    assert len(response.context["cl"].result_list) == Event.objects.count()
    assert [count_queries(admin_client, url, params) for params in views] == few


def test_event_page_shows_every_provenance_field(admin_client, paid, mira):
    reversal = reverse_event(event_id=paid.pk, reason="paid twice")
    paid = Event.objects.get(pk=paid.pk)

    response = admin_client.get(reverse("admin:ledger_event_change", args=[paid.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    fields = dict(
        re.findall(
            r'<div class="flex-container">\s*<label>([^<]+):</label>\s*'
            r'<div class="readonly">(.*?)</div>\s*</div>',
            html,
            re.DOTALL,
        )
    )
    assert fields["Actor"] == (
        f'<a class="pw-actor" href="{actor_url(mira)}" title="Events caused by this user">mira</a>'
    )
    assert fields["Source"] == "API"
    assert fields["Request id"] == "req-42"
    assert fields["Policy hash"] == paid.policy_hash
    assert len(paid.policy_hash) == 64
    assert fields["Recorded at"].startswith(paid.timestamp.strftime("%Y-%m-%d"))
    assert fields["Occurred at"] != "-"  # the recorded time when the client gave none
    reversal_url = reverse("admin:ledger_event_change", args=[reversal.pk])
    assert f'reversed by <a href="{reversal_url}">#{reversal.pk}</a>' in fields["Correction"]

    response = admin_client.get(reversal_url)
    paid_url = reverse("admin:ledger_event_change", args=[paid.pk])
    assert f'reverses <a href="{paid_url}">#{paid.pk}</a>' in response.content.decode()


def test_event_page_of_an_old_event_reads_unknown(admin_client, paid):
    forget_provenance(paid)

    response = admin_client.get(reverse("admin:ledger_event_change", args=[paid.pk]))

    html = response.content.decode()
    assert '<div class="readonly"><span class="pw-actor">unknown</span></div>' in html
    assert '<div class="readonly">unknown</div>' in html


# World limits ---------------------------------------------------------------------------


@pytest.fixture
def beta_reader(db):
    """A staff reader limited to world beta."""
    user = UserFactory(username="beta-reader", is_staff=True, permissions=READER)
    WorldMembership.objects.create(world_id="beta", user=user)
    return user


@pytest.fixture
def outsider(synced):
    """A character of world beta with an event of its own."""
    outsider = CharacterFactory(name="Corin Valve", world_id="beta")
    apply_event(world_id="beta", event_type="trade", deltas={outsider.pk: {"wealth": 0.1}})
    return outsider


def test_a_user_limited_to_a_world_sees_only_its_events(client, beta_reader, hero, outsider):
    client.force_login(beta_reader)
    url = reverse(CHANGELIST)

    response = client.get(url)

    assert response.status_code == 200
    assert listed(response) == list(
        Event.objects.filter(world="beta").order_by("-id").values_list("pk", flat=True)
    )
    # One world only: no world to choose, and no event type of another world (the type
    # filter lists only the selected type).
    specs = {spec.title: spec for spec in response.context["cl"].filter_specs}
    assert "world" not in specs
    assert "world__world_id__exact=alpha" not in response.content.decode()
    assert specs["event type"].lookup_choices == []
    assert "combat" not in response.content.decode()
    # Another world's events are not there, whatever the filters, nor on their own page.
    for params in ({"world__world_id__exact": "alpha"}, {"character": hero.pk}, {"q": "Ada"}):
        listed_worlds = Event.objects.filter(pk__in=listed(client.get(url, params)))
        assert set(listed_worlds.values_list("world", flat=True)) <= {"beta"}
    alpha_event = Event.objects.filter(world="alpha").first()
    page = client.get(reverse("admin:ledger_event_change", args=[alpha_event.pk]))
    assert page.status_code == 302
    assert page["Location"] == reverse("admin:index")


def test_a_user_limited_to_a_world_sees_only_its_characters(client, beta_reader, hero, outsider):
    client.force_login(beta_reader)

    response = client.get(reverse("admin:worlds_character_changelist"))

    assert [c.name for c in response.context["cl"].result_list] == ["Corin Valve"]
    assert "world__world_id__exact=alpha" not in response.content.decode()
    page = client.get(reverse("admin:worlds_character_change", args=[hero.pk]))
    assert page.status_code == 302
    assert client.get(reverse("admin:worlds_character_change", args=[outsider.pk])).status_code == (
        200
    )


def test_a_limited_user_may_add_characters_only_to_their_worlds(client, synced):
    creator = UserFactory(
        username="beta-creator",
        is_staff=True,
        permissions=[*READER, "worlds.add_character"],
    )
    WorldMembership.objects.create(world_id="beta", user=creator)
    client.force_login(creator)
    url = reverse("admin:worlds_character_add")

    form = client.get(url).context["adminform"].form
    assert [world.pk for world in form.fields["world"].queryset] == ["beta"]
    refused = client.post(url, {"world": "alpha", "name": "Sneaky"})
    assert refused.status_code == 200
    assert "world" in refused.context["adminform"].form.errors
    assert not Character.objects.filter(name="Sneaky").exists()


def test_a_limited_users_pages_stay_constant_in_queries(
    client, beta_reader, outsider, django_assert_max_num_queries
):
    client.force_login(beta_reader)
    url = reverse(CHANGELIST)
    page = reverse("admin:worlds_character_change", args=[outsider.pk])
    client.get(url)
    few = count_queries(client, url)
    few_page = count_queries(client, page)

    for _ in range(20):
        apply_event(world_id="beta", event_type="trade", deltas={outsider.pk: {"wealth": 0.01}})
    client.get(page)  # the registry cache again (apply_event may have replaced it)
    with django_assert_max_num_queries(few):
        response = client.get(url)
    assert len(response.context["cl"].result_list) == Event.objects.filter(world="beta").count()
    assert count_queries(client, page) == few_page
