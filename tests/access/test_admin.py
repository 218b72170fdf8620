"""No self-promotion through the admin: every privilege stays with the superusers.

The staff member here ("helpdesk") holds every permission on users and groups, the
power that let a staff member make themselves superuser and take over the superuser's
account; each test shows that the power stops short of privileges, and that a superuser
keeps it.
"""

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from access.admin import PRIVILEGE_FIELDS
from access.models import WorldMembership
from access.roles import GAME_MASTERS, INSPECTORS
from tests.access.conftest import PASSWORD, make_user, permissions, staff_user

pytestmark = pytest.mark.django_db

User = get_user_model()
NEW_PASSWORD = "Copper-flue-7-ledger"
HELPDESK_PERMISSIONS = [
    f"auth.{action}_{model}"
    for model in ("user", "group")
    for action in ("add", "change", "delete", "view")
]


@pytest.fixture
def helpdesk(db):
    return staff_user("helpdesk", perms=HELPDESK_PERMISSIONS)


@pytest.fixture
def player(db):
    return make_user("player")


@pytest.fixture
def as_helpdesk(client, helpdesk):
    client.force_login(helpdesk)
    return client


@pytest.fixture
def as_root(client, superuser):
    client.force_login(superuser)
    return client


def user_form(user, **changes) -> dict:
    """The change form of ``user`` as submitted, with ``changes``; unticked boxes left out."""
    joined = timezone.localtime(user.date_joined)
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": [group.pk for group in user.groups.all()],
        "user_permissions": [permission.pk for permission in user.user_permissions.all()],
        "date_joined_0": joined.strftime("%Y-%m-%d"),
        "date_joined_1": joined.strftime("%H:%M:%S"),
        # The field has a callable default, so the form compares with a hidden initial.
        "initial-date_joined_0": joined.strftime("%Y-%m-%d"),
        "initial-date_joined_1": joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
        **changes,
    }
    return {
        key: ("on" if value is True else value) for key, value in data.items() if value is not False
    }


def privileges(user) -> tuple:
    user = User.objects.get(pk=user.pk)
    return (
        user.is_superuser,
        user.is_staff,
        sorted(user.groups.values_list("name", flat=True)),
        sorted(user.user_permissions.values_list("codename", flat=True)),
    )


def escalation(user) -> dict:
    """Every privilege a form could grant, plus a harmless change to prove it saved."""
    return {
        "first_name": "Renamed",
        "is_superuser": True,
        "is_staff": True,
        "groups": list(Group.objects.filter(name=GAME_MASTERS).values_list("pk", flat=True)),
        "user_permissions": [permission.pk for permission in permissions("ledger.apply_event")],
    }


def change_url(user) -> str:
    return reverse("admin:auth_user_change", args=[user.pk])


def password_url(user) -> str:
    return reverse("admin:auth_user_password_change", args=[user.pk])


def delete_url(user) -> str:
    return reverse("admin:auth_user_delete", args=[user.pk])


def password_form() -> dict:
    return {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}


def admin_request(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


# Users: the privilege fields -------------------------------------------------------------


@pytest.mark.parametrize("target", ["themselves", "another user"])
def test_staff_cannot_grant_privileges_through_the_change_form(
    as_helpdesk, helpdesk, player, target
):
    user = helpdesk if target == "themselves" else player
    before = privileges(user)

    response = as_helpdesk.post(change_url(user), user_form(user, **escalation(user)))

    if target == "themselves":
        # A staff account is changed by superusers only, its owner included.
        assert response.status_code == 403
        assert User.objects.get(pk=user.pk).first_name != "Renamed"
    else:
        assert response.status_code == 302
        assert User.objects.get(pk=user.pk).first_name == "Renamed"
    assert privileges(user) == before


def test_staff_cannot_reset_the_password_of_another_staff_account(as_helpdesk, game_master):
    hashed = game_master.password

    response = as_helpdesk.post(
        reverse("admin:auth_user_password_change", args=[game_master.pk]),
        {"password1": "taken-over-9876", "password2": "taken-over-9876"},
    )

    assert response.status_code == 403
    game_master.refresh_from_db()
    assert game_master.password == hashed


def test_a_superuser_can_grant_privileges_through_the_change_form(as_root, player):
    response = as_root.post(change_url(player), user_form(player, **escalation(player)))

    assert response.status_code == 302
    assert privileges(player) == (True, True, [GAME_MASTERS], ["apply_event"])


def test_the_privilege_fields_are_read_only_to_staff_on_the_add_and_change_forms(
    helpdesk, superuser, player
):
    user_admin = admin.site.get_model_admin(User)

    for obj in (None, player):
        assert set(PRIVILEGE_FIELDS) <= set(
            user_admin.get_readonly_fields(admin_request(helpdesk), obj)
        )
        assert not set(PRIVILEGE_FIELDS) & set(
            user_admin.get_readonly_fields(admin_request(superuser), obj)
        )


def test_the_change_form_shows_staff_no_privilege_inputs(as_helpdesk, player):
    form = as_helpdesk.get(change_url(player)).context["adminform"].form

    assert not set(PRIVILEGE_FIELDS) & set(form.fields)
    assert "first_name" in form.fields


def test_staff_cannot_add_a_privileged_user(as_helpdesk):
    response = as_helpdesk.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newbie",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
            "is_superuser": "on",
            "is_staff": "on",
        },
    )

    assert response.status_code == 302
    assert privileges(User.objects.get(username="newbie")) == (False, False, [], [])


