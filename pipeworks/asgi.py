"""ASGI entry point."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")

application = get_asgi_application()

# Imported after setup: the app registry must be ready.
from worlds.startup import log_policy_reports  # noqa: E402

log_policy_reports()

# Everything loaded so far lives as long as the process: keep it out of the garbage
# collector's full passes, which paused admin pages for ~75 ms (bench/results.md, p99).
gc.freeze()
