"""The "Preview sync" page and the confirmation it asks for before a sync.

The world page's sync button, the Worlds page's "sync all" button and the "sync selected"
action show what the sync would do (the label matrix, the characters that change label,
axes added and retired, drift) and sync only when the confirmation carries the policy
hashes previewed and the files still have them.
"""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from access.models import WorldMembership
from tests.admin.conftest import INSPECTOR, messages_of
from tests.admin.sync_forms import confirm_form
from tests.conftest import table_state
from tests.factories import CharacterFactory, UserFactory
from tests.worlds.impact_edits import (
    add_charm_retire_luck,
    edit,
    move_wealth_edges,
    policies,
    set_drift,
)
from worlds.admin.registry import SYNC_CHANGED, SYNC_PREVIEW_TITLE
from worlds.admin.sync_preview import (
    SYNC_CONFIRM_FIRST,
    SYNC_FILES_CHANGED,
    SYNC_PREVIEW_HIDDEN,
    SYNC_PREVIEW_UP_TO_DATE,
    file_hashes,
)
from worlds.models import Character, World
from worlds.services import IMPACT_NUMERIC

pytestmark = pytest.mark.usefixtures("synced")

WORLD_URL = reverse("admin:worlds_world_change", args=["alpha"])
SYNC_URL = reverse("admin:worlds_world_sync", args=["alpha"])
SYNC_ALL_URL = reverse("admin:worlds_world_sync_all")


@pytest.fixture
def changed(worlds_dir):
    """Alpha characters (two whose wealth label moves) under changed files."""
    characters = [
        CharacterFactory(name=name, scores={"wealth": score})
        for name, score in (("Ada", 0.42), ("Bo", 0.2), ("Cy", 0.9))
    ]
    move_wealth_edges(worlds_dir)
    add_charm_retire_luck(worlds_dir)
    set_drift(worlds_dir, "health", "{ rate: 0.01, every: 1h, toward: 0.5 }")
    return characters


def cell(html: str, old: str, new: str) -> str:
    """Return the text of the matrix cell old -> new."""
    return html.split(f'data-old="{old}" data-new="{new}">', 1)[1].split("<", 1)[0]


def test_the_world_page_links_the_preview_and_its_sync_button_opens_it(admin_client):
    html = admin_client.get(WORLD_URL).content.decode()

    assert f'<a href="{SYNC_URL}" id="preview-sync">Preview sync</a>' in html
    assert f'<form method="get" action="{SYNC_URL}">' in html
    assert 'id="sync-world"' in html


def test_the_preview_shows_the_impact_and_writes_nothing(admin_client, changed):
    ada, bo, cy = changed
    before = table_state()

    response = admin_client.get(SYNC_URL)

    assert response.status_code == 200
    assert response.context["title"] == SYNC_PREVIEW_TITLE.format(world="alpha")
    html = response.content.decode()
    assert "Impact on 3 characters" in html
    assert "Labels of wealth: 2 of 3 scores change label" in html
    assert (cell(html, "well-kept", "modest"), cell(html, "modest", "poor")) == ("1", "1")
    assert (cell(html, "decadent", "decadent"), cell(html, "poor", "poor")) == ("1", "0")
    assert 'class="pw-score pw-moved" data-old="well-kept" data-new="modest"' in html
    for character in (ada, bo):
        link = reverse("admin:worlds_character_change", args=[character.pk])
        assert f'<a href="{link}">#{character.pk} {character.name}</a>' in html
    assert reverse("admin:worlds_character_change", args=[cy.pk]) not in html
    assert "charm: 3 characters backfilled at 0.65" in html
    assert "luck: 3 scores stop moving" in html
    assert "+0.01 every 1h toward 0.5" in html and "none -&gt; +0.24" in html
    assert confirm_form(response) == {"policy_hash": [f"alpha:{file_hashes(['alpha'])['alpha']}"]}
    assert table_state() == before


def test_a_numeric_axis_says_it_has_no_matrix(admin_client, worlds_dir):
    move_wealth_edges(worlds_dir)

    html = admin_client.get(SYNC_URL).content.decode()

    assert f"{IMPACT_NUMERIC.capitalize()}." in html


def test_confirming_the_preview_syncs_as_before(admin_client, changed):
    ada = changed[0]
    preview = admin_client.get(SYNC_URL)

    response = admin_client.post(SYNC_URL, confirm_form(preview), follow=True)

    assert response.redirect_chain == [(WORLD_URL, 302)]
    world = World.objects.get(pk="alpha")
    assert world.policy_hash == file_hashes(["alpha"])["alpha"]
    [message] = messages_of(response)
    # What the preview listed is what the sync did (and says it did).
    changes = "; ".join(preview.context["worlds"][0]["changes"])
    assert message == SYNC_CHANGED.format(world="alpha", changes=changes)
    ada.refresh_from_db()
    assert ada.current_state_json["axes"]["wealth"]["label"] == "modest"
    assert LogEntry.objects.filter(object_id="alpha").count() == 1