# Users: superuser accounts ---------------------------------------------------------------


def test_staff_cannot_open_or_post_the_password_form_of_a_superuser(as_helpdesk, superuser):
    assert as_helpdesk.get(password_url(superuser)).status_code == 403
    assert as_helpdesk.post(password_url(superuser), password_form()).status_code == 403
    assert User.objects.get(pk=superuser.pk).check_password(PASSWORD)


def test_staff_can_still_set_the_password_of_a_user_who_is_not_superuser(as_helpdesk, player):
    assert as_helpdesk.post(password_url(player), password_form()).status_code == 302
    assert User.objects.get(pk=player.pk).check_password(NEW_PASSWORD)


def test_a_superuser_can_set_the_password_of_another_superuser(as_root):
    other = make_user("root2", is_staff=True, is_superuser=True)

    assert as_root.get(password_url(other)).status_code == 200
    assert as_root.post(password_url(other), password_form()).status_code == 302
    assert User.objects.get(pk=other.pk).check_password(NEW_PASSWORD)


def test_staff_cannot_change_a_superuser(as_helpdesk, superuser):
    page = as_helpdesk.get(change_url(superuser))
    response = as_helpdesk.post(
        change_url(superuser),
        user_form(superuser, first_name="Renamed", is_superuser=False, is_active=False),
    )

    assert page.context["has_change_permission"] is False  # shown read-only, at most
    assert response.status_code == 403
    stored = User.objects.get(pk=superuser.pk)
    assert (stored.first_name, stored.is_superuser, stored.is_active) == ("", True, True)


def test_a_superuser_can_change_another_superuser(as_root):
    other = make_user("root2", is_staff=True, is_superuser=True)

    response = as_root.post(change_url(other), user_form(other, first_name="Renamed"))

    assert response.status_code == 302
    assert User.objects.get(pk=other.pk).first_name == "Renamed"


def test_staff_cannot_delete_a_superuser_one_by_one_or_in_bulk(as_helpdesk, superuser, player):
    assert as_helpdesk.get(delete_url(superuser)).status_code == 403
    assert as_helpdesk.post(delete_url(superuser), {"post": "yes"}).status_code == 403
    bulk = as_helpdesk.post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [superuser.pk, player.pk], "post": "yes"},
    )

    assert bulk.status_code == 403
    assert User.objects.filter(pk__in=[superuser.pk, player.pk]).count() == 2


def test_staff_can_still_delete_a_user_who_is_not_superuser(as_helpdesk, player):
    assert as_helpdesk.post(delete_url(player), {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=player.pk).exists()


def test_a_superuser_can_delete_another_superuser(as_root):
    other = make_user("root2", is_staff=True, is_superuser=True)

    assert as_root.post(delete_url(other), {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=other.pk).exists()


# Groups ---------------------------------------------------------------------------------


def group_permissions(name: str) -> set[str]:
    return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))


def test_staff_cannot_change_the_permissions_of_a_group(as_helpdesk):
    inspectors = Group.objects.get(name=INSPECTORS)
    before = group_permissions(INSPECTORS)
    grab = [permission.pk for permission in permissions("auth.change_user", "ledger.apply_event")]

    response = as_helpdesk.post(
        reverse("admin:auth_group_change", args=[inspectors.pk]),
        {"name": "Inspectors renamed", "permissions": grab},
    )

    assert response.status_code == 403
    assert group_permissions(INSPECTORS) == before


