"""WSGI entry point (gunicorn, and `manage.py runserver` through WSGI_APPLICATION)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pipeworks.settings")

application = get_wsgi_application()

# Imported after setup: the app registry must be ready.
from worlds.startup import log_policy_reports  # noqa: E402

log_policy_reports()

# Everything loaded so far lives as long as the process: keep it out of the garbage
# collector's full passes, which paused admin pages for ~75 ms (bench/results.md, p99).
gc.freeze()
