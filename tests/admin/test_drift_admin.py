"""Drift in the inspector: the world page's Drift panel, its pause and resume buttons, and
drift events on the character page.

Pausing and resuming go through ``pause_drift`` / ``resume_drift`` with the admin as source
and the signed-in user as actor, each with an admin log entry; users without the apply
permission or outside the world are refused and nothing changes.
"""

from datetime import datetime, timedelta

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access.models import WorldMembership
from ledger.models import DriftClock, DriftState, Event, Source
from ledger.services.drift import apply_drift, pause_drift, resume_drift
from ledger.services.validation import DRIFT
from tests.admin.conftest import GAME_MASTER, INSPECTOR, add_events, messages_of
from tests.conftest import table_state
from tests.factories import CharacterFactory, UserFactory
from worlds.admin.drift import (
    DRIFT_ALREADY_PAUSED,
    DRIFT_NOT_PAUSED,
    DRIFT_PAUSED,
    DRIFT_PAUSED_LOGGED,
    DRIFT_RESUMED,
    DRIFT_RESUMED_LOGGED,
)
from worlds.models import Character
from worlds.services import sync_world_policies

pytestmark = pytest.mark.usefixtures("synced")

HEALTH_DRIFT = "{ rate: 0.01, every: 1h, toward: 0.5 }"
WORLD_URL = reverse("admin:worlds_world_change", args=["alpha"])
PAUSE_URL = reverse("admin:worlds_world_pause_drift", args=["alpha"])
RESUME_URL = reverse("admin:worlds_world_resume_drift", args=["alpha"])


def add_drift(worlds_dir, axis: str = "health", rule: str = HEALTH_DRIFT) -> None:
    """Give ``axis`` of world alpha a drift rule in its files and sync it (its clock starts)."""
    axes = worlds_dir / "alpha" / "policies" / "axes.yaml"
    text = axes.read_text()
    assert f"  {axis}:\n" in text
    axes.write_text(text.replace(f"  {axis}:\n", f"  {axis}:\n    drift: {rule}\n", 1))
    sync_world_policies(world_ids=["alpha"])


def rewind(hours: int) -> None:
    """Move alpha's drift clocks, and its characters' creation, back by a bit over ``hours``.

    Characters drift only for periods that begin after they were created, so they are
    made older than the clocks.
    """
    start = timezone.now() - timedelta(hours=hours, minutes=1)
    DriftClock.objects.filter(world="alpha").update(started_at=start, applied_until=start)
    Character.objects.filter(world="alpha").update(created_at=start - timedelta(minutes=1))


def drift_state() -> tuple:
    """Every drift row of alpha, to prove that a refused button changed nothing."""
    state = DriftState.objects.filter(world="alpha").values_list().first()
    clocks = sorted(DriftClock.objects.filter(world="alpha").values_list())
    return state, clocks


def when(value) -> str:
    """A time as the panel shows it."""
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S} UTC"


def panel(response) -> str:
    html = response.content.decode()
    start = html.index('id="drift"')
    hint = html.index('id="drift-hint"')
    # The panel ends where the world's statistics panels begin.
    end = html.index('id="distributions"', hint)
    return html[start : html.index("</table>", start)] + html[hint:end]


@pytest.fixture
def drifting(worlds_dir):
    add_drift(worlds_dir)


@pytest.fixture
def inspector(db):
    return UserFactory(username="inspector", is_staff=True, permissions=INSPECTOR)


@pytest.fixture
def game_master(db):
    return UserFactory(username="gm", is_staff=True, permissions=GAME_MASTER)


# The Drift panel ------------------------------------------------------------------------


def test_world_page_shows_each_drift_rule_its_clock_and_the_next_due_run(admin_client, drifting):
    clock = DriftClock.objects.get(axis__world="alpha", axis__name="health")

    response = admin_client.get(WORLD_URL)

    assert response.status_code == 200
    html = panel(response)
    assert '<p id="drift-status">Running.</p>' in html
    row = html[html.index('data-axis="health"') :]
    row = row[: row.index("</tr>")]
    assert '<td class="pw-drift-rule">+0.01 every 1h toward 0.5</td>' in row
    assert when(clock.applied_until) in row
    assert when(clock.started_at) in row
    assert when(clock.applied_until + timedelta(hours=1)) in row  # next due
    assert "due now" not in row
    # Only the axis with a rule is listed.
    assert 'data-axis="wealth"' not in html and 'data-axis="luck"' not in html
    assert "<code>manage.py apply_drift alpha</code>" in html
    assert 'id="pause-drift"' in html and 'id="resume-drift"' not in html
    assert f'action="{PAUSE_URL}"' in html


def test_world_page_says_how_many_periods_are_due(admin_client, drifting):
    rewind(hours=3)
    clock = DriftClock.objects.get(axis__world="alpha", axis__name="health")

    html = panel(admin_client.get(WORLD_URL))

    assert when(clock.applied_until + timedelta(hours=1)) in html
    assert "<strong>(due now: 3 periods)</strong>" in html


