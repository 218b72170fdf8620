"""Registry pages (axes, bands, event types, worlds) and the admin index."""

from html import unescape

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse

from axes.models import Axis, AxisValue
from ledger.models import EventType
from tests.admin.conftest import messages_of
from tests.admin.sync_forms import confirm_form, preview_and_confirm
from tests.conftest import table_state
from worlds.admin.registry import SYNC_CHANGED, SYNC_LOGGED, SYNC_UNCHANGED
from worlds.admin.sync_preview import file_hashes
from worlds.models import Character, World
from worlds.policies import POLICY_OVERLAPPING_BANDS
from worlds.services import SYNC_INVALID_POLICIES

pytestmark = pytest.mark.usefixtures("synced")

SOURCE_HINT = "/<world>/policies/*.yaml and run manage.py sync_policies."


@pytest.mark.parametrize(
    "model", ["axes.axis", "axes.axisvalue", "ledger.eventtype", "worlds.world"]
)
def test_registry_changelists_and_change_pages_render(admin_client, hero, model):
    app_label, model_name = model.split(".")
    changelist = admin_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert changelist.status_code == 200
    objects = list(changelist.context["cl"].result_list)
    every = apps.get_model(app_label, model_name).objects.values_list("pk", flat=True)
    assert sorted(obj.pk for obj in objects) == sorted(every)

    change = admin_client.get(
        reverse(f"admin:{app_label}_{model_name}_change", args=[objects[0].pk])
    )
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()


@pytest.mark.parametrize("model", ["axes.axis", "axes.axisvalue", "worlds.world"])
def test_registry_pages_say_where_to_edit(admin_client, model):
    app_label, model_name = model.split(".")
    response = admin_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))
    assert SOURCE_HINT in unescape(response.content.decode())


def test_event_type_page_says_types_come_from_the_ledger(admin_client, hero):
    response = admin_client.get(reverse("admin:ledger_eventtype_changelist"))
    assert "created on first use by the ledger" in response.content.decode()
    assert {t.name for t in response.context["cl"].result_list} == set(
        EventType.objects.values_list("name", flat=True)
    )


def test_axis_page_shows_bands_in_order(admin_client):
    wealth = Axis.objects.get(world="alpha", name="wealth")

    response = admin_client.get(reverse("admin:axes_axis_change", args=[wealth.pk]))

    formset = response.context["inline_admin_formsets"][0].formset
    assert [form.instance.value for form in formset.forms] == [
        "poor",
        "modest",
        "well-kept",
        "wealthy",
        "decadent",
    ]
    changelist = admin_client.get(reverse("admin:axes_axis_changelist"), {"q": "wealth"})
    html = changelist.content.decode()
    assert "poor [0.0, 0.19], modest [0.2, 0.39], well-kept [0.4, 0.59]" in html


def test_nobody_may_add_change_or_delete_registry_rows(admin_client):
    wealth = Axis.objects.get(world="alpha", name="wealth")
    band = AxisValue.objects.filter(axis=wealth).first()
    before = table_state()

    for name, pk in (
        ("axes_axis", wealth.pk),
        ("axes_axisvalue", band.pk),
        ("worlds_world", "alpha"),
    ):
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 403
        change = reverse(f"admin:{name}_change", args=[pk])
        assert admin_client.post(change, {"name": "riches", "_save": "Save"}).status_code == 403
        delete = reverse(f"admin:{name}_delete", args=[pk])
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert table_state() == before


def test_world_page_shows_the_validation_report_and_sync_status(admin_client):
    world = World.objects.get(pk="alpha")

    response = admin_client.get(reverse("admin:worlds_world_change", args=["alpha"]))

    html = response.content.decode()
    assert 'id="policy-report"' in html
    assert "In sync with the policy files" in html
    assert world.policy_hash in html
    assert "1.0.0" in html
    assert "wealth" in html and "poor [0.0, 0.19]" in html
    assert "Errors (0)" in html


def test_world_pages_flag_files_changed_since_the_last_sync(admin_client, worlds_dir):
    axes = worlds_dir / "alpha" / "policies" / "axes.yaml"
    axes.write_text(axes.read_text().replace("default: 0.8", "default: 0.7"))

    change = admin_client.get(reverse("admin:worlds_world_change", args=["alpha"]))
    changelist = admin_client.get(reverse("admin:worlds_world_changelist"))

    assert "Out of date: the policy files changed since the last sync" in change.content.decode()
    assert "out of date: the policy files changed" in changelist.content.decode()


