"""How the OpenAPI schema describes the API's authentication schemes (drf-spectacular finds
each by subclassing)."""

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "access.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>`: a key made in the admin (API keys) "
            "or by `manage.py create_api_key`. Keys migrated from DRF tokens are still "
            "accepted as `Token <key>`.",
        }


class CachedSessionScheme(SessionScheme):
    """The session scheme (``cookieAuth``), for the session authentication with cached grants."""

    target_class = "access.authentication.CachedSessionAuthentication"
