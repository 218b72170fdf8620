"""Admin login throttling: failed logins counted per username and per client address.

Every failed login of the admin form counts once against its username (lower-cased) and
once against the client address (``REMOTE_ADDR``; an IPv6 address counts as its /64
network). Once either count reaches its limit in a window, further attempts for that
username, or from that address, are refused *before the password is checked*, so a
locked-out attempt costs no password hashing (PBKDF2's ~0.3 s of CPU), and the right
password does not log in either. The limits are settings:

- ``PIPEWORKS_LOGIN_FAILURES_PER_USERNAME`` (default 10),
- ``PIPEWORKS_LOGIN_FAILURES_PER_ADDRESS`` (default 50),
- ``PIPEWORKS_LOGIN_WINDOW_SECONDS`` (default 900, 15 minutes).

The counts live in the shared cache (``caches["default"]``), counted by django-ratelimit
(``django_ratelimit.core.get_usage``) in **fixed windows**: a count starts at zero when
its window ends, so a lockout lasts until the end of the window it tripped in, and up to
twice a limit can fail across a window boundary. Each key's windows end at a different
second (django-ratelimit offsets them by a hash of the key).

When a limit trips, a ``LoginLockout`` row records it for operators. Lifting it
(``lift_login_lockouts``) replaces the key's *generation*, a value kept in the cache that
is part of the counter's ratelimit group, so the old count is abandoned and the next
attempt counts from zero.

If the cache cannot be reached, logins are refused (fail closed) with 503: the counter
is what stops a password guesser, so it is not skipped.
"""

import hashlib
import ipaddress
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.cache import caches
from django.db import transaction
from django.utils import timezone
from django_ratelimit import ALL
from django_ratelimit.core import get_usage

from access.models import LoginLockout

logger = logging.getLogger("pipeworks.access.throttle")

LOGIN_LOCKED_OUT_USERNAME = (
    "Too many failed logins for this account; try again in {wait} or ask an operator to "
    "lift the lockout."
)
LOGIN_LOCKED_OUT_ADDRESS = (
    "Too many failed logins from this address; try again in {wait} or ask an operator to "
    "lift the lockout."
)
LOGIN_THROTTLE_UNAVAILABLE = (
    "Logins are paused: the failed-login counter cannot be reached. Try again in a minute."
)
LIFT_CHANGE_MESSAGE = "Lifted the login lockout."

UNKNOWN_ADDRESS = "unknown"
GENERATION_KEY = "pipeworks.login.generation.{kind}.{digest}"


@dataclass(frozen=True)
class LoginKey:
    """One counter a login attempt counts against: a username or a client address."""

    kind: str
    value: str
    limit: int


@dataclass(frozen=True)
class LoginRefusal:
    """Why a login attempt is refused before its password is checked."""

    message: str
    code: str
    status: int
    retry_after: int


def normalise_username(username: str) -> str:
    """Return the form of a username that failures count against: stripped, case-folded."""
    return username.strip().casefold()


def client_address(request) -> str:
    """Return the client address of ``request`` that failures count against.

    ``REMOTE_ADDR`` only: ``X-Forwarded-For`` is anyone's to write, so it is not trusted.
    Behind a reverse proxy, the proxy (or the WSGI server) must make ``REMOTE_ADDR`` the
    client's, else every client shares the proxy's address and its limit. An IPv6 address
    counts as its /64 network (one host usually holds a whole /64); a missing or
    unreadable address counts as ``"unknown"``.
    """
    raw = (request.META.get("REMOTE_ADDR") if request is not None else "") or ""
    try:
        address = ipaddress.ip_address(raw.strip())
    except ValueError:
        return UNKNOWN_ADDRESS
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def login_window_seconds() -> int:
    """Return the length of a counting window, ``PIPEWORKS_LOGIN_WINDOW_SECONDS``."""
    return int(settings.PIPEWORKS_LOGIN_WINDOW_SECONDS)


def login_keys(*, request, username: str) -> list[LoginKey]:
    """Return the counters a login attempt of ``username`` through ``request`` counts against."""
    return [
        LoginKey(
            LoginLockout.Kind.USERNAME,
            normalise_username(username),
            int(settings.PIPEWORKS_LOGIN_FAILURES_PER_USERNAME),
        ),
        LoginKey(
            LoginLockout.Kind.ADDRESS,
            client_address(request),
            int(settings.PIPEWORKS_LOGIN_FAILURES_PER_ADDRESS),
        ),
    ]


def check_login_allowed(*, request, username: str) -> LoginRefusal | None:
    """Return why a login attempt must be refused without checking its password, or None.

    Call it before ``authenticate()``: it reads the counters only (no hashing, nothing
    counted).

    Args:
        request: the login request (its ``REMOTE_ADDR`` is the client address).
        username: the username as typed.

    Returns:
        A ``LoginRefusal`` (429 while a limit is reached, 503 when the cache cannot be
        reached), or None when the password may be checked.
    """
    try:
        usages = [
            (key, _usage(request, key, increment=False))
            for key in login_keys(request=request, username=username)
        ]
    except Exception:  # the cache (Redis, the database) is down: fail closed
        logger.exception("login throttle: the cache cannot be reached; refusing the login")
        return _unavailable()
    for key, usage in usages:
        if usage is None:  # RATELIMIT_ENABLE is off
            continue
        if _cache_failed(usage):
            return _unavailable()
        if usage["count"] >= key.limit:
            wait = _seconds_left(usage)
            template = (
                LOGIN_LOCKED_OUT_USERNAME
                if key.kind == LoginLockout.Kind.USERNAME
                else LOGIN_LOCKED_OUT_ADDRESS
            )
            return LoginRefusal(
                message=template.format(wait=_minutes(wait)),
                code="locked_out",
                status=429,
                retry_after=wait,
            )
    return None