def test_world_sync_action_syncs_changed_files(admin_client, worlds_dir):
    axes = worlds_dir / "alpha" / "policies" / "axes.yaml"
    axes.write_text(axes.read_text().replace("default: 0.8", "default: 0.7"))
    old_hash = World.objects.get(pk="alpha").policy_hash

    # The action shows the preview of the selected worlds; its form confirms the sync.
    preview = admin_client.post(
        reverse("admin:worlds_world_changelist"),
        {"action": "sync_selected", "_selected_action": ["alpha", "beta"]},
    )
    assert World.objects.get(pk="alpha").policy_hash == old_hash
    response = admin_client.post(
        reverse("admin:worlds_world_sync_all"), confirm_form(preview), follow=True
    )

    new_hash = World.objects.get(pk="alpha").policy_hash
    assert messages_of(response) == [
        SYNC_CHANGED.format(
            world="alpha",
            changes="update axis health: default 0.8 -> 0.7; "
            f"record policy version 1.0.0 hash {new_hash[:12]}",
        ),
        SYNC_UNCHANGED.format(world="beta"),
    ]
    assert new_hash != old_hash
    assert Axis.objects.get(world="alpha", name="health").default_score == 0.7
    # The sync is in the admin log, with who started it; the unchanged world is not.
    [entry] = LogEntry.objects.all()
    assert (entry.object_id, entry.action_flag, entry.user.username) == ("alpha", CHANGE, "admin")
    assert entry.change_message == SYNC_LOGGED.format(
        changes="update axis health: default 0.8 -> 0.7; "
        f"record policy version 1.0.0 hash {new_hash[:12]}"
    )


def test_world_sync_reports_policy_errors_and_writes_nothing(admin_client, worlds_dir, hero):
    thresholds = worlds_dir / "alpha" / "policies" / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text().replace("min: 0.20", "min: 0.10"))
    before = table_state()
    url = reverse("admin:worlds_world_sync", args=["alpha"])
    overlap = POLICY_OVERLAPPING_BANDS.format(
        label="modest", min=0.1, max=0.39, prev="poor", pmin=0.0, pmax=0.19
    )
    errors = [
        SYNC_INVALID_POLICIES.format(names="alpha"),
        f"alpha: {thresholds}:6: axes.wealth.values.modest.min: {overlap}",
    ]

    # The preview reports the errors and offers no confirmation ...
    preview = admin_client.get(url)
    assert messages_of(preview) == errors
    assert 'id="confirm-sync"' not in preview.content.decode()
    # ... and a sync confirming these very files is refused as before.
    confirmed = {"policy_hash": [f"alpha:{file_hashes(['alpha'])['alpha']}"]}
    response = admin_client.post(url, confirmed, follow=True)

    assert messages_of(response) == errors
    assert {m.level_tag for m in response.context["messages"]} == {"error"}
    assert table_state() == before
    assert "Policy files have" in response.content.decode()
    assert not LogEntry.objects.exists()


def test_sync_all_button_syncs_every_world(admin_client, worlds_dir):
    axes = worlds_dir / "beta" / "policies" / "axes.yaml"
    axes.write_text(axes.read_text().replace("default: 0.1", "default: 0.2"))

    response = preview_and_confirm(
        admin_client, reverse("admin:worlds_world_sync_all"), follow=True
    )

    assert response.redirect_chain == [(reverse("admin:worlds_world_changelist"), 302)]
    new_hash = World.objects.get(pk="beta").policy_hash
    assert messages_of(response) == [
        SYNC_UNCHANGED.format(world="alpha"),
        SYNC_CHANGED.format(
            world="beta",
            changes="update axis wealth: default 0.1 -> 0.2; "
            f"record policy version 2.0.0 hash {new_hash[:12]}",
        ),
    ]
    assert Axis.objects.get(world="beta", name="wealth").default_score == 0.2
    assert admin_client.put(reverse("admin:worlds_world_sync_all")).status_code == 405


def test_sync_needs_the_change_world_permission(client, worlds_dir):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_world"))
    client.force_login(user)

    assert client.get(reverse("admin:worlds_world_changelist")).status_code == 200
    assert client.post(reverse("admin:worlds_world_sync", args=["alpha"])).status_code == 403
    assert client.post(reverse("admin:worlds_world_sync_all")).status_code == 403
    response = client.get(reverse("admin:worlds_world_changelist"))
    assert response.context["action_form"] is None


def test_index_describes_the_product_and_links_the_api_docs(admin_client):
    response = admin_client.get(reverse("admin:index"))

    html = response.content.decode()
    assert "A character-state ledger for game worlds." in html
    assert 'href="/api/docs/"' in html
    assert reverse("admin:worlds_character_changelist") in html  # the app list is still there


def test_deleting_a_world_is_refused_and_characters_stay(admin_client, hero):
    response = admin_client.post(
        reverse("admin:worlds_world_changelist"),
        {"action": "delete_selected", "_selected_action": ["alpha"]},
        follow=True,
    )
    # No such action: Django's changelist answers as for an empty choice.
    assert response.redirect_chain == [(reverse("admin:worlds_world_changelist"), 302)]
    assert messages_of(response) == ["No action selected."]
    assert World.objects.filter(pk="alpha").exists()
    assert Character.objects.filter(pk=hero.pk).exists()


@pytest.mark.parametrize("app_label", ["worlds", "axes", "ledger"])
def test_app_index_pages_are_the_admins(admin_client, app_label):
    """The breadcrumbs of every inspector page link the app index; a browser gets it.

    /admin/worlds/ is also the API's world list: clients asking for HTML get the page.
    """
    response = admin_client.get(
        reverse("admin:app_list", kwargs={"app_label": app_label}),
        HTTP_ACCEPT="text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "admin/app_index.html" in [t.name for t in response.templates]
    assert response.context["app_label"] == app_label
