"""Request body limits per view: small by default, larger only where a request needs it.

Django bounds every body it reads with one setting, ``DATA_UPLOAD_MAX_MEMORY_SIZE``, read
when ``request.body`` is first read (DRF's JSON parser reads it there too). That setting
stays the default, sized for the largest valid ordinary request. A view whose requests
are bounded otherwise is named, by its URL name, in ``PIPEWORKS_REQUEST_BODY_LIMITS``:
the world tick (``POST /admin/events:batch``) may send more, the anonymous admin login
form far less (a login POST is tiny, and anyone may send one).

``RequestBodyLimitMiddleware`` enforces those limits before the view or any other
middleware (the CSRF check reads a form body) reads the body: a declared
``Content-Length`` over the limit is refused without reading anything, and otherwise the
body is read as ``HttpRequest.body`` reads it, at most limit + 1 bytes, so a body longer
than declared (ASGI spools a chunked body whatever its length) is refused too. The body
read is then kept where ``HttpRequest.body`` keeps it, so everything after reads it from
memory and Django's own check of the default limit is not applied a second time.

A refused API request gets the API's error (400 ``request_too_large``, as when Django
refuses a body over the default), anything else Django's own answer to an oversized
body: its 400 page, logged on ``django.security.RequestDataTooBig``. Nothing is written.

This module imports no app of the project.
"""

from io import BytesIO

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from rest_framework.views import APIView

from pipeworks.api import API_REQUEST_TOO_LARGE

REQUEST_BODY_OVER_VIEW_LIMIT = "Request body exceeded the {limit} bytes allowed for {view}."


class RequestBodyLimitMiddleware:
    """Refuse a body over its view's limit before anything reads it.

    Goes before ``CsrfViewMiddleware`` in ``MIDDLEWARE``: ``process_view`` methods run in
    that order, and the CSRF check reads a form's body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_name = request.resolver_match.view_name
        limits = getattr(settings, "PIPEWORKS_REQUEST_BODY_LIMITS", {})
        if view_name not in limits:
            return None  # the default: Django applies DATA_UPLOAD_MAX_MEMORY_SIZE itself
        limit = limits[view_name]
        if _declared_length(request) > limit:
            return _refuse(view_func, view_name, limit)
        if limit > settings.DATA_UPLOAD_MAX_MEMORY_SIZE and not _has_credentials(request):
            # An anonymous request gets its 401 before the view reads anything: reading a
            # large body first would let anyone make a worker read it.
            return None
        body = request.read(limit + 1)
        if len(body) > limit:
            return _refuse(view_func, view_name, limit)
        # Where HttpRequest.body keeps what it read: request.body, request.POST, DRF's
        # parsers and request.read() all take the body from here.
        request._body = body
        request._stream = BytesIO(body)
        return None


def _has_credentials(request) -> bool:
    return "HTTP_AUTHORIZATION" in request.META or settings.SESSION_COOKIE_NAME in request.COOKIES


def _declared_length(request) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0  # as WSGIRequest reads it: then it reads no body at all


def _refuse(view_func, view_name: str, limit: int):
    view_class = getattr(view_func, "cls", None)
    if isinstance(view_class, type) and issubclass(view_class, APIView):
        body = {
            "detail": API_REQUEST_TOO_LARGE.format(limit=limit),
            "code": "request_too_large",
            "field": None,
        }
        return JsonResponse(body, status=400)
    raise RequestDataTooBig(REQUEST_BODY_OVER_VIEW_LIMIT.format(limit=limit, view=view_name))
