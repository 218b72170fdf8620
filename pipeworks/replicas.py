"""Read replicas: which database a read goes to, and whether a replica may serve reads.

``DATABASE_REPLICA_URL`` (settings) adds the aliases ``replica1``, ``replica2``, … of
PostgreSQL streaming replicas of ``default``; without it none of this is installed. The
rules, in the order ``ReplicaRouter`` applies them:

- a read goes to a replica only while a request chose one (``ReplicaReadMiddleware`` in
  ``pipeworks.replica_reads``, for GET/HEAD/OPTIONS requests of clients that did not write
  in the last seconds): management commands (``verify_ledger``, ``rebuild_scores``,
  ``migrate``), writes and everything outside a request read the primary;
- who may do what is always read on the primary (``PRIMARY_ONLY_APPS``: users, groups,
  permissions, sessions, API keys, lockouts, the cache table), so a revoked key or a
  lockout takes effect at once, not after the replica has replayed it;
- a read inside a transaction on the primary (``transaction.atomic``, ``atomic_commit``:
  ``apply_event``, ``sync_policies``, admin actions) reads the primary, so nothing is
  decided on data older than what the transaction then writes;
- every write goes to the primary, even of an object that was read from a replica;
- no migration runs on a replica (it replays the primary's).

Whether a replica may serve is known from a probe (``replica_status``), at most every
``PIPEWORKS_REPLICA_CHECK_SECONDS`` per process: a replica that does not answer, is not
in recovery (a primary), or whose replay lag exceeds ``PIPEWORKS_REPLICA_MAX_LAG`` seconds
is skipped with a WARNING in the log, and used again (INFO) once a later probe finds it
well. Nothing here imports an app of the project.
"""

import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.core.checks import Warning, register
from django.db import DEFAULT_DB_ALIAS, connections

logger = logging.getLogger(__name__)

# App labels whose rows decide who may do what (and the database cache's pseudo-app):
# always read on the primary.
PRIMARY_ONLY_APPS = frozenset(
    {
        "auth",
        "contenttypes",
        "sessions",
        "access",
        "rest_framework_api_key",
        "django_cache",
    }
)

REPLICA_SKIPPED = "read replica %s skipped, reads go to the primary: %s"
REPLICA_RESTORED = "read replica %s used again (replay lag %s)"
REPLICA_UNREACHABLE = "cannot be reached ({error})"
REPLICA_NOT_IN_RECOVERY = "is not in recovery: it is a primary, not a replica of one"
REPLICA_LAG_UNKNOWN = "its replay lag is unknown (nothing replayed since it started)"
REPLICA_LAGGING = "its replay lag {lag:.1f} s exceeds PIPEWORKS_REPLICA_MAX_LAG ({bound:g} s)"

CHECK_REPLICA_UNREACHABLE = "database {alias!r} (a read replica) cannot be reached: {error}"
CHECK_REPLICA_IS_PRIMARY = (
    "database {alias!r} (a read replica) is not in recovery: it is a primary, so reads sent "
    "to it would not see the writes of 'default'"
)
CHECK_WINDOW_TOO_SHORT = (
    "PIPEWORKS_READ_YOUR_WRITES_SECONDS ({window:g}) is shorter than "
    "PIPEWORKS_REPLICA_MAX_LAG + PIPEWORKS_REPLICA_CHECK_SECONDS ({bound:g}): a client may "
    "read a replica that has not replayed its own write yet"
)

# One probe, on the replica: is it one, has it replayed what the primary had written when
# the probe began (then it is caught up, lag 0), and else how old is the last transaction
# it replayed. Without the primary's position (primary unreachable) it counts as caught up
# when it has replayed all it received.
PROBE_SQL = (
    "SELECT pg_is_in_recovery(), "
    "COALESCE(pg_last_wal_replay_lsn() >= %s::pg_lsn, "
    "pg_last_wal_replay_lsn() = pg_last_wal_receive_lsn()), "
    "EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8"
)


