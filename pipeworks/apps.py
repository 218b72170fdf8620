"""The project's admin configuration (``pipeworks`` itself is not an app)."""

from django.contrib.admin.apps import AdminConfig


class InspectorAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the inspector's site as ``admin.site``."""

    default_site = "pipeworks.admin.InspectorAdminSite"
