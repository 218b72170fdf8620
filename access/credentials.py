"""The rows an API request is authorized by, kept in the shared cache and dropped at once.

Every API request needs the same rows before its view runs: the API key (by its prefix)
with its owner, the owner's permissions (their own and their groups': two queries), their
world limits and the key's worlds. Read on every request they were five of the eleven
statements of an API write beside ``apply_event``'s own. They are kept in
``caches["default"]``, the cache every worker process shares (Redis at ``REDIS_URL``, else
the database's cache table; never process memory), as one entry per API key and one per
signed-in user, so a warm request reads one cache entry (one Redis round trip; one
``SELECT`` with the database cache) instead of five rows.

**Invalidation is immediate.** Every entry is stamped with the *generation* current when
its rows were read, and is used only while the generation is the same. Any save or delete
of a row that grants or limits access (a user, a group, a permission, a user's groups or
permissions, a group's permissions, an API key or its worlds, a world membership, a world)
replaces the generation (``revoke_cached_credentials``, connected to those models' signals
in ``access.signals``; an ``ApiKey`` queryset's ``update``/``delete`` too), in whichever
process made the change, so the next request in every worker reads the rows again. It is
replaced twice: at once, and again once the transaction commits, so a request that read
the old rows just before the commit cannot keep them under the new generation. One
generation for everything keeps the rule simple (a group's permission reaches every
member's key at once); such changes are rare, and an entry costs five queries to refill.

**What the cache cannot see** (a change in SQL, a ``QuerySet.update`` of users or groups,
a cache that was unreachable when the generation should have moved): an entry expires
after ``PIPEWORKS_CREDENTIALS_CACHE_SECONDS`` (default 60) whatever happens, and
``revoke_cached_credentials()`` applies such a change at once.

**The secret is never cached.** An entry holds the key's hash, as the database does; every
request still checks the key it sent against that hash, and the expiry date against the
clock. An unknown prefix is not cached (each costs the lookup it cost before). A cache
that fails is read around: the rows come from the database (never "fail open").
"""

import hashlib
import logging
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DEFAULT_DB_ALIAS, transaction

from access import selectors
from access.models import ApiKey

logger = logging.getLogger("pipeworks.access.credentials")

GENERATION_KEY = "pipeworks:credentials:generation"
KEY_ENTRY_PREFIX = "pipeworks:credentials:key:"
USER_ENTRY_PREFIX = "pipeworks:credentials:user:"
CACHE_READ_FAILED = "credentials cache not readable, reading the database: %s"
CACHE_WRITE_FAILED = "credentials cache not writable: %s"
REVOKE_FAILED = (
    "credentials cache not reachable to revoke cached credentials; entries written before "
    "expire within PIPEWORKS_CREDENTIALS_CACHE_SECONDS: %s"
)
# The owner's fields a request reads (the rest stay deferred, loaded only if touched).
USER_FIELDS = ("id", "is_active", "is_staff", "is_superuser")


def _cache():
    return caches["default"]


def _timeout() -> int:
    return int(settings.PIPEWORKS_CREDENTIALS_CACHE_SECONDS)


def _new_generation() -> str:
    return uuid.uuid4().hex


def revoke_cached_credentials() -> None:
    """Make every cached credential stale, now and again when the transaction commits.

    Call it after changing, outside the ORM's signals, a row that grants or limits access
    (module docstring). A cache that cannot be reached is logged, not raised: the change
    itself must not fail, and the entries expire by themselves.
    """
    _move_generation()
    transaction.on_commit(_move_generation, robust=True)


def _move_generation() -> None:
    try:
        if isinstance(_cache(), DatabaseCache):
            # The database cache writes with the caller's connection, inside its
            # transaction: in a savepoint, a failing count or cull of the cache table
            # rolls back only itself, never the change that asked for the move.
            with transaction.atomic():
                _cache().set(GENERATION_KEY, _new_generation(), timeout=None)
        else:
            _cache().set(GENERATION_KEY, _new_generation(), timeout=None)
    except Exception as exc:  # noqa: BLE001 (logged; entries expire by themselves)
        logger.error(REVOKE_FAILED, exc)


def _read(entry_key: str) -> tuple[str | None, dict | None]:
    """Return the current generation and the entry if it is of that generation.

    One round trip: the generation and the entry are read together. Without a generation
    (a new cache, or one that evicted it) one is set, before the rows are read, so that an
    entry is never stamped with a generation later than its rows.
    """
    cache = _cache()
    found = cache.get_many([GENERATION_KEY, entry_key])
    generation = found.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, _new_generation(), timeout=None)
        return cache.get(GENERATION_KEY), None
    entry = found.get(entry_key)
    if entry is not None and entry.get("generation") == generation:
        return generation, entry
    return generation, None


