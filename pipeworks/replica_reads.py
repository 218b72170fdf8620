"""Per request, whether reads may go to a replica: read your writes, or ask for the primary.

``ReplicaReadMiddleware`` (installed by the settings only with ``DATABASE_REPLICA_URL``)
chooses a replica for a request's reads (``pipeworks.replicas``) unless:

- the method writes (anything but GET, HEAD, OPTIONS);
- the client asks for the primary: header ``X-Read-From: primary``;
- the client wrote in the last ``PIPEWORKS_READ_YOUR_WRITES_SECONDS`` (read your writes);
- the view is marked ``read_from_primary`` (the change feed, the readiness probe);
- no replica is available (down, not a replica, lagging past the bound).

**Where "this client just wrote" is kept.** A signed-in browser (a session) gets a signed
cookie, ``pipeworks_wrote``, that expires with the window: the client carries it to
whichever worker or host serves its next request, so every one of them sees it at once,
at no cost on the server; the signature means a client can only claim the mark for itself,
which it could do with the header anyway. A game server authenticating with an API key
usually keeps no cookies, so for a request authenticated by its ``Authorization`` header
the mark goes into the shared cache (``caches["default"]``, Redis or the primary's cache
table, shared by every worker by design: ``access.W001``), under an HMAC of that header,
for the window. Its reads then cost one cache lookup; a request without that header or
the cookie costs none. Marks are set only for authenticated writes, so anonymous clients
cannot fill the cache (whose entries also count login failures).

**A replica failing mid-request.** When a request whose reads went to a replica ends in a
5xx (a page's 503, the API's ``database_unavailable``), the replica is probed again at
once; if it is down the request, a read, is answered again from the primary, so the client
sees no failure at all.
"""

import logging
import time

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import MiddlewareNotUsed
from django.utils.crypto import salted_hmac

from pipeworks.replicas import (
    choose_replica,
    current_choice,
    probe_replica,
    reading_from,
    reads_from_primary,
    replica_aliases,
)

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_FROM_HEADER = "HTTP_X_READ_FROM"
READ_FROM_PRIMARY = "primary"
WROTE_COOKIE = "pipeworks_wrote"
WROTE_SALT = "pipeworks.replica_reads.wrote"
WROTE_CACHE_PREFIX = "pipeworks:wrote:"
CACHE_FAILED = "read-your-writes mark not readable from the cache, reading the primary: %s"
MARK_FAILED = "read-your-writes mark not stored in the cache: %s"
RETRIED_ON_PRIMARY = "read replica %s failed during %s %s; answered again from the primary"


def window_seconds() -> float:
    """Return the read-your-writes window (``PIPEWORKS_READ_YOUR_WRITES_SECONDS``)."""
    return float(settings.PIPEWORKS_READ_YOUR_WRITES_SECONDS)


def wrote_cache_key(authorization: str) -> str:
    """Return the cache key of the mark of the client sending ``authorization``."""
    digest = salted_hmac(WROTE_SALT, authorization, algorithm="sha256").hexdigest()
    return WROTE_CACHE_PREFIX + digest


def wrote_recently(request) -> bool:
    """Whether the client of ``request`` wrote within the window (cookie or cache mark)."""
    window = window_seconds()
    if window <= 0:
        return False
    if request.get_signed_cookie(WROTE_COOKIE, default=None, salt=WROTE_SALT, max_age=window):
        return True
    authorization = request.META.get("HTTP_AUTHORIZATION")
    if not authorization:
        return False
    try:
        return caches["default"].get(wrote_cache_key(authorization)) is not None
    except Exception as exc:  # noqa: BLE001 (the cache down: the primary is always right)
        logger.warning(CACHE_FAILED, exc)
        return True


def mark_write(request, response) -> None:
    """Remember that the client of ``request``, an authenticated write, just wrote."""
    window = window_seconds()
    if window <= 0:
        return
    authorization = request.META.get("HTTP_AUTHORIZATION")
    if authorization and getattr(request, "auth", None) is not None:
        try:
            caches["default"].set(wrote_cache_key(authorization), time.time(), timeout=window)
        except Exception as exc:  # noqa: BLE001 (the write is done; only the mark is lost)
            logger.warning(MARK_FAILED, exc)
        return
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        response.set_signed_cookie(
            WROTE_COOKIE,
            str(int(time.time())),
            salt=WROTE_SALT,
            max_age=int(window) or 1,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )


def wants_primary(request) -> bool:
    """Whether the request's reads must go to the primary, whatever the replicas' health."""
    if request.method not in READ_METHODS:
        return True
    if request.META.get(READ_FROM_HEADER, "").strip().lower() == READ_FROM_PRIMARY:
        return True
    return wrote_recently(request)


class ReplicaReadMiddleware:
    """Choose where the request's reads go; mark authenticated writes (module docstring)."""

    def __init__(self, get_response):
        if not replica_aliases():
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request):
        alias = None if wants_primary(request) else choose_replica()
        with reading_from(alias) as choice:
            response = self.get_response(request)
            if choice.used and response.status_code >= 500:
                # A replica answered some reads and the request failed: if the replica is
                # down now, the read is answered again on the primary.
                if not probe_replica(alias).available:
                    logger.warning(RETRIED_ON_PRIMARY, alias, request.method, request.path)
                    choice.alias = None
                    choice.used = False
                    response = self.get_response(request)
        if request.method not in READ_METHODS:
            mark_write(request, response)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        choice = current_choice()
        if choice is not None and reads_from_primary(view_func):
            choice.alias = None
        return None
