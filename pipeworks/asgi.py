"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")

application = get_asgi_application()

# Imported after setup: the app registry must be ready.
from worlds.startup import log_policy_reports  # noqa: E402

log_policy_reports()