def _write(entry_key: str, generation: str | None, entry: dict) -> None:
    if generation is None:
        return
    try:
        _cache().set(entry_key, {**entry, "generation": generation}, timeout=_timeout())
    except Exception as exc:  # noqa: BLE001 (the request goes on; the next reads the rows)
        logger.warning(CACHE_WRITE_FAILED, exc)


def _lookup(entry_key: str, load) -> dict | None:
    """Return the cached entry of ``entry_key``, or ``load()``'s, cached when not None."""
    try:
        generation, entry = _read(entry_key)
    except Exception as exc:  # noqa: BLE001 (the database is always right)
        logger.warning(CACHE_READ_FAILED, exc)
        return load()
    if entry is not None:
        return entry
    entry = load()
    if entry is not None:
        _write(entry_key, generation, entry)
    return entry


def _grants_of(user) -> dict:
    """Read what ``user`` may do: ModelBackend's permission sets and the world limits."""
    backend = ModelBackend()
    return {
        "user_permissions": frozenset(backend.get_user_permissions(user)),
        "group_permissions": frozenset(backend.get_group_permissions(user)),
        "world_ids": selectors.allowed_world_ids(user),
    }


def _attach_grants(user, entry: dict) -> None:
    """Give ``user`` the grants of ``entry``, where ModelBackend and the selectors look."""
    # ModelBackend keeps a user's permissions on these attributes for the user object's
    # life (one request), and reads them before any query: filled here, has_perm is free.
    user._user_perm_cache = set(entry["user_permissions"])
    user._group_perm_cache = set(entry["group_permissions"])
    user._perm_cache = {*entry["user_permissions"], *entry["group_permissions"]}
    setattr(user, selectors.CACHE_ATTRIBUTE, entry["world_ids"])


def _entry_key(prefix: str, *, legacy: bool) -> str:
    # The prefix comes from the client: hashed, any text makes a valid cache key.
    digest = hashlib.sha256(f"{int(legacy)}:{prefix}".encode()).hexdigest()
    return KEY_ENTRY_PREFIX + digest


def _load_api_key(prefix: str, *, legacy: bool) -> dict | None:
    api_key = (
        ApiKey.objects.select_related("owner")
        .filter(prefix=prefix, legacy=legacy, revoked=False)
        .first()
    )
    if api_key is None:
        return None
    owner = api_key.owner
    return {
        "key": {field.attname: getattr(api_key, field.attname) for field in _key_fields()},
        "owner": {name: getattr(owner, name) for name in _user_fields()},
        "key_world_ids": selectors.key_world_ids(api_key),
        **_grants_of(owner),
    }


def _key_fields():
    return ApiKey._meta.concrete_fields


def _user_fields() -> tuple[str, ...]:
    return (*USER_FIELDS, get_user_model().USERNAME_FIELD)


def _from_db(model, values: dict):
    """An instance of ``model`` as the ORM builds one from ``values`` (others deferred).

    Deferred fields load on first access, and ``save()`` writes only loaded fields, so the
    instance can never write back blanks over what was not cached.
    """
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])


def get_api_key(prefix: str, *, legacy: bool) -> ApiKey | None:
    """Return the unrevoked API key of ``prefix`` with its owner and grants, or None.

    The key is not checked: the caller verifies the sent key against ``hashed_key`` and
    the expiry date, as for a key read from the database. The owner (``api_key.owner``)
    carries its permissions and world limits, and the key its worlds (``_world_ids``), so
    the permission classes and ``require_world`` run no query.
    """
    entry = _lookup(_entry_key(prefix, legacy=legacy), lambda: _load_api_key(prefix, legacy=legacy))
    if entry is None:
        return None
    api_key = _from_db(ApiKey, entry["key"])
    owner = _from_db(get_user_model(), entry["owner"])
    _attach_grants(owner, entry)
    api_key.owner = owner
    api_key._world_ids = entry["key_world_ids"]
    return api_key


def attach_user_grants(user) -> None:
    """Give a signed-in ``user`` their permissions and world limits from the cache."""
    if not getattr(user, "is_authenticated", False) or user.pk is None:
        return
    entry = _lookup(f"{USER_ENTRY_PREFIX}{user.pk}", lambda: _grants_of(user))
    _attach_grants(user, entry)
