"""Reads of the world limits (the rules are on ``access.models.WorldMembership``)."""

from typing import TYPE_CHECKING

from django.db.models import Q

from access.models import ApiKey, WorldMembership

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    User = AbstractBaseUser | AnonymousUser

# The answer is cached on the user object, which lives as long as the request: a
# membership changed during the request is seen by the next one.
CACHE_ATTRIBUTE = "_access_allowed_world_ids"


def allowed_world_ids(user: "User") -> frozenset[str] | None:
    """Return the ids of the worlds ``user`` is limited to, or None when not limited.

    A superuser is never limited; an anonymous or inactive user may use no world. Any
    other user is limited to the worlds of the memberships naming them or one of their
    groups, or not limited at all when there is none. One query at most, and none again
    for the same user object.

    Args:
        user: A user, or ``AnonymousUser``.

    Returns:
        A frozenset of world ids, or None for every world.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return None
    try:
        return getattr(user, CACHE_ATTRIBUTE)
    except AttributeError:
        pass
    # The groups are a subquery, so this is one query however many groups the user has.
    world_ids = frozenset(
        WorldMembership.objects.filter(Q(user=user) | Q(group__in=user.groups.values("pk")))
        .values_list("world_id", flat=True)
        .distinct()
    )
    allowed = world_ids or None
    setattr(user, CACHE_ATTRIBUTE, allowed)
    return allowed


def may_use_world(user: "User", *, world_id: str) -> bool:
    """Return whether ``user`` may see and act in world ``world_id``."""
    allowed = allowed_world_ids(user)
    return allowed is None or world_id in allowed


def key_world_ids(api_key: ApiKey) -> frozenset[str]:
    """Return the ids of the worlds ``api_key`` is limited to (empty: not limited).

    Read through the key's own link table, an ``access`` row, so that with read replicas
    it is read on the primary like every other row that decides who may do what
    (``pipeworks.replicas.PRIMARY_ONLY_APPS``): ``api_key.worlds`` would query the
    ``World`` model, which a GET request reads on a replica that may not have the change
    yet.
    """
    links = ApiKey.worlds.through.objects.filter(apikey_id=api_key.pk)
    return frozenset(links.values_list("world_id", flat=True))
