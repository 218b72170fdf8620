"""World limits: which worlds a user may see and act in."""

from django.conf import settings
from django.db import models
from django.db.models import Q

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
