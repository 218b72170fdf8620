"""The REST API's plumbing: the base view, the JSON parser and the one error shape.

Every error the API answers with is JSON of one shape::

    {"detail": "...", "code": "...", "field": "deltas.wealth" | null}

plus ``"errors"`` (DRF's per-field dict) when a serializer refused the request.
``exception_handler`` (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``) builds it from DRF's
exceptions, Django's ``Http404``/``PermissionDenied``, its refusals of oversized requests,
database outages and writes whose COMMIT outcome is unknown, so no expected failure
becomes a 500 or an HTML page. Every 503 on a write says that a retry without an
idempotency key may apply the write twice. Domain
errors are the apps' to translate into ``ApiError`` (the ledger's views do it for
``LedgerError``): this module imports no app of the project.
"""

import json
from collections.abc import Mapping

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent
from django.db import InterfaceError, OperationalError
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from pipeworks.transactions import OutcomeUnknown

API_DATABASE_UNAVAILABLE = "the database is unavailable; retry later"
API_RETRY_MAY_REPEAT = (
    "Whenever a write's outcome is unknown (a lost answer, outcome_unknown), a retry without "
    "an idempotency key may apply it twice: send an Idempotency-Key header and retry with "
    "the same key, which applies it exactly once."
)
API_BAD_IDEMPOTENCY_KEY = (
    "Idempotency-Key must be 1 to {limit} printable ASCII characters, optionally in double quotes"
)
# Seconds a client should wait before retrying after a 503.
RETRY_AFTER_SECONDS = 1
API_JSON_TOO_DEEP = "JSON parse error - the document is nested too deeply"
API_REQUEST_TOO_LARGE = "the request body is larger than the {limit} bytes allowed"
API_TOO_MANY_PARAMETERS = "the request has more than the {limit} parameters allowed"


class ApiError(exceptions.APIException):
    """An API error with a machine-readable ``code`` and the offending ``field``."""

    def __init__(self, detail: str, *, status_code: int, code: str, field: str | None = None):
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.code = code
        self.field = field


class ErrorSerializer(serializers.Serializer):
    """The one shape of every API error."""

    detail = serializers.CharField(help_text="What went wrong, for a human.")
    code = serializers.CharField(
        allow_null=True, help_text="Stable machine-readable reason, e.g. unknown_axis."
    )
    field = serializers.CharField(
        allow_null=True,
        help_text="Dotted path of the offending request part (deltas.wealth, as_of), or null.",
    )
    errors = serializers.DictField(
        required=False, help_text="Per-field errors, when a serializer refused the request."
    )


def error_response(description: str) -> OpenApiResponse:
    """Return an error response of the schema, in the one error shape."""
    return OpenApiResponse(ErrorSerializer, description=description)


AUTH_ERRORS = {
    401: error_response("Not authenticated (no session, no or a bad token)."),
    403: error_response("Authenticated but not staff, or a session write without a CSRF token."),
}


class StrictJSONParser(JSONParser):
    """JSON only; ``NaN``/``Infinity`` literals and over-deep nesting are parse errors."""

    strict = True

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(API_JSON_TOO_DEEP) from exc


class StaffAPIView(APIView):
    """Base of every API view: staff only (the settings' default), JSON in and out."""

    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Answer every expected failure with the API's one JSON error shape."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        # Django raises these while the view reads the body or the query string; left
        # alone they become its HTML "Bad Request (400)" page. 400 as Django answers.
        exc = _oversized_request_error(exc)
    elif isinstance(exc, OperationalError | InterfaceError):
        # Raised outside the ledger's own write transaction (which says what it knows):
        # authentication, permissions, a read. No claim about what was written.
        exc = ApiError(
            API_DATABASE_UNAVAILABLE,
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            code="database_unavailable",
        )
    elif isinstance(exc, OutcomeUnknown):
        exc = ApiError(exc.message, status_code=status.HTTP_503_SERVICE_UNAVAILABLE, code=exc.code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    response.data = error_body(exc)
    if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
        request = context.get("request")
        if request is not None and request.method not in SAFE_METHODS:
            response.data["detail"] += " " + API_RETRY_MAY_REPEAT
    return response


def idempotency_key_header(request, *, max_length: int) -> str | None:
    """Return the request's ``Idempotency-Key`` header, or None; 400 when malformed.

    The header is the IETF HTTP API draft's (a structured-field string, so it may come
    in double quotes) and payment APIs' (bare) way to make a POST retryable. It is never
    ``X-Request-ID``, a correlation id that tracers reuse across retries and requests.
    """
    value = request.headers.get("Idempotency-Key")
    if value is None:
        return None
    if len(value) > 2 and value[0] == value[-1] == '"':
        value = value[1:-1]  # a structured-field string (a bare "" stays a 2-character key)
    if not 1 <= len(value) <= max_length or not value.isascii() or not value.isprintable():
        raise ApiError(
            API_BAD_IDEMPOTENCY_KEY.format(limit=max_length),
            status_code=status.HTTP_400_BAD_REQUEST,
            code="invalid",
            field="Idempotency-Key",
        )
    return value


def _oversized_request_error(exc: RequestDataTooBig | TooManyFieldsSent) -> ApiError:
    if isinstance(exc, RequestDataTooBig):
        detail = API_REQUEST_TOO_LARGE.format(limit=settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
        code = "request_too_large"
    else:
        detail = API_TOO_MANY_PARAMETERS.format(limit=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS)
        code = "too_many_parameters"
    return ApiError(detail, status_code=status.HTTP_400_BAD_REQUEST, code=code)


def error_body(exc: exceptions.APIException) -> dict:
    """Return the error shape for an API exception."""
    if isinstance(exc, ApiError):
        return {"detail": str(exc.detail), "code": exc.code, "field": exc.field}
    if isinstance(exc, exceptions.ValidationError):
        errors = _plain(exc.detail)
        field, message, code = _first_error(exc.detail)
        detail = f"{field}: {message}" if field else message
        return {"detail": detail, "code": code, "field": field, "errors": errors}
    detail = exc.detail
    if isinstance(detail, list | dict):
        # Not raised by this API's views; keep the information anyway.
        field, message, code = _first_error(detail)
        return {"detail": message, "code": code, "field": field, "errors": _plain(detail)}
    return {"detail": str(detail), "code": getattr(detail, "code", None), "field": None}


def _first_error(detail, path: tuple[str, ...] = ()) -> tuple[str | None, str, str]:
    """Return the dotted path, message and code of the first error in a DRF error tree."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            found = _first_error(value, path if key == "non_field_errors" else (*path, str(key)))
            if found[1]:
                return found
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, exceptions.ErrorDetail):
                return (".".join(path) or None, str(value), value.code or "invalid")
            found = _first_error(value, (*path, str(index)))
            if found[1]:
                return found
    elif isinstance(detail, exceptions.ErrorDetail | str):
        return (".".join(path) or None, str(detail), getattr(detail, "code", None) or "invalid")
    return (".".join(path) or None, "", "invalid")


def _plain(detail):
    """Return a DRF error tree as plain JSON types (list indexes keep their positions)."""
    return json.loads(json.dumps(detail, default=str))
