"""The inspector: admin pages for worlds and characters.

Characters are created through ``create_character`` and their snapshots refreshed through
``refresh_world_snapshots``; worlds change only by syncing their policy files
(``sync_world_policies``). The character page reads its panels through the ledger
selectors, in a fixed number of queries however long the character's history is.

``base`` holds the read-only admin bases the axes and ledger admins share, ``inspector``
the character page's panels, ``characters`` and ``registry`` the registered admins.
"""

from worlds.admin.base import ReadOnlyAdmin, ReadOnlyInline, policy_files_hint
from worlds.admin.characters import (
    REFRESH_DONE,
    STALE_SNAPSHOT,
    VERIFY_CLEAN,
    VERIFY_FOUND,
    CharacterAdmin,
    CharacterCreationForm,
)
from worlds.admin.registry import SYNC_CHANGED, SYNC_UNCHANGED, WorldAdmin

__all__ = [
    "REFRESH_DONE",
    "STALE_SNAPSHOT",
    "SYNC_CHANGED",
    "SYNC_UNCHANGED",
    "VERIFY_CLEAN",
    "VERIFY_FOUND",
    "CharacterAdmin",
    "CharacterCreationForm",
    "ReadOnlyAdmin",
    "ReadOnlyInline",
    "WorldAdmin",
    "policy_files_hint",
]
