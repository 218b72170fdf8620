"""Users of every role, built on the groups the roles migration created."""

import types

import django_ratelimit.core
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.cache import caches

from access.roles import GAME_MASTERS, INSPECTORS

PASSWORD = "Brass-valve-9-gasket"


def make_user(username: str, **fields):
    """Return a new user with the password ``PASSWORD``."""
    return get_user_model().objects.create_user(username=username, password=PASSWORD, **fields)


def permissions(*names: str) -> list[Permission]:
    """Return the permissions named ``app_label.codename``."""
    found = []
    for name in names:
        app_label, codename = name.split(".")
        found.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return found


def staff_user(username: str, *, groups=(), perms=(), **fields):
    """Return a new active staff user in ``groups`` (names) holding ``perms``."""
    user = make_user(username, is_staff=True, **fields)
    user.groups.set(Group.objects.filter(name__in=groups))
    user.user_permissions.set(permissions(*perms))
    return user


@pytest.fixture
def inspector(db):
    return staff_user("inspector", groups=[INSPECTORS])


@pytest.fixture
def game_master(db):
    return staff_user("gamemaster", groups=[GAME_MASTERS])


@pytest.fixture
def superuser(db):
    return make_user("root", is_staff=True, is_superuser=True)


# The throttle tests' fixtures (test_login_throttle, test_api_throttle).


@pytest.fixture
def empty_cache(db):
    """Start with no counts (the cache table outlives a test's transaction)."""
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.fixture
def clock(monkeypatch):
    """django-ratelimit's clock, stopped: no test's counts straddle a window's end."""
    clock = types.SimpleNamespace(now=1_800_000_000.0)
    monkeypatch.setattr(
        django_ratelimit.core, "time", types.SimpleNamespace(time=lambda: clock.now)
    )
    return clock
