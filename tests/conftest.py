"""Shared fixtures: tests run against small purpose-built worlds, never data/worlds."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.db.backends.base.operations import BaseDatabaseOperations

from axes.models import Axis, AxisValue, CharacterAxisScore
from ledger.models import Event, EventEntityAxisDelta, EventMetadata, EventType
from tests.guard import ledger_maintenance
from worlds.models import Character, World

FIXTURE_WORLDS = Path(__file__).parent / "fixtures" / "worlds"


def pytest_collection_modifyitems(config, items):
    """Deselect the tests of the other engine: PostgreSQL-only tests run in the PostgreSQL
    pass, SQLite-only tests in the SQLite pass (``make test`` runs both)."""
    on_postgres = django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    other = "sqlite" if on_postgres else "postgres"
    deselected = [item for item in items if item.get_closest_marker(other)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker(other)]


@pytest.fixture(scope="session", autouse=True)
def flush_lifts_the_ledger_guard():
    """Let the flush between transactional tests empty the ledger tables.

    Django empties every table after a ``transaction=True`` test; the append-only
    triggers refuse that. The patch lifts the guard for exactly that flush, in this test
    process only; ``tests/ledger/test_append_only.py`` proves the guard is back after.
    """
    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with ledger_maintenance(using=self.connection.alias):
            original(self, sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """PBKDF2's deliberate slowness costs 0.2 s per login; tests need no such strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_remembered_character_worlds():
    """Each test starts with no character world remembered by the write API.

    Test databases reuse ids, so a world remembered from another test would be stale;
    tests/api/test_character_world_hints.py proves a stale one changes no answer.
    """
    from ledger.views import _character_worlds

    _character_worlds.clear()


@pytest.fixture(autouse=True)
def worlds_dir(settings, tmp_path) -> Path:
    """A private, editable copy of the fixture worlds, set as PIPEWORKS_WORLDS_DIR."""
    target = tmp_path / "worlds"
    shutil.copytree(FIXTURE_WORLDS, target)
    settings.PIPEWORKS_WORLDS_DIR = target
    return target


@pytest.fixture
def redis_cache(settings):
    """The shared cache of a deployment with REDIS_URL, in Redis (CI runs one), emptied
    before and after."""
    from django.core.cache import caches

    settings.CACHES = {
        "default": {
            "BACKEND": "pipeworks.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/10",
            "KEY_PREFIX": "pipeworks",
        }
    }
    caches["default"].clear()
    yield caches["default"]
    caches["default"].clear()


@pytest.fixture
def synced(db, worlds_dir):
    """The fixture worlds synced into the registry."""
    from worlds.services import sync_world_policies

    return sync_world_policies()


TABLES = [
    World,
    Character,
    Axis,
    AxisValue,
    CharacterAxisScore,
    EventType,
    Event,
    EventEntityAxisDelta,
    EventMetadata,
]


def table_state() -> dict:
    """Every row of every product table, to prove that a failed call wrote nothing."""
    return {model._meta.db_table: sorted(model.objects.values_list()) for model in TABLES}


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"
