"""The admin says what is known when the database fails: never "done" for an unknown
outcome, never a 500 page.
"""

import pytest
from django.db import OperationalError
from django.urls import reverse

from ledger.admin import REVERSE_OUTCOME_UNKNOWN
from ledger.models import Event
from tests.admin.conftest import messages_of
from tests.admin.sync_forms import confirm_form, preview_and_confirm
from tests.conftest import table_state
from tests.factories import UserFactory
from tests.faults import failing_commit
from worlds.admin import characters, registry
from worlds.admin.characters import APPLY_ALREADY_DONE, APPLY_DONE, APPLY_OUTCOME_UNKNOWN
from worlds.services import sync

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("synced")]

GAME_MASTER = [
    "ledger.view_event",
    "worlds.view_character",
    "worlds.view_world",
    "ledger.apply_event",
    "ledger.reverse_event",
]


def broken(*args, **kwargs):
    raise OperationalError("server closed the connection unexpectedly")


@pytest.fixture
def gm_client(client):
    client.force_login(UserFactory(username="gm", is_staff=True, permissions=GAME_MASTER))
    return client


def apply_url(character) -> str:
    return reverse("admin:worlds_character_apply_event", args=[character.pk])


def character_url(character) -> str:
    return reverse("admin:worlds_character_change", args=[character.pk])


def form_data(page) -> dict:
    form = page.context["inspector"]["apply_form"]
    key = form["idempotency_key"].value()
    assert key and key.startswith("admin-")
    return {
        "event_type": "gm_gift",
        "delta_wealth": "0.1",
        "reason": "a gift",
        "idempotency_key": key,
    }


@pytest.mark.postgres
def test_an_admin_event_lost_at_commit_is_reported_unknown_and_resubmitted_once(gm_client, hero):
    data = form_data(gm_client.get(character_url(hero)))

    # Twice: the server's own retry of the keyed write (the form's key) is lost too.
    with failing_commit(reaches_server=True, times=2) as fault:
        lost = gm_client.post(apply_url(hero), data)

    assert fault.commits == 2
    assert lost.status_code == 200  # the page again, with the bound form and its key
    form = lost.context["inspector"]["apply_form"]
    assert form.non_field_errors() == [APPLY_OUTCOME_UNKNOWN]
    assert form["idempotency_key"].value() == data["idempotency_key"]
    event = Event.objects.get(event_type__name="gm_gift")  # it had been saved

    again = gm_client.post(apply_url(hero), data, follow=True)

    assert messages_of(again) == [
        APPLY_ALREADY_DONE.format(event_id=event.pk, event_type="gm_gift")
    ]
    assert Event.objects.filter(event_type__name="gm_gift").count() == 1


@pytest.mark.postgres
def test_an_admin_event_lost_once_at_commit_is_settled_by_the_servers_retry(gm_client, hero):
    """The form carries an idempotency key, so the server retries a lost COMMIT itself:
    the game master sees the event applied once, not an unknown outcome."""
    data = form_data(gm_client.get(character_url(hero)))

    with failing_commit(reaches_server=True) as fault:
        answer = gm_client.post(apply_url(hero), data, follow=True)

    assert fault.commits == 2
    event = Event.objects.get(event_type__name="gm_gift")
    assert messages_of(answer) == [
        APPLY_ALREADY_DONE.format(event_id=event.pk, event_type="gm_gift")
    ]


def test_each_rendered_apply_form_has_a_new_key_and_a_double_submit_applies_once(gm_client, hero):
    page = gm_client.get(character_url(hero))
    data = form_data(page)
    assert (
        form_data(gm_client.get(character_url(hero)))["idempotency_key"] != data["idempotency_key"]
    )

    first = gm_client.post(apply_url(hero), data, follow=True)
    second = gm_client.post(apply_url(hero), data, follow=True)

    event = Event.objects.get(event_type__name="gm_gift")
    assert messages_of(first) == [
        APPLY_DONE.format(event_id=event.pk, event_type="gm_gift", character=hero)
    ]
    assert messages_of(second) == [
        APPLY_ALREADY_DONE.format(event_id=event.pk, event_type="gm_gift")
    ]


@pytest.mark.postgres
def test_a_reversal_lost_at_commit_is_reported_unknown(gm_client, hero):
    loot = Event.objects.get(event_type__name="loot_found")
    url = reverse("admin:ledger_event_reverse", args=[loot.pk])

    with failing_commit(reaches_server=False):
        response = gm_client.post(url, {"reason": "mistake"}, follow=True)

    assert messages_of(response) == [REVERSE_OUTCOME_UNKNOWN.format(event_id=loot.pk)]
    assert not Event.objects.filter(reverses=loot).exists()


def change_policy(worlds_dir) -> None:
    """A valid change to world alpha's policy: health's default score."""
    path = worlds_dir / "alpha" / "policies" / "axes.yaml"
    path.write_text(path.read_text().replace("default: 0.8", "default: 0.7"))


@pytest.mark.postgres
def test_a_sync_lost_at_commit_is_reported_unknown(admin_client, worlds_dir):
    change_policy(worlds_dir)
    url = reverse("admin:worlds_world_sync_all")
    confirmation = confirm_form(admin_client.get(url))
    with failing_commit(reaches_server=False, after=(sync, "_plan_and_carry_out")):
        response = admin_client.post(url, confirmation, follow=True)

    assert messages_of(response) == [registry.SYNC_OUTCOME_UNKNOWN]


def test_a_sync_failing_before_commit_says_nothing_was_written(
    admin_client, monkeypatch, worlds_dir
):
    monkeypatch.setattr(sync, "_carry_out", broken)
    change_policy(worlds_dir)
    before = table_state()

    response = preview_and_confirm(
        admin_client, reverse("admin:worlds_world_sync_all"), follow=True
    )

    assert messages_of(response) == [registry.SYNC_DATABASE_FAILED.format(error="OperationalError")]
    assert table_state() == before


def test_an_outage_on_an_admin_page_is_a_503_that_says_nothing_changed(
    gm_client, hero, monkeypatch
):
    monkeypatch.setattr(characters, "get_world_registry", broken)

    response = gm_client.get(character_url(hero))

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert "Nothing was changed" in response.content.decode()


def test_an_outage_on_an_admin_form_is_a_503_that_asks_to_check(gm_client, hero, monkeypatch):
    monkeypatch.setattr(characters.CharacterAdmin, "_any_character", broken)

    response = gm_client.post(apply_url(hero), {"event_type": "x"})

    assert response.status_code == 503
    assert "may or may not have been saved" in response.content.decode()
