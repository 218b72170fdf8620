"""The roles of the product: their group names and the permissions they hinge on.

The groups themselves are created by the migration ``access/0002_roles``, which copies
these literals (a migration must not import code that may change later). Change both
together.
"""

INSPECTORS = "Inspectors"
GAME_MASTERS = "Game masters"

READ_PERMISSION = "ledger.view_event"
APPLY_PERMISSION = "ledger.apply_event"
REVERSE_PERMISSION = "ledger.reverse_event"

# The apps whose every model an Inspector may view (``<app>.view_<model>``).
INSPECTED_APPS = ("worlds", "axes", "ledger")
# What a Game master may do beyond an Inspector.
GAME_MASTER_EXTRA_PERMISSIONS = (APPLY_PERMISSION, REVERSE_PERMISSION)
