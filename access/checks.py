"""System checks of access: the cache that lockouts and throttles count in is shared.

Login lockouts and throttles count attempts in ``caches["default"]``. A per-process cache
(``LocMemCache``) keeps one count per worker, multiplying every limit by the number of
workers; ``DummyCache`` counts nothing at all. Both are fine for a developer's single
process, so the check warns only outside development: with ``PIPEWORKS_ENV=production``
or with DEBUG off.
"""

from django.conf import settings
from django.core.checks import Tags, Warning, register

PER_PROCESS_CACHES = frozenset(
    {
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
    }
)
ACCESS_CACHE_NOT_SHARED = (
    "the default cache ({backend}) is not shared by the worker processes: login lockouts "
    "and throttles would count per process, multiplying their limits by the worker count"
)


@register(Tags.caches)
def check_cache_is_shared(app_configs, **kwargs):
    """Warn when the default cache is per process (or none) outside development."""
    if settings.DEBUG and settings.PIPEWORKS_ENV != "production":
        return []
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend not in PER_PROCESS_CACHES:
        return []
    return [
        Warning(
            ACCESS_CACHE_NOT_SHARED.format(backend=backend.rsplit(".", 1)[-1]),
            hint="Set REDIS_URL, or leave CACHES to the database cache of the settings.",
            id="access.W001",
        )
    ]
