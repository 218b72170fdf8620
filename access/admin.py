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

API keys are created here and shown once, on the page that answers the creation, never
stored or shown again; a key is never stronger than its creator: its scopes need the
creator's own permissions, its worlds the creator's worlds, and a non-superuser creates
keys only for themselves or for service accounts (users who are not staff). Revoking is
an action, for good.

What the admin does is recorded by Django in its log (``LogEntry``), shown here read-only.
"""

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.template.response import TemplateResponse
from django.utils import timezone
from rest_framework_api_key.models import APIKey

from access.forms import ThrottledAdminAuthenticationForm
from access.models import ApiKey, LoginLockout, WorldMembership
from access.roles import APPLY_PERMISSION, READ_PERMISSION, REVERSE_PERMISSION
from access.selectors import allowed_world_ids
from access.throttle import lift_login_lockouts
from pipeworks.admin import ReadOnlyAdmin

User = get_user_model()

# The fields of a user that grant privileges.
PRIVILEGE_FIELDS = ("is_superuser", "is_staff", "groups", "user_permissions")


def _is_superuser(request) -> bool:
    return request.user.is_active and request.user.is_superuser


admin.site.unregister(User)
admin.site.unregister(Group)
admin.site.unregister(APIKey)  # the library's own table stays unused: access.ApiKey replaces it
# The login form counts failed logins and refuses locked-out ones before any hashing.
admin.site.login_form = ThrottledAdminAuthenticationForm


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


DEFAULT_KEY_LIFETIME = timedelta(days=90)
API_KEY_OWNER_TOO_STRONG = (
    "Only a superuser may create a key for another staff account; choose yourself or a "
    "service account (a user who is not staff)."
)
API_KEY_SCOPE_TOO_STRONG = "You may not create a key that may {what}: you may not yourself."
API_KEY_WORLDS_TOO_WIDE = "Limit the key to your worlds: {worlds}."
API_KEY_EXPIRY_PAST = "The expiry date must be in the future."
API_KEYS_REVOKED = "Revoked {count} API key(s); clients using them now get 401."


class ApiKeyCreationForm(forms.ModelForm):
    """A new key, checked against its creator's own rights (``creator`` is set by the admin)."""

    creator = None

    class Meta:
        model = ApiKey
        fields = ("name", "owner", "may_apply", "may_reverse", "worlds", "expiry_date")

    def clean(self):
        data = super().clean()
        creator = self.creator
        if creator is None or creator.is_superuser:
            return data
        owner = data.get("owner")
        if owner is not None and owner != creator and (owner.is_staff or owner.is_superuser):
            self.add_error("owner", API_KEY_OWNER_TOO_STRONG)
        for field, permission, what in (
            ("may_apply", APPLY_PERMISSION, "apply events"),
            ("may_reverse", REVERSE_PERMISSION, "reverse events"),
        ):
            if data.get(field) and not creator.has_perm(permission):
                self.add_error(field, API_KEY_SCOPE_TOO_STRONG.format(what=what))
        if not creator.has_perm(READ_PERMISSION):
            self.add_error(None, API_KEY_SCOPE_TOO_STRONG.format(what="read the ledger"))
        allowed = allowed_world_ids(creator)
        worlds = {world.pk for world in data.get("worlds") or []}
        if allowed is not None and (not worlds or not worlds <= allowed):
            self.add_error(
                "worlds", API_KEY_WORLDS_TOO_WIDE.format(worlds=", ".join(sorted(allowed)))
            )
        return data

    def clean_expiry_date(self):
        expiry = self.cleaned_data.get("expiry_date")
        if expiry is not None and expiry <= timezone.now():
            raise forms.ValidationError(API_KEY_EXPIRY_PAST)
        return expiry


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Server-to-server keys: created (shown once), listed, revoked; never shown again."""

    list_display = ("name", "prefix", "owner", "scopes", "created", "expiry_date", "revoked")
    list_filter = ("revoked", "legacy", "may_apply", "may_reverse")
    search_fields = ("name", "prefix", "owner__username")
    list_select_related = ("owner",)
    actions = ("revoke_selected",)
    readonly_fields = (
        "prefix",
        "owner",
        "may_apply",
        "may_reverse",
        "worlds",
        "created",
        "created_by",
        "legacy",
        "revoked",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            # modelform_factory made this class for this request: the creator is its own.
            form.creator = request.user
            form.base_fields["expiry_date"].initial = timezone.now() + DEFAULT_KEY_LIFETIME
            form.base_fields["expiry_date"].required = True
        return form

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_fields(self, request, obj=None):
        if obj is None:
            return list(ApiKeyCreationForm.Meta.fields)
        return ["name", "expiry_date", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        obj.created_by = request.user
        # Kept on this request's object only, for response_add to show once.
        obj.new_key = ApiKey.objects.assign_key(obj)
        obj.save()

    def response_add(self, request, obj, post_url_continue=None):
        """Show the key once, on this page only: it is stored nowhere, not even a message."""
        context = {
            **self.admin_site.each_context(request),
            "title": f"API key {obj.name}",
            "api_key": obj,
            "key": obj.new_key,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/access/apikey/created.html", context)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: events name the key by its prefix

    @admin.display(description="scopes")
    def scopes(self, obj):
        return ", ".join(
            ["read"]
            + (["apply"] if obj.may_apply else [])
            + (["reverse"] if obj.may_reverse else [])
        )

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        keys = list(queryset.filter(revoked=False))
        for key in keys:
            key.revoked = True
            key.save(update_fields=["revoked"])
            self.log_change(request, key, "Revoked")
        self.message_user(request, API_KEYS_REVOKED.format(count=len(keys)), messages.SUCCESS)


LOCKOUTS_LIFTED = "Lifted {count} login lockout(s); their next attempts count from zero."
LOCKOUTS_NOT_ACTIVE = "No active lockout among those selected: nothing lifted."


class LockoutStateFilter(admin.SimpleListFilter):
    """Active lockouts by default; lifted, expired or all on request."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", "active"), ("lifted", "lifted"), ("expired", "expired"), ("all", "all"))

    def value(self):
        return super().value() or "active"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        now = timezone.now()
        state = self.value()
        if state == "active":
            return queryset.filter(lifted_at__isnull=True, locked_until__gt=now)
        if state == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        if state == "expired":
            return queryset.filter(lifted_at__isnull=True, locked_until__lte=now)
        return queryset