def test_files_changed_between_preview_and_confirmation_are_previewed_not_synced(
    admin_client, changed, worlds_dir
):
    preview = admin_client.get(SYNC_URL)
    old_hash = World.objects.get(pk="alpha").policy_hash
    # Someone moves decadent's edge up to 0.95 meanwhile: Cy (0.9) becomes wealthy.
    edit(worlds_dir, "thresholds.yaml", "decadent: { min: 0.80", "decadent: { min: 0.95")
    edit(
        worlds_dir,
        "thresholds.yaml",
        "wealthy: { min: 0.60, max: 0.79 }",
        "wealthy: { min: 0.60, max: 0.94 }",
    )
    before = table_state()

    response = admin_client.post(SYNC_URL, confirm_form(preview))

    assert response.status_code == 200
    assert messages_of(response)[0] == SYNC_FILES_CHANGED.format(worlds="alpha")
    assert table_state() == before
    assert World.objects.get(pk="alpha").policy_hash == old_hash
    # The new preview shows the files as they are now, and confirms them.
    html = response.content.decode()
    assert cell(html, "decadent", "wealthy") == "1"
    again = confirm_form(response)
    assert again == {"policy_hash": [f"alpha:{file_hashes(['alpha'])['alpha']}"]}
    admin_client.post(SYNC_URL, again)
    assert World.objects.get(pk="alpha").policy_hash == file_hashes(["alpha"])["alpha"]


def test_a_post_confirming_no_preview_is_shown_the_preview(admin_client, changed):
    before = table_state()

    response = admin_client.post(SYNC_URL)

    assert response.status_code == 200
    assert messages_of(response) == [SYNC_CONFIRM_FIRST]
    assert 'id="confirm-sync"' in response.content.decode()
    assert table_state() == before


def test_a_world_in_sync_has_nothing_to_confirm(admin_client):
    response = admin_client.get(SYNC_URL)

    assert messages_of(response) == [SYNC_PREVIEW_UP_TO_DATE.format(world="alpha")]
    assert 'id="confirm-sync"' not in response.content.decode()


def test_sync_all_previews_every_world_and_refuses_a_world_that_appeared_since(
    admin_client, changed, worlds_dir
):
    changelist = admin_client.get(reverse("admin:worlds_world_changelist")).content.decode()
    assert f'<form method="get" action="{SYNC_ALL_URL}">' in changelist
    preview = admin_client.get(SYNC_ALL_URL)
    html = preview.content.decode()
    assert 'id="preview-alpha"' in html and 'id="preview-beta"' in html
    assert messages_of(preview) == [SYNC_PREVIEW_UP_TO_DATE.format(world="beta")]
    confirmation = confirm_form(preview)
    assert "world" not in confirmation
    # A new world's files arrive before the confirmation.
    gamma = policies(worlds_dir, "gamma")
    gamma.mkdir(parents=True)
    for path in policies(worlds_dir, "beta").iterdir():
        (gamma / path.name).write_text(path.read_text())
    before = table_state()

    response = admin_client.post(SYNC_ALL_URL, confirmation)

    assert messages_of(response)[0] == SYNC_FILES_CHANGED.format(worlds="gamma")
    assert table_state() == before
    assert 'id="preview-gamma"' in response.content.decode()
    admin_client.post(SYNC_ALL_URL, confirm_form(response))
    assert set(World.objects.values_list("world_id", flat=True)) == {"alpha", "beta", "gamma"}


def test_the_selected_action_previews_and_syncs_only_the_selected_worlds(
    admin_client, changed, worlds_dir
):
    edit(worlds_dir, "axes.yaml", "default: 0.1", "default: 0.2", world_id="beta")
    beta_hash = World.objects.get(pk="beta").policy_hash

    preview = admin_client.post(
        reverse("admin:worlds_world_changelist"),
        {"action": "sync_selected", "_selected_action": ["alpha"]},
    )

    assert 'id="preview-beta"' not in preview.content.decode()
    confirmation = confirm_form(preview)
    assert confirmation["world"] == ["alpha"]
    admin_client.post(SYNC_ALL_URL, confirmation)
    assert World.objects.get(pk="alpha").policy_hash == file_hashes(["alpha"])["alpha"]
    assert World.objects.get(pk="beta").policy_hash == beta_hash


def user_client(client, *, permissions: list[str], worlds=()):
    user = UserFactory(is_staff=True)
    user.user_permissions.set(
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in (name.split(".") for name in permissions)
    )
    for world_id in worlds:
        WorldMembership.objects.create(user=user, world_id=world_id)
    client.force_login(user)
    return client


def test_an_inspector_may_preview_but_not_confirm(client, changed):
    inspector = user_client(client, permissions=INSPECTOR)
    before = table_state()

    preview = inspector.get(SYNC_URL)

    assert preview.status_code == 200
    html = preview.content.decode()
    assert "Labels of wealth" in html and 'id="confirm-sync"' not in html
    assert inspector.get(SYNC_ALL_URL).status_code == 200
    assert (
        inspector.post(
            SYNC_URL, {"policy_hash": f"alpha:{file_hashes(['alpha'])['alpha']}"}
        ).status_code
        == 403
    )
    assert inspector.post(SYNC_ALL_URL).status_code == 403
    assert table_state() == before


def test_a_user_without_the_view_permission_gets_no_preview(client, changed):
    staff = user_client(client, permissions=["ledger.view_event"])

    assert staff.get(SYNC_URL).status_code == 403
    assert staff.get(SYNC_ALL_URL).status_code == 403


def test_a_user_limited_to_another_world_sees_no_character_of_this_one(client, changed):
    ada = changed[0]
    limited = user_client(client, permissions=INSPECTOR, worlds=["beta"])

    response = limited.get(SYNC_URL)

    assert response.status_code == 200
    assert messages_of(response) == [SYNC_PREVIEW_HIDDEN.format(world="alpha")]
    html = response.content.decode()
    assert "create axis charm" in html
    assert ada.name not in html and "Labels of wealth" not in html


def test_an_unknown_world_is_404(admin_client):
    assert admin_client.get(reverse("admin:worlds_world_sync", args=["nowhere"])).status_code == 404
    assert Character.objects.count() == 0
