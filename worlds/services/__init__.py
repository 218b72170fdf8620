"""The worlds' writes: syncing policy files into the registry (``sync``), and characters.

Both are re-exported here: ``from worlds.services import sync_world_policies``.
"""

from worlds.services.characters import (
    CREATE_CHARACTER_BAD_SCORE,
    CREATE_CHARACTER_NO_AXES,
    CREATE_CHARACTER_UNKNOWN_AXIS,
    CREATE_CHARACTER_UNKNOWN_WORLD,
    create_character,
)
from worlds.services.sync import (
    SYNC_INVALID_POLICIES,
    SYNC_NO_WORLDS,
    SYNC_UNKNOWN_WORLDS,
    SyncResult,
    WorldPlan,
    sync_world_policies,
)

__all__ = [
    "CREATE_CHARACTER_BAD_SCORE",
    "CREATE_CHARACTER_NO_AXES",
    "CREATE_CHARACTER_UNKNOWN_AXIS",
    "CREATE_CHARACTER_UNKNOWN_WORLD",
    "SYNC_INVALID_POLICIES",
    "SYNC_NO_WORLDS",
    "SYNC_UNKNOWN_WORLDS",
    "SyncResult",
    "WorldPlan",
    "create_character",
    "sync_world_policies",
]
