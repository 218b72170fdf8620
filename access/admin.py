"""The admin of users, groups, world memberships and the admin's own log.

Django's ``UserAdmin`` lets anyone holding ``auth.change_user`` edit every field of every
user: a staff member could make themselves superuser, or reset a superuser's password and
sign in as them. The admins here keep every privilege with the superusers:

- only a superuser may set ``is_superuser``, ``is_staff``, ``groups`` or
  ``user_permissions`` (read-only for everyone else, on the add and change forms);
- only a superuser may change a staff or superuser account (its form, its password
  form) or delete it; others may at most view it: resetting a game master's password
  and signing in as them would be taking their role;
- only a superuser may add, change or delete a group: a group carries permissions, and
  renaming a role's group would detach it from the product's roles;
- only a superuser may add, change or delete world memberships.

What the admin does is recorded by Django in its log (``LogEntry``), shown here read-only.
"""

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from access.models import WorldMembership
from pipeworks.admin import ReadOnlyAdmin

User = get_user_model()

# The fields of a user that grant privileges.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


def _is_superuser(request) -> bool:
    return request.user.is_active and request.user.is_superuser


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AccessUserAdmin(UserAdmin):
    """Django's user admin; privileges and superuser accounts are for superusers only."""

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if _is_superuser(request):
            return readonly
        return readonly + tuple(field for field in PRIVILEGE_FIELDS if field not in readonly)

    def has_change_permission(self, request, obj=None):
        # Also guards the password form (UserAdmin.user_change_password asks this).
        if _privileged(obj) and not _is_superuser(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if _privileged(obj) and not _is_superuser(request):
            return False
        return super().has_delete_permission(request, obj)


def _privileged(user) -> bool:
    return user is not None and (user.is_superuser or user.is_staff)


@admin.register(Group)
class AccessGroupAdmin(GroupAdmin):
    """Django's group admin: groups are roles, so only superusers may change them."""

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if _is_superuser(request) or "permissions" in readonly:
            return readonly
        return (*readonly, "permissions")

    def has_add_permission(self, request):
        return _is_superuser(request)

    def has_change_permission(self, request, obj=None):
        return _is_superuser(request)

    def has_delete_permission(self, request, obj=None):
        return _is_superuser(request)


@admin.register(WorldMembership)
class WorldMembershipAdmin(admin.ModelAdmin):
    """World limits: superusers edit them; staff with the view permission read them."""

    list_display = ("world", "user", "group")
    list_filter = ("world",)
    search_fields = ("world__world_id", "user__username", "group__name")
    list_select_related = ("world", "user", "group")
    ordering = ("world", "id")
    fields = ("world", "user", "group")

    def has_add_permission(self, request):
        return _is_superuser(request)

    def has_change_permission(self, request, obj=None):
        return _is_superuser(request)

    def has_delete_permission(self, request, obj=None):
        return _is_superuser(request)


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """What was done through the admin, by whom and when; nobody may edit it."""

    source_note = "Written by the admin on every add, change and delete; read-only."
    list_display = (
        "action_time",
        "user",
        "content_type",
        "object_repr",
        "action_flag",
        "change_message_text",
    )
    list_filter = ("user", "action_flag", "content_type")
    search_fields = ("object_repr", "change_message", "user__username")
    list_select_related = ("user", "content_type")
    ordering = ("-action_time",)
    date_hierarchy = "action_time"
    fields = (
        "action_time",
        "user",
        "content_type",
        "object_id",
        "object_repr",
        "action_flag",
        "change_message_text",
    )
    readonly_fields = fields

    @admin.display(description="change message")
    def change_message_text(self, obj):
        return obj.get_change_message()