@admin.register(LoginLockout)
class LoginLockoutAdmin(ReadOnlyAdmin):
    """Login lockouts, active ones first; holders of ``access.lift_loginlockout`` lift them."""

    source_note = (
        "Written when failed admin logins of a username or from an address reach their "
        "limit (PIPEWORKS_LOGIN_FAILURES_PER_*); read-only. Lifting one lets its next "
        "attempt count from zero."
    )
    list_display = (
        "kind",
        "value",
        "failures",
        "locked_at",
        "locked_until",
        "lifted_at",
        "lifted_by",
    )
    list_filter = (LockoutStateFilter, "kind")
    search_fields = ("value",)
    list_select_related = ("lifted_by",)
    ordering = ("-locked_at", "-id")
    fields = list_display
    readonly_fields = fields
    actions = ["lift_selected"]

    def has_lift_permission(self, request):
        return request.user.is_active and request.user.has_perm("access.lift_loginlockout")

    @admin.action(description="Lift selected lockouts", permissions=["lift"])
    def lift_selected(self, request, queryset):
        lifted = lift_login_lockouts(lockouts=queryset, lifted_by=request.user)
        if lifted:
            self.message_user(request, LOCKOUTS_LIFTED.format(count=len(lifted)), messages.SUCCESS)
        else:
            self.message_user(request, LOCKOUTS_NOT_ACTIVE, messages.WARNING)
