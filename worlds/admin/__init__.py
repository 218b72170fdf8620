"""The inspector: admin pages for worlds and characters.

Characters are created through ``create_character`` and their snapshots refreshed through
``refresh_snapshots``; worlds change only by syncing their policy files
(``sync_world_policies``). The character page reads its panels through the ledger
selectors, in a fixed number of queries however long the character's history is.

``inspector`` holds the character page's panels, ``characters`` and ``registry`` the
registered admins; the read-only bases they share with the other apps are in
``pipeworks.admin``.
"""

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
    "WorldAdmin",
]
