"""Worlds and the characters that live in them."""

import re

from django.db import models
from django.utils import timezone

# A world id is a slug (``World.world_id``); anything else names no world.
WORLD_ID = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


class WorldManager(models.Manager):
    def get_by_natural_key(self, world_id):
        return self.get(world_id=world_id)

    def named(self, world_id: str) -> "World | None":
        """Return the world of an id from a URL, or None; a non-slug is not queried.

        PostgreSQL refuses some strings outright (a NUL byte is an error, not a miss).
        """
        return self.filter(pk=world_id).first() if WORLD_ID.match(world_id) else None


class World(models.Model):
    """A World is one game's namespace, defined by its policy files.

    Every axis, score, event and character row carries its world's id, so many worlds
    share one database without seeing each other. The row records which version of the
    policy files the registry mirrors; it is written only by ``sync_world_policies``.
    """

    world_id = models.SlugField(
        primary_key=True,
        max_length=64,
        help_text="Directory name under PIPEWORKS_WORLDS_DIR; stable id used everywhere.",
    )
    policy_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text="sha256 of the policy files the registry was last synced from.",
    )
    policy_version = models.CharField(
        max_length=64, blank=True, help_text="The `version` string of the synced axes.yaml."
    )
    synced_at = models.DateTimeField(
        null=True, blank=True, help_text="When the registry last changed to match the files."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = WorldManager()

    class Meta:
        db_table = "world"
        ordering = ["world_id"]

    def __str__(self) -> str:
        return self.world_id

    def natural_key(self) -> tuple[str]:
        return (self.world_id,)


class Character(models.Model):
    """A Character is an entity whose state is a score per axis of its world.

    Scores live in ``character_axis_score`` and change only through ledger events; the
    JSON snapshots here are caches for the UI, re-derived from scores and policy, and are
    never read to decide anything.
    """

    world = models.ForeignKey(
        World, on_delete=models.PROTECT, related_name="characters", help_text="Home world."
    )
    name = models.CharField(max_length=200, help_text="Display name, unique within the world.")
    base_state_json = models.JSONField(
        default=dict, editable=False, help_text="Snapshot at creation (seed 0); written once."
    )
    current_state_json = models.JSONField(
        default=dict, editable=False, help_text="Snapshot derived from the current scores."
    )
    state_seed = models.PositiveIntegerField(
        default=0, editable=False, help_text="Number of events applied since creation."
    )
    state_version = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="Policy hash the current snapshot was derived with.",
    )
    state_updated_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the snapshot was last derived."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "characters"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["world", "name"], name="character_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.world_id})"

    @property
    def snapshot_stale(self) -> bool:
        """Return whether the snapshot was derived under another policy than the world's.

        Reads ``self.world``: select it with the character where many are shown.
        """
        return self.state_version != self.world.policy_hash
