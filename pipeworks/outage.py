"""A database outage outside the API is a 503 page that says what is known, not a 500.

The REST API answers outages itself (``pipeworks.api``). The admin's pages and forms
would otherwise end in Django's 500 page, which says nothing about whether a submitted
change was saved: a GET changed nothing; a POST may or may not have been saved (a
ModelAdmin's own transaction does not tell a failed COMMIT from an earlier failure), so
the page asks the user to check before submitting again.
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string

from pipeworks.transactions import OutcomeUnknown

logger = logging.getLogger(__name__)

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
RETRY_AFTER_SECONDS = 1


class DatabaseOutageMiddleware:
    """Answer a view's database outage with the 503 page ``templates/503.html``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError | OutcomeUnknown):
            return None
        logger.warning("database outage on %s %s: %s", request.method, request.path, exception)
        context = {
            "writing": request.method not in READ_METHODS,
            "outcome_unknown": isinstance(exception, OutcomeUnknown),
        }
        # Rendered without the request: context processors could query the database.
        response = HttpResponse(render_to_string("503.html", context), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