def test_world_page_shows_who_paused_drift_and_since_when_then_who_resumed_it(
    admin_client, drifting, game_master
):
    pause_drift(world_id="alpha", actor=game_master, source=Source.ADMIN)
    state = DriftState.objects.get(world="alpha")

    paused = panel(admin_client.get(WORLD_URL))

    assert f"Paused by gm since {when(state.paused_at)}" in paused
    assert '<span class="pw-quiet">paused</span>' in paused  # no next due while paused
    assert 'id="resume-drift"' in paused and 'id="pause-drift"' not in paused
    assert f'action="{RESUME_URL}"' in paused

    resume_drift(world_id="alpha", actor=game_master, source=Source.ADMIN)
    state.refresh_from_db()
    running = panel(admin_client.get(WORLD_URL))

    assert f"Running. Last resumed by gm at {when(state.resumed_at)}." in running
    assert 'id="pause-drift"' in running


def test_world_page_of_a_world_without_drift_says_no_axis_drifts(admin_client):
    html = panel(admin_client.get(WORLD_URL))

    assert "No active axis of this world drifts" in html
    assert '<p id="drift-status">Running.</p>' in html


def test_world_page_queries_do_not_grow_with_the_drifting_axes(
    admin_client, worlds_dir, django_assert_max_num_queries
):
    add_drift(worlds_dir)
    admin_client.get(WORLD_URL)  # warm the registry cache and the session
    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get(WORLD_URL).status_code == 200
    few = len(captured)

    add_drift(worlds_dir, "wealth", "{ rate: -0.02, every: 1d }")
    add_drift(worlds_dir, "luck", "{ rate: 0.001, every: 15m, toward: 0.25 }")
    pause_drift(world_id="alpha")
    admin_client.get(WORLD_URL)
    with django_assert_max_num_queries(few):
        response = admin_client.get(WORLD_URL)
    assert [row.axis for row in response.context["drift"]["rows"]] == ["health", "luck", "wealth"]


# Pausing and resuming ------------------------------------------------------------------


def test_pause_button_applies_the_drift_due_then_pauses_with_the_user_as_actor(
    client, drifting, game_master
):
    hero = CharacterFactory(name="Ada Brass")
    rewind(hours=2)
    client.force_login(game_master)

    response = client.post(PAUSE_URL, HTTP_X_REQUEST_ID="req-drift-1", follow=True)

    assert response.redirect_chain == [(WORLD_URL, 302)]
    assert messages_of(response) == [DRIFT_PAUSED.format(world="alpha", deltas=1)]
    state = DriftState.objects.get(world="alpha")
    assert state.paused_by == "gm"
    assert state.paused_at is not None
    # The drift due was applied first, recorded as the user's, through the admin.
    drift = Event.objects.get(event_type__name=DRIFT)
    assert (drift.actor_user_id, drift.actor_name, drift.source) == (
        game_master.pk,
        "gm",
        Source.ADMIN,
    )
    assert drift.request_id == "req-drift-1"
    assert list(drift.deltas.values_list("character_id", "old_score", "new_score")) == [
        (hero.pk, 0.8, 0.78)
    ]
    [entry] = LogEntry.objects.all()
    assert (entry.object_id, entry.action_flag, entry.user) == ("alpha", CHANGE, game_master)
    assert entry.change_message == DRIFT_PAUSED_LOGGED.format(deltas=1)
    assert "Paused by gm since" in response.content.decode()


def test_pausing_a_paused_world_changes_nothing(client, drifting, game_master, inspector):
    pause_drift(world_id="alpha", actor=inspector, source=Source.ADMIN)
    before = drift_state()
    client.force_login(game_master)

    response = client.post(PAUSE_URL, follow=True)

    assert messages_of(response) == [DRIFT_ALREADY_PAUSED.format(world="alpha", by="inspector")]
    assert drift_state() == before
    assert not LogEntry.objects.exists()


def test_resume_button_skips_the_paused_periods_with_the_user_as_actor(
    client, drifting, game_master
):
    CharacterFactory()
    pause_drift(world_id="alpha", actor=game_master, source=Source.ADMIN)
    rewind(hours=5)  # five periods pass while paused
    paused_at = DriftClock.objects.get(world="alpha").applied_until
    client.force_login(game_master)

    response = client.post(RESUME_URL, follow=True)

    assert response.redirect_chain == [(WORLD_URL, 302)]
    assert messages_of(response) == [DRIFT_RESUMED.format(world="alpha")]
    state = DriftState.objects.get(world="alpha")
    assert (state.paused_at, state.paused_by, state.resumed_by) == (None, "", "gm")
    # The clock moved over the five whole periods without applying them.
    assert DriftClock.objects.get(world="alpha").applied_until == paused_at + timedelta(hours=5)
    assert not Event.objects.filter(event_type__name=DRIFT).exists()
    assert apply_drift(world_id="alpha").deltas == 0
    [entry] = LogEntry.objects.all()
    assert (entry.object_id, entry.user, entry.change_message) == (
        "alpha",
        game_master,
        DRIFT_RESUMED_LOGGED,
    )
    assert "Last resumed by gm at" in response.content.decode()


