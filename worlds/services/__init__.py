"""The worlds' writes: syncing policy files into the registry (``sync``), and characters;
and what a sync would do to the characters before it runs (``impact``, read only).

All are re-exported here: ``from worlds.services import sync_world_policies``.
"""

from worlds.services.characters import (
    CREATE_CHARACTER_BAD_SCORE,
    CREATE_CHARACTER_NO_AXES,
    CREATE_CHARACTER_UNKNOWN_AXIS,
    CREATE_CHARACTER_UNKNOWN_WORLD,
    create_character,
)
from worlds.services.impact import (
    IMPACT_BECOMES_NUMERIC,
    IMPACT_BECOMES_ORDINAL,
    IMPACT_NUMERIC,
    MAX_LABEL_MOVES,
    PolicyImpact,
    SyncPreview,
    compute_policy_impact,
    preview_policy_sync,
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
    "IMPACT_BECOMES_NUMERIC",
    "IMPACT_BECOMES_ORDINAL",
    "IMPACT_NUMERIC",
    "MAX_LABEL_MOVES",
    "PolicyImpact",
    "SYNC_INVALID_POLICIES",
    "SYNC_NO_WORLDS",
    "SYNC_UNKNOWN_WORLDS",
    "SyncPreview",
    "SyncResult",
    "WorldPlan",
    "compute_policy_impact",
    "create_character",
    "preview_policy_sync",
    "sync_world_policies",
]