@dataclass
class ReadChoice:
    """Where the reads of the current request may go; ``used`` once a replica served one."""

    alias: str | None
    used: bool = False


_choice: ContextVar[ReadChoice | None] = ContextVar("pipeworks_read_choice", default=None)


@dataclass(frozen=True)
class ReplicaStatus:
    """What the last probe of a replica found; ``lag`` in seconds, None when unknown."""

    alias: str
    available: bool
    lag: float | None
    reason: str
    checked_at: float


_statuses: dict[str, ReplicaStatus] = {}


def replica_aliases() -> list[str]:
    """Return the configured replica aliases (``PIPEWORKS_REPLICA_DATABASES``)."""
    return list(getattr(settings, "PIPEWORKS_REPLICA_DATABASES", []))


def current_choice() -> ReadChoice | None:
    """Return the current request's choice, None outside a request that made one."""
    return _choice.get()


@contextmanager
def reading_from(alias: str | None) -> Iterator[ReadChoice]:
    """Let the reads in the block go to ``alias`` (None: the primary), as a request would."""
    choice = ReadChoice(alias)
    token = _choice.set(choice)
    try:
        yield choice
    finally:
        _choice.reset(token)


def read_from_primary(view):
    """Mark a view (function or class) whose reads must see the primary.

    For views whose answer depends on what is in flight on the primary, e.g. the change
    feed, which waits for the writers it sees in ``pg_locks``: a replica's copy of the
    ledger could lack events the feed would then skip for ever.
    """
    view.reads_from_primary = True
    return view


def reads_from_primary(view) -> bool:
    """Whether ``view`` (a resolved view function) was marked by ``read_from_primary``."""
    view_class = getattr(view, "view_class", None) or getattr(view, "cls", None)
    return bool(
        getattr(view, "reads_from_primary", False)
        or getattr(view_class, "reads_from_primary", False)
    )


def in_write_transaction() -> bool:
    """Whether the primary's connection is inside a transaction the code opened.

    The transaction a test case wraps around each test (``_from_testcase``) is not one:
    under it the product must route as it does in production.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


class ReplicaRouter:
    """Send a request's reads to its chosen replica; everything else to the primary."""

    def db_for_read(self, model, **hints) -> str:
        choice = _choice.get()
        # Explicitly the primary, never None: Django would fall back to the database the
        # instance in the hints came from, which may be a replica (a cached registry row).
        if choice is None or choice.alias is None:
            return DEFAULT_DB_ALIAS
        if model._meta.app_label in PRIMARY_ONLY_APPS or in_write_transaction():
            return DEFAULT_DB_ALIAS
        choice.used = True
        return choice.alias

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # A replica holds the primary's rows: an object read there may point at one read
        # on the primary.
        databases = {DEFAULT_DB_ALIAS, *replica_aliases()}
        if obj1._state.db in databases and obj2._state.db in databases:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        return False if db in replica_aliases() else None


# -- health -----------------------------------------------------------------------------


def primary_wal_position() -> str | None:
    """Return the primary's current WAL position, None when it cannot be read."""
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()::text")
            return cursor.fetchone()[0]
    except Exception:  # noqa: BLE001 (the probe then judges the replica on its own)
        return None