def test_resuming_a_running_world_changes_nothing(admin_client, drifting):
    before = drift_state()

    response = admin_client.post(RESUME_URL, follow=True)

    assert messages_of(response) == [DRIFT_NOT_PAUSED.format(world="alpha")]
    assert drift_state() == before
    assert not LogEntry.objects.exists()


def test_drift_buttons_refuse_a_user_without_the_apply_permission(client, drifting, inspector):
    CharacterFactory()
    rewind(hours=2)
    client.force_login(inspector)
    page = client.get(WORLD_URL)
    assert page.status_code == 200
    assert 'id="drift"' in page.content.decode()
    assert 'id="pause-drift"' not in page.content.decode()
    before = (table_state(), drift_state())

    assert client.post(PAUSE_URL).status_code == 403
    assert (table_state(), drift_state()) == before  # the drift due was not applied
    pause_drift(world_id="alpha")
    paused = drift_state()
    assert client.post(RESUME_URL).status_code == 403
    assert drift_state() == paused
    assert not LogEntry.objects.exists()


def test_drift_buttons_refuse_a_game_master_of_another_world(client, drifting, game_master):
    CharacterFactory()
    rewind(hours=2)
    WorldMembership.objects.create(world_id="beta", user=game_master)
    client.force_login(game_master)
    assert 'id="pause-drift"' not in client.get(WORLD_URL).content.decode()
    before = (table_state(), drift_state())

    assert client.post(PAUSE_URL).status_code == 403
    assert (table_state(), drift_state()) == before
    pause_drift(world_id="alpha")
    paused = drift_state()
    assert client.post(RESUME_URL).status_code == 403
    assert drift_state() == paused
    assert not LogEntry.objects.exists()
    # Their own world's drift is theirs to pause.
    response = client.post(reverse("admin:worlds_world_pause_drift", args=["beta"]))
    assert response.status_code == 302
    assert DriftState.objects.get(world="beta").paused_by == "gm"


def test_a_get_on_the_drift_buttons_is_405_and_changes_nothing(admin_client, drifting):
    before = drift_state()

    for url in (PAUSE_URL, RESUME_URL):
        response = admin_client.get(url)
        assert response.status_code == 405
        assert response["Allow"] == "POST"

    assert drift_state() == before


def test_drift_buttons_of_an_unknown_world_are_404(admin_client):
    url = reverse("admin:worlds_world_pause_drift", args=["nowhere"])

    assert admin_client.post(url).status_code == 404


# Drift events on the character page ----------------------------------------------------


def test_character_page_shows_a_drift_event_distinctly(admin_client, drifting):
    hero = CharacterFactory(name="Ada Brass")
    add_events(hero, 1)
    rewind(hours=3)
    apply_drift(world_id="alpha")
    drift = Event.objects.get(event_type__name=DRIFT)

    response = admin_client.get(reverse("admin:worlds_character_change", args=[hero.pk]))

    html = response.content.decode()
    events = html[html.index('id="axis-events"') :]
    row = events[events.index(f'data-event="{drift.pk}"') - 40 :]
    row = row[: row.index("</tr>")]
    assert f'<tr class="pw-event pw-drift" data-event="{drift.pk}">' in row
    assert "drift · 3 periods (+0.01 every 1h toward 0.5)</span>" in row
    metadata = dict(drift.metadata_entries.values_list("key", "value"))
    start, end = (datetime.fromisoformat(metadata[key]) for key in ("from", "to"))
    assert end - start == timedelta(hours=3)
    assert (
        f'<span class="pw-drift-label" title="periods from {start:%Y-%m-%d %H:%M:%S} '
        f"to {end:%Y-%m-%d %H:%M:%S};"
    ) in row
    assert "0.8 → 0.77 (-0.03)" in row
    # Events someone caused look as before.
    wage = Event.objects.get(event_type__name="wage_paid")
    assert f'<tr class="pw-event" data-event="{wage.pk}">' in events
    assert events.count("pw-drift-label") == 1


def test_character_page_queries_stay_the_same_with_drift_events(
    admin_client, drifting, django_assert_max_num_queries
):
    hero = CharacterFactory()
    add_events(hero, 2)
    url = reverse("admin:worlds_character_change", args=[hero.pk])
    admin_client.get(url)  # warm the registry cache and the session
    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get(url).status_code == 200
    few = len(captured)

    for hours in (3, 2, 1):
        rewind(hours=hours)
        apply_drift(world_id="alpha")
    assert Event.objects.filter(event_type__name=DRIFT).count() == 3
    admin_client.get(url)
    with django_assert_max_num_queries(few):
        response = admin_client.get(url)
    drifts = [event["drift"] for event in response.context["inspector"]["events"]]
    assert [d["periods"] for d in drifts if d] == [1, 2, 3]


def test_the_axis_registry_shows_each_axis_drift(admin_client, worlds_dir):
    add_drift(worlds_dir)

    page = admin_client.get(reverse("admin:axes_axis_changelist")).content.decode()

    assert "+0.01 every 1h toward 0.5" in page
