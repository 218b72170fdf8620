"""The project's admin configuration (``pipeworks`` itself is not an app)."""

from django.contrib.admin.apps import AdminConfig


class InspectorAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the inspector's site as ``admin.site``."""

    default_site = "pipeworks.admin.InspectorAdminSite"

    def ready(self):
        super().ready()
        # The project's own system checks (read replicas, pooling) register on import;
        # ``pipeworks`` is not an app, so its admin's config loads them.
        from pipeworks import connections, pooling, replicas  # noqa: F401

        connections.connect()
