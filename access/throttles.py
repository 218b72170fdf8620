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

With Redis the counter is incremented in one round trip (``SET NX`` with the window's
expiry, then ``INCR``, pipelined) at the key django-ratelimit would use: its ``add`` then
``incr`` through Django's Redis cache take three, a fifth of an API write's time under load
(README, "Deploying").
"""

import logging

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.db import models
from django_ratelimit import ALL
from django_ratelimit import core as ratelimit
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
            cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
            if isinstance(cache, RedisCache) and getattr(settings, "RATELIMIT_ENABLE", True):
                usage = self._count_in_redis(cache, ident)
            else:
                usage = get_usage(
                    request,
                    group=self.group,
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

    @property
    def group(self) -> str:
        return f"pipeworks.{self.scope}"

    def _count_in_redis(self, cache: RedisCache, ident: str) -> dict:
        """Count this write in django-ratelimit's fixed window, in one Redis round trip."""
        rate = (self.num_requests, self.duration)
        window = ratelimit._get_window(ident, self.duration)
        key = cache.make_and_validate_key(
            ratelimit._make_cache_key(self.group, window, rate, ident, ALL)
        )
        # Django's Redis cache stores integers as they are, so INCR counts its values.
        pipeline = cache._cache.get_client(key, write=True).pipeline(transaction=False)
        pipeline.set(key, 0, ex=self.duration + ratelimit.EXPIRATION_FUDGE, nx=True)
        pipeline.incr(key)
        count = pipeline.execute()[1]
        return {
            "count": count,
            "limit": self.num_requests,
            "should_limit": count > self.num_requests,
            # The clock the window was computed with, as get_usage does.
            "time_left": window - int(ratelimit.time.time()),
        }
