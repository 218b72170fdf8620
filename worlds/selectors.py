"""Reads about worlds: the policy files on disk and the registry's view of them."""

from pathlib import Path

from django.conf import settings
from django.db import DatabaseError

from worlds.models import World
from worlds.policies import PolicyReport, discover_worlds, load_world_policy


def list_policy_reports() -> list[PolicyReport]:
    """Validate every world under ``PIPEWORKS_WORLDS_DIR`` and return the reports."""
    directory = Path(settings.PIPEWORKS_WORLDS_DIR)
    return [
        load_world_policy(directory / world_id, world_id) for world_id in discover_worlds(directory)
    ]


def get_registry_hashes() -> dict[str, str] | None:
    """Return the synced policy hash of every world, or None if the database can't tell.

    None covers a database that is unreachable or not migrated yet: callers at start-up
    and in system checks must not fail for that.
    """
    try:
        return dict(World.objects.values_list("world_id", "policy_hash"))
    except DatabaseError:
        return None
