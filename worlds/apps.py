from django.apps import AppConfig


class WorldsConfig(AppConfig):
    name = "worlds"
    verbose_name = "Worlds and characters"

    def ready(self) -> None:
        from worlds import checks  # noqa: F401  (registers the policy system checks)