def probe_replica(alias: str) -> ReplicaStatus:
    """Probe ``alias`` now, remember the result and log when it changes availability.

    Any failure makes the replica unavailable rather than failing the caller: a probe
    runs inside requests, which must never end in a 500 because a replica is down.
    """
    bound = float(settings.PIPEWORKS_REPLICA_MAX_LAG)
    position = primary_wal_position()
    lag = None
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(PROBE_SQL, [position])
            in_recovery, caught_up, age = cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 (an outage, a refused test database, anything)
        _close_quietly(alias)
        reason = REPLICA_UNREACHABLE.format(error=_first_line(exc))
    else:
        if not in_recovery:
            reason = REPLICA_NOT_IN_RECOVERY
        else:
            lag = 0.0 if caught_up else (max(age, 0.0) if age is not None else None)
            if lag is None:
                reason = REPLICA_LAG_UNKNOWN
            elif lag > bound:
                reason = REPLICA_LAGGING.format(lag=lag, bound=bound)
            else:
                reason = ""
    status = ReplicaStatus(alias, not reason, lag, reason, time.monotonic())
    previous = _statuses.get(alias)
    _statuses[alias] = status
    if not status.available and (previous is None or previous.available):
        logger.warning(REPLICA_SKIPPED, alias, status.reason)
    elif status.available and previous is not None and not previous.available:
        logger.info(REPLICA_RESTORED, alias, f"{status.lag:.1f} s")
    return status


def replica_status(alias: str) -> ReplicaStatus:
    """Return ``alias``'s status, probing it when the last probe is older than allowed."""
    status = _statuses.get(alias)
    interval = float(settings.PIPEWORKS_REPLICA_CHECK_SECONDS)
    if status is None or time.monotonic() - status.checked_at >= interval:
        status = probe_replica(alias)
    return status


def choose_replica() -> str | None:
    """Return an available replica for a request's reads (at random), or None."""
    available = [alias for alias in replica_aliases() if replica_status(alias).available]
    return random.choice(available) if available else None  # noqa: S311 (load spreading)


def list_replica_statuses() -> list[ReplicaStatus]:
    """Probe every replica now (for the admin, which shows their lag)."""
    return [probe_replica(alias) for alias in replica_aliases()]


def forget_replica_statuses() -> None:
    """Forget every probe result (tests; the next request probes again)."""
    _statuses.clear()


def _close_quietly(alias: str) -> None:
    # A broken connection is replaced at the next probe instead of failing it again.
    try:
        connections[alias].close()
    except Exception:  # noqa: BLE001, S110 (closing a dead connection may fail; nothing to do)
        pass


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- system check -----------------------------------------------------------------------


@register()
def check_replicas(app_configs, **kwargs):
    """Warn when a replica alias cannot be reached or points at a primary.

    A plain ``manage.py check`` runs it (not only ``--database``): a replica that is a
    primary is a configuration mistake to catch before deploying. It connects only when
    ``DATABASE_REPLICA_URL`` is set.
    """
    messages = []
    aliases = replica_aliases()
    if aliases:
        window = float(settings.PIPEWORKS_READ_YOUR_WRITES_SECONDS)
        bound = float(settings.PIPEWORKS_REPLICA_MAX_LAG) + float(
            settings.PIPEWORKS_REPLICA_CHECK_SECONDS
        )
        if 0 < window < bound:
            messages.append(
                Warning(
                    CHECK_WINDOW_TOO_SHORT.format(window=window, bound=bound),
                    hint="Raise PIPEWORKS_READ_YOUR_WRITES_SECONDS, or lower the lag bound.",
                    id="pipeworks.W003",
                )
            )
    for alias in aliases:
        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT pg_is_in_recovery()")
                in_recovery = cursor.fetchone()[0]
        except Exception as exc:  # noqa: BLE001 (any failure is "cannot be reached")
            _close_quietly(alias)
            messages.append(
                Warning(
                    CHECK_REPLICA_UNREACHABLE.format(alias=alias, error=_first_line(exc)),
                    hint="Check DATABASE_REPLICA_URL; until it answers, reads go to the primary.",
                    id="pipeworks.W001",
                )
            )
            continue
        if not in_recovery:
            messages.append(
                Warning(
                    CHECK_REPLICA_IS_PRIMARY.format(alias=alias),
                    hint="Point DATABASE_REPLICA_URL at a streaming replica of the primary "
                    "(pg_basebackup -R); the router skips this one.",
                    id="pipeworks.W002",
                )
            )
    return messages