def test_staff_cannot_add_a_group_with_permissions(as_helpdesk):
    grab = [permission.pk for permission in permissions("auth.change_user")]

    response = as_helpdesk.post(
        reverse("admin:auth_group_add"), {"name": "cabal", "permissions": grab}
    )

    assert response.status_code == 403
    assert not Group.objects.filter(name="cabal").exists()


def test_staff_cannot_open_the_group_forms(as_helpdesk):
    inspectors = Group.objects.get(name=INSPECTORS)

    assert as_helpdesk.get(reverse("admin:auth_group_add")).status_code == 403
    change = as_helpdesk.get(reverse("admin:auth_group_change", args=[inspectors.pk]))
    assert "permissions" not in change.context["adminform"].form.fields


def test_a_superuser_can_set_the_permissions_of_a_group(as_root):
    inspectors = Group.objects.get(name=INSPECTORS)
    chosen = [permission.pk for permission in permissions("ledger.view_event")]

    response = as_root.post(
        reverse("admin:auth_group_change", args=[inspectors.pk]),
        {"name": INSPECTORS, "permissions": chosen},
    )

    assert response.status_code == 302
    assert group_permissions(INSPECTORS) == {"view_event"}


# World memberships ----------------------------------------------------------------------


def test_a_superuser_adds_a_world_membership_through_the_admin(as_root, synced, player):
    response = as_root.post(
        reverse("admin:access_worldmembership_add"), {"world": "alpha", "user": player.pk}
    )

    assert response.status_code == 302
    assert WorldMembership.objects.get().user == player


def test_the_admin_refuses_a_membership_naming_both_a_user_and_a_group(as_root, synced, player):
    response = as_root.post(
        reverse("admin:access_worldmembership_add"),
        {"world": "alpha", "user": player.pk, "group": Group.objects.get(name=INSPECTORS).pk},
    )

    assert response.status_code == 200
    assert not WorldMembership.objects.exists()


def test_staff_may_view_world_memberships_but_not_edit_them(client, synced, player):
    viewer = staff_user(
        "viewer",
        perms=[
            "access.view_worldmembership",
            "access.change_worldmembership",
            "access.add_worldmembership",
            "access.delete_worldmembership",
        ],
    )
    membership = WorldMembership.objects.create(world_id="alpha", user=player)
    client.force_login(viewer)

    assert client.get(reverse("admin:access_worldmembership_changelist")).status_code == 200
    assert client.get(reverse("admin:access_worldmembership_add")).status_code == 403
    change = reverse("admin:access_worldmembership_change", args=[membership.pk])
    assert client.post(change, {"world": "beta", "user": player.pk}).status_code == 403
    delete = reverse("admin:access_worldmembership_delete", args=[membership.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert WorldMembership.objects.get().world_id == "alpha"


# The admin log --------------------------------------------------------------------------


def test_the_admin_log_lists_a_change_made_through_the_admin(as_root, player):
    as_root.post(change_url(player), user_form(player, **escalation(player)))

    response = as_root.get(reverse("admin:admin_logentry_changelist"))

    assert response.status_code == 200
    entry = LogEntry.objects.get(object_id=str(player.pk))
    assert entry.action_flag == CHANGE
    assert list(response.context["cl"].result_list) == [entry]
    html = response.content.decode()
    assert "player" in html
    assert (
        "Changed First name, Staff status, Superuser status, Groups and User permissions." in html
    )


def test_nobody_may_add_change_or_delete_admin_log_entries(as_root, superuser, player):
    as_root.post(change_url(player), user_form(player, first_name="Renamed"))
    entry = LogEntry.objects.get()
    log_admin = admin.site.get_model_admin(LogEntry)
    request = admin_request(superuser)

    assert not log_admin.has_add_permission(request)
    assert not log_admin.has_change_permission(request, entry)
    assert not log_admin.has_delete_permission(request, entry)
    assert as_root.get(reverse("admin:admin_logentry_add")).status_code == 403
    change = reverse("admin:admin_logentry_change", args=[entry.pk])
    assert as_root.get(change).status_code == 200
    assert as_root.post(change, {"object_repr": "forged"}).status_code == 403
    delete = reverse("admin:admin_logentry_delete", args=[entry.pk])
    assert as_root.post(delete, {"post": "yes"}).status_code == 403
    assert LogEntry.objects.get().object_repr == "player"


def test_the_admin_log_is_hidden_from_staff_without_its_view_permission(as_helpdesk):
    assert as_helpdesk.get(reverse("admin:admin_logentry_changelist")).status_code == 403
