"""DRF throttles of the API: writes are limited per API key (or per user).

``ApiWriteThrottle`` is in ``REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"]``, so it applies
to every API view, and it throttles only unsafe methods (POST, PUT, PATCH, DELETE): reads
are never counted. The rate is ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api-writes"]``
(``PIPEWORKS_API_WRITE_RATE``, default ``6000/min``, generous so game servers are not
slowed; no rate: no throttling). A refused write gets DRF's ``Throttled``: 429 in the
API's error shape (code ``throttled``) with ``Retry-After``.

Counting is django-ratelimit's fixed-window counter in the shared cache (one integer per
client and window), not DRF's own history of timestamps, which would store and rewrite up
to 6,000 of them per request at the default rate. A cache that cannot be reached lets the
write through (fail open, logged): an outage of the counter must not stop the game.
"""

import logging

from django.db import models
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from rest_framework.permissions import SAFE_METHODS
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger("pipeworks.access.throttles")


class ApiWriteThrottle(SimpleRateThrottle):
    """Throttle unsafe API requests per credential: the API key's pk, else the user id.

    ``request.auth`` is the credential a request authenticated with; when it is a model
    instance (an API key, a legacy token) its model and pk name the counter, so two keys
    of one owner are throttled apart. Without one (a session), the user id does.
    """

    scope = "api-writes"

    def __init__(self):
        super().__init__()
        self._wait = None

    def get_rate(self):
        # Read live (DRF binds THROTTLE_RATES at import), and no rate means no throttle.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        auth = getattr(request, "auth", None)
        if isinstance(auth, models.Model) and auth.pk is not None:
            return f"{auth._meta.label_lower}:{auth.pk}"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return None

    def allow_request(self, request, view):
        if request.method in SAFE_METHODS or self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        try:
            usage = get_usage(
                request,
                group=f"pipeworks.{self.scope}",
                key=lambda group, request: ident,
                rate=(self.num_requests, self.duration),
                method=ALL,
                increment=True,
            )
        except Exception:
            logger.exception("api-writes throttle: the cache cannot be reached; not throttling")
            return True
        if usage is None:  # RATELIMIT_ENABLE is off
            return True
        if usage["limit"] == 0 and usage["time_left"] == -1:
            logger.error("api-writes throttle: the cache would not count; not throttling")
            return True
        if usage["should_limit"]:
            # time_left is the window's last second, which still counts in it.
            self._wait = max(1, usage["time_left"] + 1)
            return False
        return True

    def wait(self):
        return self._wait
