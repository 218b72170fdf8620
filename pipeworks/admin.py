"""The admin site and the admin pieces every app shares.

``InspectorAdminSite`` is ``admin.site`` (``pipeworks.apps.InspectorAdminConfig`` names
it); ``ReadOnlyAdmin`` and ``ReadOnlyInline`` are the bases of every registry and ledger
page, whose rows only services write. Nothing here imports an app of the project.
"""

from functools import update_wrapper
from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied

from pipeworks.replicas import list_replica_statuses, replica_aliases

MAX_MESSAGES = 20


class InspectorAdminSite(admin.AdminSite):
    """Django's admin site, refusing signed-in users who may not use it with a 403.

    Django's admin answers a signed-in user who is not staff with a redirect to its
    login page, as if they were anonymous. The inspector refuses them outright instead,
    as the REST API beside it does. Anonymous visitors are still sent to the login page,
    which stays open to everyone.
    """

    site_header = "PipeWorks Axis inspector"
    site_title = "PipeWorks Axis"
    index_title = "Character state ledger"

    def admin_view(self, view, cacheable=False):
        """Wrap an admin view: 403 for a signed-in user without access, else as Django."""
        checked = super().admin_view(view, cacheable)

        def inner(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return checked(request, *args, **kwargs)

        return update_wrapper(inner, checked)

    def index(self, request, extra_context=None):
        """Django's index, with each read replica's replay lag when replicas are configured.

        The replicas are probed afresh (not the per-process cache the router uses), so the
        page shows the lag of this moment.
        """
        extra_context = extra_context or {}
        if replica_aliases():
            extra_context["replicas"] = list_replica_statuses()
            extra_context["replica_max_lag"] = settings.PIPEWORKS_REPLICA_MAX_LAG
        return super().index(request, extra_context)

    def login(self, request, extra_context=None):
        """Django's login view; a login form that refused an attempt unchecked sets the status.

        The ``login_form`` (``access.forms.ThrottledAdminAuthenticationForm``, set by
        ``access.admin``) marks an attempt it refused without checking the password (a
        lockout) with ``refusal_status`` and ``retry_after``: the login page is then
        answered with that status (429) and a ``Retry-After`` header instead of 200.
        """
        response = super().login(request, extra_context)
        form = (getattr(response, "context_data", None) or {}).get("form")
        status = getattr(form, "refusal_status", None)
        if status:
            response.status_code = status
            if getattr(form, "retry_after", None):
                response["Retry-After"] = str(form.retry_after)
        return response


def policy_files_hint() -> str:
    """Return where registry data is edited, for the read-only registry pages."""
    directory = Path(settings.PIPEWORKS_WORLDS_DIR)
    try:
        shown = directory.relative_to(settings.BASE_DIR)
    except ValueError:
        shown = directory
    return f"Edit {shown}/<world>/policies/*.yaml and run manage.py sync_policies."


def report_messages(request, level, lines: list[str]) -> None:
    """Add one message per line, at most ``MAX_MESSAGES`` of them."""
    for line in lines[:MAX_MESSAGES]:
        messages.add_message(request, level, line)
    if len(lines) > MAX_MESSAGES:
        messages.add_message(request, level, f"… and {len(lines) - MAX_MESSAGES} more.")


class ReadOnlyAdmin(admin.ModelAdmin):
    """A view-only admin: no add, change or delete for anyone, superusers included.

    The rows are written by services (policy sync, the ledger); ``source_note`` tells the
    reader where the data really comes from.
    """

    change_list_template = "admin/pipeworks/readonly_change_list.html"
    change_form_template = "admin/pipeworks/readonly_change_form.html"
    source_note = ""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_source_note(self) -> str:
        return self.source_note

    def changelist_view(self, request, extra_context=None):
        context = {"source_note": self.get_source_note(), **(extra_context or {})}
        return super().changelist_view(request, context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        context = {"source_note": self.get_source_note(), **(extra_context or {})}
        return super().changeform_view(request, object_id, form_url, context)


class ReadOnlyInline(admin.TabularInline):
    """A read-only inline shown to whoever may view the parent object."""

    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return self.admin_site.get_model_admin(self.parent_model).has_view_permission(request, obj)


class ParametersFilter(admin.ListFilter):
    """A list filter of several query parameters, set by links rather than chosen in a list.

    The world page's statistics link each number to the rows that make it up (events of
    a type in a window, characters in a score band, ...); this filter shows what such a
    link selected, with "All" to drop it. Subclasses parse the values in ``queryset``
    and refuse a bad one with ``IncorrectLookupParameters``, as the admin's own filters
    do (the list then shows ``?e=1``).
    """

    parameters: tuple[str, ...] = ()

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]

    def expected_parameters(self):
        return list(self.parameters)

    def has_output(self):
        return bool(self.used_parameters)

    def describe(self) -> str:
        """Return what the parameters select, in words."""
        raise NotImplementedError

    def choices(self, changelist):
        yield {
            "selected": False,
            "query_string": changelist.get_query_string(remove=self.parameters),
            "display": "All",
        }
        yield {
            "selected": True,
            "query_string": changelist.get_query_string(),
            "display": self.describe(),
        }
