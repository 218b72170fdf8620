"""World limits (which worlds a user may see and act in), server-to-server API keys and
the login lockouts operators see and lift."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from worlds.models import World

WORLD_MEMBERSHIP_USER_XOR_GROUP = "A world membership names either a user or a group, not both."


class WorldMembership(models.Model):
    """A WorldMembership admits one user, or every member of one group, to one World.

    Memberships only ever narrow what a user may reach:

    - a superuser sees and may act in every world, memberships or not;
    - any other user to whom no membership applies (none names them, none names one of
      their groups) is not limited: they may use every world their permissions allow;
    - once at least one membership applies to a user, directly or through any of their
      groups, they are limited to exactly the union of those memberships' worlds.

    So the first membership given to a user (or to one of their groups) takes every
    other world away from them. Permissions (what they may do) are separate: a
    membership grants no permission, it only says where the user's permissions apply.
    ``access.selectors.allowed_world_ids`` is the one reading of these rules.
    """

    world = models.ForeignKey(
        World,
        on_delete=models.CASCADE,
        related_name="memberships",
        help_text="The world the user or group is admitted to.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="world_memberships",
        help_text="The user admitted; leave empty when a group is.",
    )
    group = models.ForeignKey(
        "auth.Group",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="world_memberships",
        help_text="The group whose members are admitted; leave empty when a user is.",
    )

    class Meta:
        db_table = "world_membership"
        ordering = ["world", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(user__isnull=False, group__isnull=True)
                    | Q(user__isnull=True, group__isnull=False)
                ),
                name="world_membership_user_xor_group",
                violation_error_message=WORLD_MEMBERSHIP_USER_XOR_GROUP,
            ),
            models.UniqueConstraint(fields=["world", "user"], name="world_membership_unique_user"),
            models.UniqueConstraint(
                fields=["world", "group"], name="world_membership_unique_group"
            ),
        ]

    def __str__(self) -> str:
        member = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{member} in {self.world_id}"


class ApiKeyQuerySet(models.QuerySet):
    """Bulk changes of keys drop the cached credentials, as saves and deletes do.

    ``update()`` sends no signal; without this a key revoked or expired by a queryset
    would keep working from the cache (``access.credentials``).
    """

    def update(self, **kwargs):
        from access.credentials import revoke_cached_credentials

        rows = super().update(**kwargs)
        revoke_cached_credentials()
        return rows

    update.alters_data = True


class ApiKeyManager(BaseAPIKeyManager.from_queryset(ApiKeyQuerySet)):
    """The key manager of djangorestframework-api-key, over ``ApiKeyQuerySet``."""


class ApiKey(AbstractAPIKey):
    """A server-to-server credential of one owner, hashed at rest and shown once.

    A game server sends ``Authorization: Api-Key <prefix>.<secret>``; only the prefix and
    a SHA-512 hash of the key are stored (djangorestframework-api-key), so a backup or a
    replica holds no working credential. A key acts as its owner (a service account that
    is not staff, or a person), narrowed by its own limits: it may read; it may apply or
    reverse events only with ``may_apply``/``may_reverse`` *and* the owner's permission;
    with ``worlds`` it is limited to those of the owner's worlds. Many keys per owner,
    each with an expiry date, revocable (for good) at any time.

    ``legacy`` keys are the DRF tokens of earlier versions, hashed by the migration that
    replaced them: their clients keep sending ``Authorization: Token <key>`` until they
    move to a new key (README, "API keys").
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_keys",
        help_text="Whose permissions the key acts with.",
    )
    may_apply = models.BooleanField(
        default=False, help_text="May apply events (the owner needs the permission too)."
    )
    may_reverse = models.BooleanField(
        default=False, help_text="May reverse events (the owner needs the permission too)."
    )
    worlds = models.ManyToManyField(
        World,
        blank=True,
        related_name="+",
        help_text="Limit the key to these worlds (none: every world its owner may use).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    legacy = models.BooleanField(
        default=False, editable=False, help_text="A DRF token of an earlier version, hashed."
    )

    objects = ApiKeyManager()

    class Meta(AbstractAPIKey.Meta):
        db_table = "api_key"

    @property
    def actor_name(self) -> str:
        """How events written with the key name their actor: the key, with its owner."""
        return f"{self.owner.get_username()} (key {self.prefix})"


class LoginLockout(models.Model):
    """A LoginLockout records that the admin login refused a username or an address.

    ``access.throttle`` writes one when failed logins of one username (or from one client
    address) reach their limit in a window; it stays active until ``locked_until`` (the end
    of the window) unless an operator lifts it first. Lifting (``lift_login_lockouts``)
    sets ``lifted_at`` and ``lifted_by`` and makes the next attempt count from zero. The
    failure counts themselves live in the shared cache; these rows are what operators see.
    """

    class Kind(models.TextChoices):
        USERNAME = "username", "username"
        ADDRESS = "address", "client address"

    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        help_text="What was locked out: a username or an address.",
    )
    value = models.CharField(
        max_length=255,
        help_text="The username (lower-cased) or the client address (an IPv6 /64 network).",
    )
    failures = models.PositiveIntegerField(
        help_text="Failed logins counted in the window when the lockout was last recorded."
    )
    locked_at = models.DateTimeField(
        default=timezone.now, editable=False, help_text="When the limit was reached."
    )
    locked_until = models.DateTimeField(
        help_text="When the lockout ends by itself: the end of the counting window."
    )
    lifted_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When an operator lifted it, if one did."
    )
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
        help_text="The operator who lifted it.",
    )

    class Meta:
        db_table = "login_lockout"
        ordering = ["-locked_at", "-id"]
        indexes = [models.Index(fields=["kind", "value"], name="login_lockout_kind_value")]
        permissions = [("lift_loginlockout", "Can lift login lockouts")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value}"

    @property
    def is_active(self) -> bool:
        """Whether the lockout still refuses logins: not lifted and not yet over."""
        return self.lifted_at is None and self.locked_until > timezone.now()
