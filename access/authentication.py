"""API key authentication: ``Authorization: Api-Key <prefix>.<secret>``.

The key is looked up by its prefix and checked against its stored hash; a revoked or
expired key, or one whose owner is inactive, is refused (401). The request then runs as
the key's owner (``request.user``) with the key as ``request.auth``, so the permission
classes of ``access.permissions`` can narrow the owner's rights to the key's.

``Authorization: Token <key>`` is still accepted for the DRF tokens of earlier versions,
which a migration turned into hashed ``legacy`` keys (README, "API keys").

The key's row, its owner and their grants come from the shared cache when a request of
the key read them since they last changed (``access.credentials``: dropped at once on any
change); the sent key is checked against the hash and the expiry date on every request.
"""

from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)

from access.credentials import attach_user_grants, get_api_key

API_KEY_KEYWORD = "Api-Key"
LEGACY_KEYWORD = "Token"
LEGACY_PREFIX_LENGTH = 8

API_KEY_MALFORMED = "Invalid Authorization header: expected 'Api-Key <key>'."
API_KEY_INVALID = "Invalid, revoked or unknown API key."
API_KEY_EXPIRED = "The API key has expired."
API_KEY_OWNER_INACTIVE = "The API key's owner is inactive."


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticate a request by an API key (or a legacy DRF token, now hashed)."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        keyword = header[0].decode("latin-1").lower()
        if keyword not in {API_KEY_KEYWORD.lower(), LEGACY_KEYWORD.lower()}:
            return None  # another scheme: not ours to refuse
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(API_KEY_MALFORMED)
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(API_KEY_MALFORMED) from None
        legacy = keyword == LEGACY_KEYWORD.lower()
        prefix = key[:LEGACY_PREFIX_LENGTH] if legacy else key.partition(".")[0]
        api_key = get_api_key(prefix, legacy=legacy)
        if api_key is None or not api_key.is_valid(key):
            raise exceptions.AuthenticationFailed(API_KEY_INVALID)
        if api_key.has_expired:
            raise exceptions.AuthenticationFailed(API_KEY_EXPIRED)
        if not api_key.owner.is_active:
            raise exceptions.AuthenticationFailed(API_KEY_OWNER_INACTIVE)
        return api_key.owner, api_key

    def authenticate_header(self, request) -> str:
        return API_KEY_KEYWORD


class CachedSessionAuthentication(SessionAuthentication):
    """DRF's session authentication (CSRF enforced), with the user's grants from the cache.

    The session and its user are read as before (a logout or a password change ends the
    session at once); the user's permissions and world limits come from the shared cache
    (``access.credentials``), which drops them at once when they change.
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            attach_user_grants(result[0])
        return result
