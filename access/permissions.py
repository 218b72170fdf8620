"""The API's permission classes for the ledger roles, and the world-limit check.

Every class requires an authenticated, active staff user (as the admin does, superusers
included), or an API key (whose owner need not be staff: a service account), and then
the permission of the role: reading the ledger
(``READ_PERMISSION``), applying events (``APPLY_PERMISSION``) or reversing them
(``REVERSE_PERMISSION``). Superusers hold every permission. An anonymous request is
refused with ``False`` so that DRF answers 401 (``NotAuthenticated``, with the
authenticator's ``WWW-Authenticate``); an authenticated one without the permission gets
403 with one of the messages below as ``detail`` and ``permission_denied`` as ``code``.
"""

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from access.models import ApiKey
from access.roles import APPLY_PERMISSION, READ_PERMISSION, REVERSE_PERMISSION
from access.selectors import allowed_world_ids, key_world_ids

ACCESS_STAFF_ONLY = "the API is for staff only"
ACCESS_CANNOT_READ = "you may not read the ledger"
ACCESS_CANNOT_APPLY = "you may not apply events"
ACCESS_CANNOT_REVERSE = "you may not reverse events"
ACCESS_WORLD_DENIED = "you may not act in world '{world_id}'"
ACCESS_KEY_CANNOT_APPLY = "this API key may not apply events"
ACCESS_KEY_CANNOT_REVERSE = "this API key may not reverse events"

# What a key must allow on top of its owner's permission, per write permission.
KEY_SCOPES = {
    APPLY_PERMISSION: ("may_apply", ACCESS_KEY_CANNOT_APPLY),
    REVERSE_PERMISSION: ("may_reverse", ACCESS_KEY_CANNOT_REVERSE),
}


def api_key_of(request) -> ApiKey | None:
    """Return the API key the request authenticated with, if any."""
    return request.auth if isinstance(request.auth, ApiKey) else None


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
        key = api_key_of(request)
        if key is None and not (user.is_active and user.is_staff):
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
        if key is not None:
            scope, message = KEY_SCOPES[self.write_permission]
            if not getattr(key, scope):
                self.message = message
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


def request_world_ids(request) -> frozenset[str] | None:
    """Return the worlds the request may use (None: every world).

    The user's world limits, narrowed to the API key's worlds when the request came
    with a key that lists some (one query for the key's worlds, then cached on it).
    """
    allowed = allowed_world_ids(request.user)
    key = api_key_of(request)
    if key is None:
        return allowed
    try:
        key_worlds = key._world_ids
    except AttributeError:
        key_worlds = key._world_ids = key_world_ids(key)
    if not key_worlds:
        return allowed
    return key_worlds if allowed is None else allowed & key_worlds


def require_world(request, *, world_id: str) -> None:
    """Refuse with 403 unless the request may see and act in world ``world_id``.

    Call it in a view once the world of the request is known (a world in the path, the
    world of a character or an event), after the permission classes have passed.

    Raises:
        rest_framework.exceptions.PermissionDenied: ``ACCESS_WORLD_DENIED`` with code
            ``permission_denied``, when the user's or the key's world limits exclude it.
    """
    allowed = request_world_ids(request)
    if allowed is not None and world_id not in allowed:
        raise exceptions.PermissionDenied(
            ACCESS_WORLD_DENIED.format(world_id=world_id), code=PERMISSION_DENIED_CODE
        )
