"""Drop the cached credentials whenever a row that grants or limits access changes.

Not domain flow but cache invalidation, which Django's own apps do with signals (the
sites framework clears its cache on ``pre_save``/``pre_delete`` of a site): whoever
changes these rows (the admin, a command, a shell, any process), the next API request in
every worker reads them again (``access.credentials``).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db.models.signals import m2m_changed, post_delete, post_save

from access.credentials import revoke_cached_credentials
from access.models import ApiKey, WorldMembership
from worlds.models import World

# A login stamps last_login on the user: no grant changes, so nothing is dropped.
IGNORED_USER_FIELDS = frozenset({"last_login"})


def _saved(sender, instance, update_fields=None, **kwargs) -> None:
    if (
        sender is get_user_model()
        and update_fields is not None
        and set(update_fields) <= IGNORED_USER_FIELDS
    ):
        return
    revoke_cached_credentials()


def _deleted(sender, instance, **kwargs) -> None:
    revoke_cached_credentials()


def _m2m_changed(sender, action, **kwargs) -> None:
    if action in {"post_add", "post_remove", "post_clear"}:
        revoke_cached_credentials()


def connect() -> None:
    """Connect the handlers (``AccessConfig.ready``)."""
    user_model = get_user_model()
    for model in (user_model, Group, Permission, ApiKey, WorldMembership):
        post_save.connect(_saved, sender=model, dispatch_uid=f"access.credentials.{model}")
        post_delete.connect(_deleted, sender=model, dispatch_uid=f"access.credentials.{model}")
    post_delete.connect(_deleted, sender=World, dispatch_uid="access.credentials.world")
    for through in (
        user_model.groups.through,
        user_model.user_permissions.through,
        Group.permissions.through,
        ApiKey.worlds.through,
    ):
        m2m_changed.connect(
            _m2m_changed, sender=through, dispatch_uid=f"access.credentials.{through}"
        )
