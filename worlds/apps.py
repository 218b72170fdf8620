from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class WorldsConfig(AppConfig):
    name = "worlds"
    verbose_name = "Worlds and characters"

    def ready(self) -> None:
        from worlds import checks  # noqa: F401  (registers the policy system checks)


class InspectorAdminConfig(AdminConfig):
    """``django.contrib.admin`` with the inspector's site as ``admin.site``."""

    default_site = "worlds.admin.site.get_site"
