"""The API's permission classes for the ledger roles, and the world-limit check.

Every class requires an authenticated, active staff user (as the admin does, superusers
included) and then the permission of the role: reading the ledger
(``READ_PERMISSION``), applying events (``APPLY_PERMISSION``) or reversing them
(``REVERSE_PERMISSION``). Superusers hold every permission. An anonymous request is
refused with ``False`` so that DRF answers 401 (``NotAuthenticated``, with the
authenticator's ``WWW-Authenticate``); an authenticated one without the permission gets
403 with one of the messages below as ``detail`` and ``permission_denied`` as ``code``.
"""

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from access.roles import APPLY_PERMISSION, READ_PERMISSION, REVERSE_PERMISSION
from access.selectors import may_use_world

ACCESS_STAFF_ONLY = "the API is for staff only"
ACCESS_CANNOT_READ = "you may not read the ledger"
ACCESS_CANNOT_APPLY = "you may not apply events"
ACCESS_CANNOT_REVERSE = "you may not reverse events"
ACCESS_WORLD_DENIED = "you may not act in world '{world_id}'"
PERMISSION_DENIED_CODE = "permission_denied"


class _LedgerPermission(BasePermission):
    """Staff with ``READ_PERMISSION``, and ``write_permission`` too for unsafe methods.

    Without a ``write_permission`` every method needs ``READ_PERMISSION`` only, so a
    read-only view keeps answering 405 to a POST of a reader.
    """

    code = PERMISSION_DENIED_CODE
    message = ACCESS_CANNOT_READ
    write_permission: str | None = None
    write_message = ""

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False  # DRF answers NotAuthenticated (401)
        if not (user.is_active and user.is_staff):
            self.message = ACCESS_STAFF_ONLY
            return False
        if not user.has_perm(READ_PERMISSION):
            self.message = ACCESS_CANNOT_READ
            return False
        if self.write_permission is None or request.method in SAFE_METHODS:
            return True
        if not user.has_perm(self.write_permission):
            self.message = self.write_message
            return False
        return True


class CanReadLedger(_LedgerPermission):
    """Read the ledger: staff with ``READ_PERMISSION``, whatever the method."""


class CanApplyEvents(_LedgerPermission):
    """Read with ``READ_PERMISSION``; apply events (unsafe methods) with ``APPLY_PERMISSION``
    as well."""

    write_permission = APPLY_PERMISSION
    write_message = ACCESS_CANNOT_APPLY


class CanReverseEvents(_LedgerPermission):
    """Read with ``READ_PERMISSION``; reverse events (unsafe methods) with
    ``REVERSE_PERMISSION`` as well."""

    write_permission = REVERSE_PERMISSION
    write_message = ACCESS_CANNOT_REVERSE


def require_world(user, *, world_id: str) -> None:
    """Refuse with 403 unless ``user`` may see and act in world ``world_id``.

    Call it in a view once the world of the request is known (a world in the path, the
    world of a character or an event), after the permission classes have passed.

    Raises:
        rest_framework.exceptions.PermissionDenied: ``ACCESS_WORLD_DENIED`` with code
            ``permission_denied``, when the user's world limits exclude the world.
    """
    if not may_use_world(user, world_id=world_id):
        raise exceptions.PermissionDenied(
            ACCESS_WORLD_DENIED.format(world_id=world_id), code=PERMISSION_DENIED_CODE
        )
