"""Request ids: one id per HTTP request, on the response and on every log line it causes.

A client, a proxy or a load balancer may send ``X-Request-ID``; the middleware keeps a
sane one and otherwise makes its own, answers it in ``X-Request-ID`` on every response,
and makes it readable to any code running for the request (``current_request_id()``) and
to every log record (``RequestIdFilter``). A user who reports a failure quotes the id
from the response, and the log lines of that request are found by it.

The id is a correlation id, not an idempotency key: two requests with the same id are
two requests, both applied. Retries are made safe by the event's ``idempotency_key``.
It is also untrusted client input, so it is only kept when it cannot forge or break a
log line or a response header.

This module imports nothing from Django or the apps: the logging configuration loads
``RequestIdFilter`` before the apps are ready.
"""

import logging
import uuid
from contextvars import ContextVar

# A longer id is replaced, not cut: a cut id would no longer match the client's.
MAX_REQUEST_ID_LENGTH = 200
REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_META = "HTTP_X_REQUEST_ID"
# What a log record outside any request shows in place of an id.
NO_REQUEST_ID = "-"

_request_id: ContextVar[str | None] = ContextVar("pipeworks_request_id", default=None)


def current_request_id() -> str | None:
    """Return the id of the request being handled, or None outside a request."""
    return _request_id.get()


def is_sane_request_id(value: str) -> bool:
    """Return whether a client's id is fit to echo and to log.

    Sane means 1 to ``MAX_REQUEST_ID_LENGTH`` printable ASCII characters (space included,
    but not only spaces): no control character can split a log line or a header, and no
    non-ASCII text can be mistaken for another id. The length is checked first, so a
    10 kB header costs nothing more.
    """
    return (
        0 < len(value) <= MAX_REQUEST_ID_LENGTH
        and value.isascii()
        and value.isprintable()
        and not value.isspace()
    )


class RequestIdMiddleware:
    """Give every request an id, and every response the ``X-Request-ID`` header.

    Sits first in ``MIDDLEWARE``: Django turns an exception raised in any inner layer
    into a response (404, 500) before it reaches the layer outside, so the outermost
    layer sees every response, including SecurityMiddleware's HTTPS redirect, and the id
    is in place before any other layer logs.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        supplied = request.META.get(REQUEST_ID_META, "")
        request_id = supplied if is_sane_request_id(supplied) else uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            # A worker thread serves request after request: none may inherit this id.
            _request_id.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Add ``record.request_id`` to every log record, for the formatter to print.

    The id is that of the request being handled. Django logs a 4xx or 5xx response after
    the middleware chain has returned (``BaseHandler.get_response``), when the request is
    no longer current; such records carry the request itself, whose id is used instead.
    Outside any request the id is ``NO_REQUEST_ID``. The filter never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        if request_id is None:
            request_id = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = request_id if isinstance(request_id, str) else NO_REQUEST_ID
        return True
