"""The demo logins of the roles, and load_demo printing them beside the admin's."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from access.roles import GAME_MASTERS, INSPECTORS
from worlds.demo import DEMO_ROLE_MISSING, create_demo_users

pytestmark = pytest.mark.django_db

User = get_user_model()
LOGIN = re.compile(r"^(staff|inspector|game master) login: (\S+) / (\S+)$", re.MULTILINE)


@pytest.fixture
def no_demo_data(monkeypatch):
    """load_demo without its characters (they need the shipped worlds): logins only."""
    monkeypatch.setattr("worlds.management.commands.load_demo.load_demo_data", lambda: [])


def load_demo(*args: str) -> str:
    out = io.StringIO()
    # The test runner turns DEBUG off; the refusal that brings is tests/test_security.py's.
    call_command("load_demo", "--i-know-this-is-not-production", *args, stdout=out)
    return out.getvalue()


def test_create_demo_users_makes_one_staff_login_per_role():
    logins = create_demo_users()

    assert [(role, username) for role, username, _ in logins] == [
        ("inspector", "inspector"),
        ("game master", "gamemaster"),
    ]
    for (_, username, password), group in zip(logins, [INSPECTORS, GAME_MASTERS], strict=True):
        user = User.objects.get(username=username)
        assert (user.is_staff, user.is_superuser, user.is_active) == (True, False, True)
        assert list(user.groups.values_list("name", flat=True)) == [group]
        assert user.check_password(password)


def test_a_rerun_gives_new_passwords_and_undoes_changes_to_the_demo_users():
    first = dict((username, password) for _, username, password in create_demo_users())
    inspector = User.objects.get(username="inspector")
    inspector.is_superuser = True
    inspector.save()
    inspector.groups.add(Group.objects.get(name=GAME_MASTERS))

    second = dict((username, password) for _, username, password in create_demo_users())

    inspector = User.objects.get(username="inspector")
    assert not inspector.is_superuser
    assert list(inspector.groups.values_list("name", flat=True)) == [INSPECTORS]
    assert first["inspector"] != second["inspector"]
    assert inspector.check_password(second["inspector"])


def test_create_demo_users_refuses_without_the_role_groups_and_writes_nothing():
    Group.objects.filter(name=GAME_MASTERS).delete()

    with pytest.raises(
        ImproperlyConfigured, match=re.escape(DEMO_ROLE_MISSING.format(group=GAME_MASTERS))
    ):
        create_demo_users()
    assert not User.objects.exists()


def test_load_demo_prints_the_admin_login_and_one_login_per_role(no_demo_data):
    out = load_demo()

    logins = LOGIN.findall(out)
    assert [(role, username) for role, username, _ in logins] == [
        ("staff", "admin"),
        ("inspector", "inspector"),
        ("game master", "gamemaster"),
    ]
    for _, username, password in logins:
        assert User.objects.get(username=username).check_password(password)
    assert User.objects.get(username="admin").is_superuser


def test_load_demo_without_logins_creates_and_prints_none(no_demo_data):
    out = load_demo("--no-login")

    assert LOGIN.findall(out) == []
    assert not User.objects.exists()


@pytest.mark.parametrize("username", ["inspector", "gamemaster"])
def test_load_demo_refuses_a_role_login_as_the_admin_username(no_demo_data, username):
    with pytest.raises(CommandError, match=f"--username '{username}': is the login of the demo"):
        load_demo("--username", username)
    assert not User.objects.exists()
