"""Writes of the access app that span several rows."""

from datetime import datetime

from access.models import ApiKey
from pipeworks.transactions import atomic_commit


@atomic_commit()
def create_api_key(
    *,
    owner,
    name: str,
    may_apply: bool = False,
    may_reverse: bool = False,
    worlds=(),
    expires_at: datetime | None,
    created_by=None,
) -> tuple[ApiKey, str]:
    """Create an API key and return it with its secret, which is stored only as a hash.

    Returns:
        The key row and the key to hand to the client (``<prefix>.<secret>``): the only
        time it exists in clear.
    """
    api_key, key = ApiKey.objects.create_key(
        name=name,
        owner=owner,
        may_apply=may_apply,
        may_reverse=may_reverse,
        expiry_date=expires_at,
        created_by=created_by,
    )
    api_key.worlds.set(worlds)
    return api_key, key
