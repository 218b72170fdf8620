"""Clients for the staff API: anonymous, non-staff, staff by session and by token."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from access.services import create_api_key
from tests.factories import CharacterFactory, UserFactory
from worlds.services import sync_world_policies

PASSWORD = "correct-horse-battery-staple"  # noqa: S105 (test fixture)


def state_url(character_id) -> str:
    return f"/admin/characters/{character_id}/axis-state"


def events_url(character_id) -> str:
    return f"/admin/characters/{character_id}/axis-events"


WORLD_EVENTS_URL = "/admin/events"
WORLDS_URL = "/admin/worlds/"


def policy_url(world_id) -> str:
    return f"/admin/worlds/{world_id}/policy"


READ = ("ledger.view_event",)
GAME_MASTER = (*READ, "ledger.apply_event", "ledger.reverse_event")


def api_key_for(user, *, may_apply=True, may_reverse=True, worlds=()) -> str:
    """Return a new API key of ``user`` (valid for a day)."""
    return create_api_key(
        owner=user,
        name="test",
        may_apply=may_apply,
        may_reverse=may_reverse,
        worlds=worlds,
        expires_at=timezone.now() + timedelta(days=1),
    )[1]


def make_user(*, is_staff: bool, permissions=()):
    user = UserFactory(is_staff=is_staff, permissions=permissions)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def staff_user(db):
    """A staff user with a game master's permissions: read, apply and reverse."""
    return make_user(is_staff=True, permissions=GAME_MASTER)


@pytest.fixture
def inspector_client(db) -> APIClient:
    """A staff session that may read the ledger and nothing more."""
    client = APIClient()
    client.force_login(make_user(is_staff=True, permissions=READ))
    return client


@pytest.fixture
def bare_staff_client(db) -> APIClient:
    """A staff session without any ledger permission."""
    client = APIClient()
    client.force_login(make_user(is_staff=True))
    return client


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


@pytest.fixture
def member_client(db) -> APIClient:
    """A logged-in user who is not staff."""
    client = APIClient()
    client.force_login(make_user(is_staff=False))
    return client


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    """A staff session, as after the admin login (CSRF checks off, like a test client)."""
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def token_client(staff_user) -> APIClient:
    """A staff user authenticated by ``Authorization: Api-Key ...`` only (a key that may
    apply and reverse)."""
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key_for(staff_user)}")
    return client


@pytest.fixture
def hero(synced):
    return CharacterFactory(name="hero", scores={"wealth": 0.3})


@pytest.fixture
def foreigner(synced):
    return CharacterFactory(name="foreigner", world_id="beta")


def retire_axis(worlds_dir, world_id: str, axis: str) -> None:
    """Drop a numeric axis from a world's axes.yaml and sync, which retires it."""
    path = worlds_dir / world_id / "policies" / "axes.yaml"
    path.write_text(path.read_text().split(f"  {axis}:\n")[0])
    sync_world_policies(world_ids=[world_id])
