"""The inspector's admin site: staff only, and a plain 403 for everyone else signed in.

Django's admin answers a signed-in user who is not staff with a redirect to its login
page, as if they were anonymous. The inspector refuses them outright instead, as the
REST API beside it does. Anonymous visitors are still sent to the login page, which
stays open to everyone.
"""

from functools import update_wrapper

from django.contrib import admin
from django.core.exceptions import PermissionDenied


class InspectorAdminSite(admin.AdminSite):
    """Django's admin site, refusing signed-in users who may not use it with a 403."""

    def admin_view(self, view, cacheable=False):
        """Wrap an admin view: 403 for a signed-in user without access, else as Django."""
        checked = super().admin_view(view, cacheable)

        def inner(request, *args, **kwargs):
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied
            return checked(request, *args, **kwargs)

        return update_wrapper(inner, checked)


site = InspectorAdminSite()


def get_site() -> InspectorAdminSite:
    """Return the one inspector site: ``InspectorAdminConfig.default_site``.

    ``admin.site`` calls ``default_site`` when first used. Importing this module runs
    ``worlds/admin/__init__.py`` first, whose ``@admin.register`` calls use ``admin.site``
    while it is still being built, so it is built twice; both times it must get the same
    instance, or the worlds registrations would land on a discarded site.
    """
    return site
