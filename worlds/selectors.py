"""Reads about worlds: the policy files on disk and the registry's view of them."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce

from axes.models import Axis
from worlds.models import Character, World
from worlds.policies import PolicyReport, discover_worlds, load_world_policy


def list_policy_reports() -> list[PolicyReport]:
    """Validate every world under ``PIPEWORKS_WORLDS_DIR`` and return the reports."""
    directory = Path(settings.PIPEWORKS_WORLDS_DIR)
    return [
        load_world_policy(directory / world_id, world_id) for world_id in discover_worlds(directory)
    ]


def get_registry_hashes(*, using: str = "default") -> dict[str, str] | None:
    """Return the synced policy hash of every world, or None if the database can't tell.

    None covers a database that is unreachable or not migrated yet: callers at start-up
    and in system checks must not fail for that.
    """
    try:
        return dict(World.objects.using(using).values_list("world_id", "policy_hash"))
    except DatabaseError:
        return None


class SyncState(StrEnum):
    """How the registry compares with a world's policy files."""

    INVALID = "invalid"
    """The files have errors; they cannot be synced."""
    UNSYNCED = "unsynced"
    """The files are valid and the registry has never been synced from them."""
    IN_SYNC = "in-sync"
    """The registry holds the hash of the files as they are now."""
    OUT_OF_DATE = "out-of-date"
    """The files changed since the last sync."""


def registry_sync_state(report: PolicyReport, registry_hash: str | None) -> SyncState:
    """Return how the registry (its recorded ``registry_hash``) compares with the files.

    The one answer to "is the registry in sync with the files", for the API, the admin,
    the system checks and the start-up report.
    """
    if not report.is_valid:
        return SyncState.INVALID
    if not registry_hash:
        return SyncState.UNSYNCED
    if registry_hash == report.policy_hash:
        return SyncState.IN_SYNC
    return SyncState.OUT_OF_DATE


@dataclass(frozen=True)
class WorldStatus:
    """A world as its policy files and the registry see it."""

    world_id: str
    report: PolicyReport
    has_files: bool
    registry_hash: str | None
    registry_version: str | None
    synced_at: datetime | None
    axis_count: int
    character_count: int

    @property
    def sync_state(self) -> SyncState:
        return registry_sync_state(self.report, self.registry_hash)

    @property
    def in_sync(self) -> bool:
        """Return whether the registry mirrors the current, valid policy files."""
        return self.has_files and self.sync_state is SyncState.IN_SYNC


def list_world_statuses() -> list[WorldStatus]:
    """Return every world found in the policy files or the registry, by id (one query)."""
    directory = Path(settings.PIPEWORKS_WORLDS_DIR)
    on_disk = discover_worlds(directory)
    rows = {world.world_id: world for world in _worlds_with_counts()}
    return [
        _world_status(directory, world_id, world_id in on_disk, rows.get(world_id))
        for world_id in sorted(set(on_disk) | set(rows))
    ]


def get_world_status(world_id: str) -> WorldStatus | None:
    """Return one world's status, or None when neither files nor registry know it (one query).

    A world only in the registry (its directory was removed) gets the report of its
    missing files.
    """
    if "\x00" in world_id:  # names nothing, and PostgreSQL text cannot hold it
        return None
    directory = Path(settings.PIPEWORKS_WORLDS_DIR)
    # Compared with the directory listing, never joined into a path unchecked.
    has_files = world_id in discover_worlds(directory)
    world = _worlds_with_counts().filter(pk=world_id).first()
    if world is None and not has_files:
        return None
    return _world_status(directory, world_id, has_files, world)


def _worlds_with_counts():
    # Correlated counts, not joins: axes x characters rows would multiply per world.
    def count(queryset) -> Coalesce:
        counted = queryset.filter(world=OuterRef("pk")).order_by().values("world")
        return Coalesce(
            Subquery(counted.annotate(n=Count("pk")).values("n"), output_field=IntegerField()),
            0,
        )

    return World.objects.annotate(
        axis_count=count(Axis.objects.filter(is_active=True)),
        character_count=count(Character.objects.all()),
    )


def _world_status(
    directory: Path, world_id: str, has_files: bool, world: World | None
) -> WorldStatus:
    return WorldStatus(
        world_id=world_id,
        report=load_world_policy(directory / world_id, world_id),
        has_files=has_files,
        registry_hash=(world.policy_hash or None) if world is not None else None,
        registry_version=(world.policy_version or None) if world is not None else None,
        synced_at=world.synced_at if world is not None else None,
        axis_count=world.axis_count if world is not None else 0,
        character_count=world.character_count if world is not None else 0,
    )