def record_login_failure(*, request, username: str) -> list[LoginLockout]:
    """Count one failed login against its username and its address; record any lockout.

    When a count reaches its limit, the key's active ``LoginLockout`` is created (or its
    ``failures`` updated, for failures that were already being checked when it tripped).

    Args:
        request: the login request.
        username: the username as typed.

    Returns:
        The lockouts created or updated by this failure (usually none).
    """
    recorded = []
    for key in login_keys(request=request, username=username):
        try:
            usage = _usage(request, key, increment=True)
        except Exception:
            logger.exception("login throttle: could not count a failed login for %s", key.kind)
            continue
        if usage is None or _cache_failed(usage) or usage["count"] < key.limit:
            continue
        locked_until = timezone.now() + timedelta(seconds=_seconds_left(usage))
        recorded.append(
            record_lockout(
                kind=key.kind, value=key.value, failures=usage["count"], locked_until=locked_until
            )
        )
        logger.warning(
            "login lockout: %s %s after %d failed logins", key.kind, key.value, usage["count"]
        )
    return recorded


@transaction.atomic
def record_lockout(*, kind: str, value: str, failures: int, locked_until) -> LoginLockout:
    """Create the active lockout of ``kind``/``value``, or update the one there is.

    Args:
        kind: ``LoginLockout.Kind`` value.
        value: the normalised username or the client address.
        failures: the failures counted in the window so far.
        locked_until: the end of the window.

    Returns:
        The lockout row.
    """
    active = (
        LoginLockout.objects.select_for_update()
        .filter(kind=kind, value=value, lifted_at__isnull=True, locked_until__gt=timezone.now())
        .order_by("pk")
        .first()
    )
    if active is None:
        active = LoginLockout(kind=kind, value=value, failures=failures, locked_until=locked_until)
        active.full_clean()
        active.save()
        return active
    active.failures = max(active.failures, failures)
    active.locked_until = max(active.locked_until, locked_until)
    active.save(update_fields=["failures", "locked_until"])
    return active


@transaction.atomic
def lift_login_lockouts(*, lockouts: Iterable[LoginLockout], lifted_by) -> list[LoginLockout]:
    """Lift the active ones of ``lockouts``: their keys' next attempts count from zero.

    Records ``lifted_at``/``lifted_by`` and one admin ``LogEntry`` per lockout in this
    transaction; the keys' counters are abandoned (a new generation in the cache) once it
    commits. Lockouts already lifted or over are left as they are.

    Args:
        lockouts: the lockouts to lift (a queryset or model instances).
        lifted_by: the operator lifting them.

    Returns:
        The lockouts lifted.
    """
    now = timezone.now()
    lifted = list(
        LoginLockout.objects.select_for_update()
        .filter(
            pk__in=[lockout.pk for lockout in lockouts],
            lifted_at__isnull=True,
            locked_until__gt=now,
        )
        .order_by("pk")
    )
    if not lifted:
        return []
    LoginLockout.objects.filter(pk__in=[lockout.pk for lockout in lifted]).update(
        lifted_at=now, lifted_by=lifted_by
    )
    for lockout in lifted:
        lockout.lifted_at = now
        lockout.lifted_by = lifted_by
    LogEntry.objects.log_actions(
        user_id=lifted_by.pk,
        queryset=LoginLockout.objects.filter(pk__in=[lockout.pk for lockout in lifted]),
        action_flag=CHANGE,
        change_message=LIFT_CHANGE_MESSAGE,
    )
    keys = {(lockout.kind, lockout.value) for lockout in lifted}
    # The cache is not transactional: renew the generations only once the lift is kept.
    transaction.on_commit(lambda: _renew_generations(keys))
    return lifted


def _usage(request, key: LoginKey, *, increment: bool) -> dict | None:
    generation = _cache().get(_generation_key(key.kind, key.value), "0")
    return get_usage(
        request,
        group=f"pipeworks.login.{key.kind}.{generation}",
        key=lambda group, request: key.value,
        rate=(key.limit, login_window_seconds()),
        method=ALL,
        increment=increment,
    )


def _renew_generations(keys: Iterable[tuple[str, str]]) -> None:
    cache = _cache()
    for kind, value in keys:
        # Kept without expiry: were it evicted, a lifted count of this window would return.
        cache.set(_generation_key(kind, value), str(time.time_ns()), timeout=None)


def _generation_key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()
    return GENERATION_KEY.format(kind=kind, digest=digest)


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


def _seconds_left(usage: dict) -> int:
    # get_usage's time_left is the window's last second, which still counts in it.
    return max(1, usage["time_left"] + 1)


def _cache_failed(usage: dict) -> bool:
    # get_usage's answer when the cache would neither add nor read the count.
    return usage["limit"] == 0 and usage["time_left"] == -1


def _unavailable() -> LoginRefusal:
    return LoginRefusal(
        message=LOGIN_THROTTLE_UNAVAILABLE, code="throttle_unavailable", status=503, retry_after=60
    )


def _minutes(seconds: int) -> str:
    minutes = max(1, -(-seconds // 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"
