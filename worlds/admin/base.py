"""Shared pieces of the admin: read-only bases, formatting and message helpers.

The axes and ledger admins build on ``ReadOnlyAdmin`` and ``ReadOnlyInline`` too.
"""

from pathlib import Path

from django.conf import settings
from django.contrib import admin, messages

MAX_MESSAGES = 20


def policy_files_hint() -> str:
    """Return where registry data is edited, for the read-only registry pages."""
    directory = Path(settings.PIPEWORKS_WORLDS_DIR)
    try:
        shown = directory.relative_to(settings.BASE_DIR)
    except ValueError:
        shown = directory
    return f"Edit {shown}/<world>/policies/*.yaml and run manage.py sync_policies."


def format_score(value: float) -> str:
    """Format a score at its stored precision without trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def format_signed(value: float) -> str:
    """Format a change with its sign."""
    text = format_score(value)
    return text if text.startswith("-") or text == "0" else f"+{text}"


def format_percent(value: float) -> str:
    """Format a score in [0, 1] as a CSS percentage."""
    return f"{min(max(value, 0.0), 1.0) * 100:.3f}"


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
