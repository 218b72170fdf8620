from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    label = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        # Registered on import: the shared-cache system check, the API key's schema scheme.
        from access import checks, schema  # noqa: F401
        from access.signals import connect

        # Cached credentials are dropped whenever a row granting access changes.
        connect()
