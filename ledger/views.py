"""REST views of the ledger: a character's axis state and history, and applying events.

Views parse and validate with serializers, call a selector or ``apply_event``, and
serialize; the service owns the transaction and the domain rules.
"""

import json
import logging
from dataclasses import replace

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from access.permissions import (
    CanApplyEvents,
    CanReadLedger,
    CanReverseEvents,
    api_key_of,
    request_world_ids,
    require_world,
)
from axes.registry import get_world_registry
from ledger.exceptions import LedgerError
from ledger.export import EXPORT_CHUNK, history_lines
from ledger.feed import FeedBusy, settled_horizon, world_feed
from ledger.models import Event, Source
from ledger.provenance import Actor
from ledger.selectors import (
    AsOfError,
    get_character_state,
    get_character_state_as_of,
    list_character_events,
    load_recorded_events,
    serialize_character_state,
    serialize_event,
)
from ledger.serializers import (
    ApplyCharacterEventSerializer,
    ApplyDriftSerializer,
    ApplyEventSerializer,
    ApplyEventsSerializer,
    AxisStateQuerySerializer,
    BatchResultSerializer,
    CharacterAxisStateSerializer,
    CharacterEventsQuerySerializer,
    CharacterEventsSerializer,
    DriftRunSerializer,
    EventDetailQuerySerializer,
    EventDetailSerializer,
    EventSerializer,
    ReverseEventSerializer,
    WorldFeedQuerySerializer,
    WorldFeedSerializer,
    WorldStatsQuerySerializer,
    WorldStatsSerializer,
)
from ledger.services import apply_event, apply_events, reverse_event
from ledger.services.drift import DRIFT_UNKNOWN_WORLD, apply_drift
from ledger.services.validation import MAX_BATCH_EVENTS, MAX_IDEMPOTENCY_KEY_LENGTH
from ledger.stats import window_statistics, world_distributions
from pipeworks.api import (
    AUTH_ERRORS,
    ApiError,
    StaffAPIView,
    error_response,
    idempotency_key_header,
)
from pipeworks.replicas import read_from_primary
from pipeworks.serializers import parse_id, utc_timestamp
from worlds.models import Character, World

logger = logging.getLogger(__name__)

API_UNKNOWN_CHARACTER = "unknown character {character_id}"
API_UNKNOWN_EVENT = "unknown event {event_id}"
API_IDEMPOTENCY_KEY_MISMATCH = (
    "the Idempotency-Key header ({header!r}) and the body's idempotency_key ({body!r}) "
    "differ; send one of them, or the same key in both"
)
API_WRITTEN_NOT_SHOWN = (
    "the event was written, but its full record could not be included in this answer; "
    "read it with GET /admin/events/{event_id}"
)
# A batch's Idempotency-Key gives event i the key "<header key>.<i>": room for the suffix.
BATCH_KEY_HEADER_MAX_LENGTH = MAX_IDEMPOTENCY_KEY_LENGTH - len(f".{MAX_BATCH_EVENTS - 1}")

# LedgerError.code -> HTTP status; any other code is a 400.
LEDGER_ERROR_STATUS = {
    "unknown_world": status.HTTP_404_NOT_FOUND,
    "unknown_character": status.HTTP_404_NOT_FOUND,
    "unknown_event": status.HTTP_404_NOT_FOUND,
    "idempotency_conflict": status.HTTP_409_CONFLICT,
    "already_reversed": status.HTTP_409_CONFLICT,
    "database_error": status.HTTP_503_SERVICE_UNAVAILABLE,
}

CHARACTER_ID_PARAMETER = OpenApiParameter(
    "character_id", OpenApiTypes.INT64, OpenApiParameter.PATH, description="The character's id."
)


WRITE_ERRORS = {
    400: error_response(
        "Malformed body (not JSON, not an object, a missing, unknown or mistyped field, "
        "larger than the upload limit: code request_too_large), "
        "an unknown or retired axis, a non-finite delta, bad metadata, a character of "
        "another world; `field` names the offending part."
    ),
    **AUTH_ERRORS,
    404: error_response("Unknown character or world."),
    409: error_response("The idempotency_key was already used for a different request."),
    429: error_response(
        "Too many writes by this API key or user (PIPEWORKS_API_WRITE_RATE); nothing was "
        "written, retry after `Retry-After` seconds."
    ),
    503: error_response(
        "The database failed. `database_error`: before the COMMIT, so it rolled back and "
        "nothing was written; a retry is safe. `outcome_unknown`: the connection was lost "
        "during the COMMIT, so the write may or may not have been saved; retry with the "
        "same idempotency key, which applies it exactly once. `database_unavailable`: the "
        "database failed before the write began. Every 503 on a write says that a retry "
        "without an idempotency key may apply the write twice; `Retry-After` says when to "
        "retry. A write whose every event carries an idempotency key and whose connection "
        "was lost is first retried once by the server itself (exactly once, by its key): "
        "it answers 201, or 200 with the event if the first COMMIT had saved it, and 503 "
        "only when that retry failed too."
    ),
}


def idempotency_key_header_parameter(max_length: int) -> OpenApiParameter:
    """The ``Idempotency-Key`` header of a write, as the schema documents it."""
    return OpenApiParameter(
        "Idempotency-Key",
        {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": r"^[ -~]+$"},
        OpenApiParameter.HEADER,
        description=(
            "The request's idempotency key, as the IETF HTTP API draft and payment APIs send "
            "it (bare or in double quotes); the same as the body's `idempotency_key`, which "
            "it fills in (both given: they must be equal, else 400 idempotency_key_mismatch). "
            "With a key a retry is applied exactly once; without one, a retry after a lost "
            "answer or a 503 may apply the write twice."
        ),
    )


IDEMPOTENCY_KEY_HEADER = idempotency_key_header_parameter(MAX_IDEMPOTENCY_KEY_LENGTH)


WRITTEN_BUT_NOT_SHOWN = (
    " Once the event is committed the answer is a success, whatever happens next: if its "
    "full record cannot be built, the body has only `event_id`, `world_id`, `replayed` "
    "and `detail` (read the event with `GET /admin/events/{event_id}`)."
)

APPLIED_RESPONSES = {
    201: OpenApiResponse(
        EventSerializer, description="The event was applied." + WRITTEN_BUT_NOT_SHOWN
    ),
    200: OpenApiResponse(
        EventSerializer,
        description="A retry of an earlier request (same idempotency_key and payload): the "
        "original event; nothing was applied again.",
    ),
    **WRITE_ERRORS,
}


def ledger_api_error(exc: LedgerError, *, field: str | None) -> ApiError:
    """Return the API error for a refused ledger request, naming ``field`` of the request.

    Each write view catches ``LedgerError`` and names the field in its own request's
    terms (``deltas.0.axis_name``); the project's exception handler knows no app.
    """
    return ApiError(
        exc.message,
        status_code=LEDGER_ERROR_STATUS.get(exc.code, status.HTTP_400_BAD_REQUEST),
        code=exc.code,
        field=field,
    )


def get_character_or_404(
    request: Request, character_id: str, *, only_ids: bool = False
) -> Character:
    """Return the character of a URL's id (with its world), or raise a 404 API error.

    A character of a world the user may not use is a 403. With ``only_ids`` only its id
    and its world's id are read (a write needs no more; its snapshots are JSON to decode).
    """
    pk = parse_id(character_id)
    characters = (
        Character.objects.only("id", "world_id")
        if only_ids
        else Character.objects.select_related("world")
    )
    character = characters.filter(pk=pk).first() if pk else None
    if character is None:
        raise ApiError(
            API_UNKNOWN_CHARACTER.format(character_id=character_id),
            status_code=status.HTTP_404_NOT_FOUND,
            code="unknown_character",
        )
    require_world(request, world_id=character.world_id)
    return character


# A character's world never changes (the admin shows it read-only once the character
# exists, and nothing moves one), so each process remembers the world of the characters
# it wrote to, and the next write to one skips reading it. A remembered world is only a
# hint: ``apply_event`` locks the character in that world or refuses, and a refused
# write is answered only after the character is read again (``CharacterEventsView``).
CHARACTER_WORLD_HINTS_MAX = 100_000
_character_worlds: dict[int, str] = {}


def hinted_character(request: Request, character_id: str) -> Character | None:
    """Return the URL's character (id and world only) from this process's hint, or None.

    None when there is no hint, or when the hinted world is one the request may not use
    (the character is then read, and a 403 told from a stale hint).
    """
    pk = parse_id(character_id)
    world_id = _character_worlds.get(pk) if pk else None
    if world_id is None:
        return None
    allowed = request_world_ids(request)
    if allowed is not None and world_id not in allowed:
        return None
    return Character(pk=pk, world_id=world_id)


def remember_character_world(character: Character) -> None:
    if len(_character_worlds) >= CHARACTER_WORLD_HINTS_MAX:
        _character_worlds.clear()  # a bound, not an LRU: a full table is rare and cheap
    _character_worlds[character.pk] = character.world_id


def forget_character_world(pk: int) -> None:
    _character_worlds.pop(pk, None)


def get_event_or_404(request: Request, event_id: str) -> Event:
    """Return the event of a URL's id, or raise a 404 API error (403: a foreign world)."""
    pk = parse_id(event_id)
    event = Event.objects.filter(pk=pk).only("world_id").first() if pk else None
    if event is None:
        raise ApiError(
            API_UNKNOWN_EVENT.format(event_id=event_id),
            status_code=status.HTTP_404_NOT_FOUND,
            code="unknown_event",
        )
    require_world(request, world_id=event.world_id)
    return event


def require_known_world(request: Request, world_id: str) -> World:
    """Return the world, refusing one the user may not use (403), then an unknown one (404).

    The world limit first: a key limited to one world learns nothing of others.
    """
    require_world(request, world_id=world_id)
    world = World.objects.named(world_id)
    if world is None:
        raise ApiError(
            DRIFT_UNKNOWN_WORLD.format(world_id=world_id),
            status_code=status.HTTP_404_NOT_FOUND,
            code="unknown_world",
        )
    return world


def provenance(request: Request) -> dict:
    """Return the provenance keyword arguments of a ledger write made by this request.

    With an API key the actor is the key, named with its owner.
    """
    key = api_key_of(request)
    actor = (
        Actor(name=key.actor_name, user_id=request.user.pk, key=key.prefix)
        if key is not None
        else Actor.of_user(request.user)
    )
    return {
        "actor": actor,
        "source": Source.API,
        "request_id": getattr(request, "request_id", None),
    }


def with_idempotency_key(request: Request, kwargs: dict) -> dict:
    """Return a write's service kwargs with the ``Idempotency-Key`` header's key filled in."""
    header = idempotency_key_header(request, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)
    if header is None:
        return kwargs
    _refuse_two_keys(header, kwargs.get("idempotency_key"))
    return {**kwargs, "idempotency_key": header}


def with_batch_idempotency_keys(request: Request, kwargs: dict) -> dict:
    """Return a batch's kwargs where the header's key ``K`` gives event i the key ``K.i``.

    An event with a key of its own keeps it. A retry of the same batch with the same
    header then replays every event, as a retry with per-event keys does.
    """
    header = idempotency_key_header(request, max_length=BATCH_KEY_HEADER_MAX_LENGTH)
    if header is None:
        return kwargs
    events = [
        event if event.get("idempotency_key") else {**event, "idempotency_key": f"{header}.{i}"}
        for i, event in enumerate(kwargs["events"])
    ]
    return {**kwargs, "events": events}


def _refuse_two_keys(header: str, body_key: str | None) -> None:
    if body_key is not None and body_key != header:
        raise ApiError(
            API_IDEMPOTENCY_KEY_MISMATCH.format(header=header, body=body_key),
            status_code=status.HTTP_400_BAD_REQUEST,
            code="idempotency_key_mismatch",
            field="idempotency_key",
        )


def applied_response(event) -> Response:
    """Answer a write: 201 with the new event, or 200 with the original of a retry.

    The answer is built from what ``apply_event`` recorded; nothing is read again. The
    event is committed by now, so no failure may turn this answer into an error (a client
    told "failed" would apply it again): if building it fails, the answer is still a
    success, with the event's id.
    """
    status_code = status.HTTP_200_OK if event.replayed else status.HTTP_201_CREATED
    try:
        body = event_body(event)
    except Exception:  # noqa: BLE001 (any failure: the event is written either way)
        logger.exception("event %s was written; answering with its id only", event.pk)
        body = written_but_not_shown(event)
    return Response(body, status=status_code)


EVENT_TIMESTAMPS = ("timestamp", "recorded_at", "occurred_at")


def event_body(event) -> dict:
    """A recorded event as ``EventSerializer`` represents it, built without its fields.

    ``serialize_event`` already gives every value its JSON type (ints, floats, strings,
    None); the serializer's fields would only copy them and write the three timestamps,
    at a tenth of an API write's CPU. ``tests/api/test_event_body.py`` checks that both
    give the same body.
    """
    body = serialize_event(event)
    for name in EVENT_TIMESTAMPS:
        body[name] = utc_timestamp(body[name])
    return body


def written_but_not_shown(event) -> dict:
    """The minimal answer for a written event whose full record could not be built."""
    return {
        "event_id": event.pk,
        "world_id": event.world_id,
        "replayed": event.replayed,
        "detail": API_WRITTEN_NOT_SHOWN.format(event_id=event.pk),
    }


def _query(serializer_class, request: Request, **context):
    serializer = serializer_class(data=request.query_params.dict(), context=context)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class CharacterAxisStateView(StaffAPIView):
    permission_classes = [CanReadLedger]

    @extend_schema(
        operation_id="character_axis_state",
        tags=["characters"],
        summary="A character's axis state",
        description=(
            "Scores and labels on every active axis (by name) from the score table, the "
            "cached snapshots and whether they are stale. With `as_of`, the scores right "
            "after that event, folded from the ledger (the snapshots stay the current ones)."
        ),
        parameters=[CHARACTER_ID_PARAMETER, AxisStateQuerySerializer],
        responses={
            200: CharacterAxisStateSerializer,
            400: error_response("`as_of` is not a positive integer."),
            **AUTH_ERRORS,
            404: error_response(
                "Unknown character; or the as_of event is not in the character's world, or "
                "precedes the character."
            ),
        },
    )
    def get(self, request: Request, character_id: str) -> Response:
        character = get_character_or_404(request, character_id)
        as_of = _query(AxisStateQuerySerializer, request).get("as_of")
        try:
            axes = (
                get_character_state(character)
                if as_of is None
                else get_character_state_as_of(character, as_of)
            )
        except AsOfError as exc:
            raise ApiError(
                str(exc), status_code=status.HTTP_404_NOT_FOUND, code="unknown_event", field="as_of"
            ) from exc
        state = serialize_character_state(character, axes, as_of=as_of)
        return Response(CharacterAxisStateSerializer(state).data)


class CharacterEventsView(StaffAPIView):
    permission_classes = [CanApplyEvents]

    @extend_schema(
        operation_id="character_axis_events",
        tags=["characters"],
        summary="A character's events, newest first",
        description=(
            "The events that changed the character, newest first (by event id), each with "
            "its metadata and only this character's deltas, by axis name. Page back with "
            "`before=<next_before>`."
        ),
        parameters=[CHARACTER_ID_PARAMETER, CharacterEventsQuerySerializer],
        responses={
            200: CharacterEventsSerializer,
            400: error_response(
                "A bad `limit`, `before`, `event_type` or `axis`; `field` names it."
            ),
            **AUTH_ERRORS,
            404: error_response("Unknown character."),
        },
    )
    def get(self, request: Request, character_id: str) -> Response:
        character = get_character_or_404(request, character_id)
        query = _query(CharacterEventsQuerySerializer, request, character=character)
        page = list_character_events(character, **query)
        body = {
            "character_id": character.pk,
            "events": page.events,
            "next_before": page.next_before,
        }
        return Response(CharacterEventsSerializer(body).data)

    @extend_schema(
        operation_id="character_apply_event",
        tags=["characters"],
        summary="Apply an event to a character",
        parameters=[CHARACTER_ID_PARAMETER, IDEMPOTENCY_KEY_HEADER],
        request=ApplyCharacterEventSerializer,
        responses=APPLIED_RESPONSES,
    )
    def post(self, request: Request, character_id: str) -> Response:
        hinted = hinted_character(request, character_id)
        character = hinted or get_character_or_404(request, character_id, only_ids=True)
        body = ApplyCharacterEventSerializer(data=request.data)
        if not body.is_valid() and hinted is not None:
            # A first write reads the character before the body: its 404 or 403 first.
            get_character_or_404(request, character_id, only_ids=True)
        body.is_valid(raise_exception=True)
        try:
            event = self.apply(request, body, character)
        except LedgerError as exc:
            if hinted is None or exc.code == "database_error":
                raise ledger_api_error(exc, field=body.request_field(exc)) from exc
            # Refused in the hinted world: answer as if the character had been read
            # first. A stale hint (never in production: ids are not reused) could only
            # make apply_event refuse, never write, since it locks the character in the
            # world it is given.
            forget_character_world(character.pk)
            character = get_character_or_404(request, character_id, only_ids=True)
            if character.world_id == hinted.world_id:
                raise ledger_api_error(exc, field=body.request_field(exc)) from exc
            try:
                event = self.apply(request, body, character)
            except LedgerError as retry_exc:
                raise ledger_api_error(retry_exc, field=body.request_field(retry_exc)) from exc
        remember_character_world(character)
        return applied_response(event)

    @staticmethod
    def apply(request: Request, body: ApplyCharacterEventSerializer, character: Character):
        kwargs = with_idempotency_key(request, body.service_kwargs(character=character))
        return apply_event(**kwargs, **provenance(request))


class EventsView(StaffAPIView):
    permission_classes = [CanApplyEvents]

    @extend_schema(
        operation_id="apply_event",
        tags=["events"],
        summary="Apply an event to characters of a world",
        description="One event touching one or more characters; the response lists all deltas.",
        parameters=[IDEMPOTENCY_KEY_HEADER],
        request=ApplyEventSerializer,
        responses=APPLIED_RESPONSES,
    )
    def post(self, request: Request) -> Response:
        body = ApplyEventSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_world(request, world_id=body.validated_data["world_id"])
        try:
            kwargs = with_idempotency_key(request, body.service_kwargs())
            event = apply_event(**kwargs, **provenance(request))
        except LedgerError as exc:
            raise ledger_api_error(exc, field=body.request_field(exc)) from exc
        return applied_response(event)


class EventsBatchView(StaffAPIView):
    permission_classes = [CanApplyEvents]

    @extend_schema(
        operation_id="apply_events",
        tags=["events"],
        summary="Apply many events of a world at once (a world tick)",
        description=(
            "The events are applied in order, in one transaction, all or nothing: any "
            "refused event means none is written; `field` then starts with `events.<index>`. "
            "Idempotency keys work per event. 201 when at least one event was new, 200 when "
            "every event was a retry. An `Idempotency-Key` header `K` gives event i the key "
            f"`K.i` unless it has its own (so `K` is at most {BATCH_KEY_HEADER_MAX_LENGTH} "
            "characters): a retry of the same batch with the same header replays it."
        ),
        parameters=[idempotency_key_header_parameter(BATCH_KEY_HEADER_MAX_LENGTH)],
        request=ApplyEventsSerializer,
        responses={
            201: OpenApiResponse(
                BatchResultSerializer,
                description="The events were applied."
                + WRITTEN_BUT_NOT_SHOWN.replace("the body has", "each event has"),
            ),
            200: OpenApiResponse(
                BatchResultSerializer, description="Every event was a retry; nothing applied."
            ),
            **WRITE_ERRORS,
        },
    )
    def post(self, request: Request) -> Response:
        body = ApplyEventsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_world(request, world_id=body.validated_data["world_id"])
        try:
            kwargs = with_batch_idempotency_keys(request, body.service_kwargs())
            events = apply_events(**kwargs, **provenance(request))
        except LedgerError as exc:
            raise ledger_api_error(exc, field=body.request_field(exc)) from exc
        created = any(not event.replayed for event in events)
        try:
            answer = {"events": [event_body(event) for event in events]}
        except Exception:  # noqa: BLE001 (committed: the answer must still be a success)
            logger.exception("%d events were written; answering with their ids only", len(events))
            answer = {"events": [written_but_not_shown(event) for event in events]}
        return Response(answer, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


EVENT_ID_PARAMETER = OpenApiParameter(
    "event_id", OpenApiTypes.INT64, OpenApiParameter.PATH, description="The event's id."
)


class EventDetailView(StaffAPIView):
    permission_classes = [CanReadLedger]

    @extend_schema(
        operation_id="event_detail",
        tags=["events"],
        summary="One event with its deltas and its provenance",
        description=(
            "The event and its deltas a page at a time (a system event such as an axis "
            "backfill touches every character of a world): follow `next_deltas_offset`. "
            "Deltas are in (character, axis) order across pages, by axis name within one."
        ),
        parameters=[EVENT_ID_PARAMETER, EventDetailQuerySerializer],
        responses={
            200: EventDetailSerializer,
            400: error_response("A bad `deltas_limit` or `deltas_offset`."),
            **AUTH_ERRORS,
            404: error_response("Unknown event."),
        },
    )
    def get(self, request: Request, event_id: str) -> Response:
        event = get_event_or_404(request, event_id)
        query = _query(EventDetailQuerySerializer, request)
        start, limit = query["deltas_offset"], query["deltas_limit"]
        # One more than the page tells whether another page follows.
        loaded = load_recorded_events([event.pk], deltas=slice(start, start + limit + 1))[event.pk]
        page = loaded.recorded.deltas
        more = len(page) > limit
        if more:
            extra = max(page, key=lambda delta: (delta.character_id, delta.axis_id))
            kept = tuple(delta for delta in page if delta is not extra)
            loaded.recorded = replace(loaded.recorded, deltas=kept)
        body = {**serialize_event(loaded), "next_deltas_offset": start + limit if more else None}
        return Response(EventDetailSerializer(body).data)


class ReverseEventView(StaffAPIView):
    permission_classes = [CanReverseEvents]

    @extend_schema(
        operation_id="reverse_event",
        tags=["events"],
        summary="Reverse an event: a new event undoes what it applied",
        description=(
            "Writes a `reversal` event whose deltas undo the original's applied deltas on "
            "each character and axis (clamped to [0, 1] like any delta), with `reverses` "
            "pointing at the original and the reason in its metadata. The original is "
            "untouched. An event is reversed at most once; a reversal cannot be reversed."
        ),
        parameters=[EVENT_ID_PARAMETER, IDEMPOTENCY_KEY_HEADER],
        request=ReverseEventSerializer,
        responses={
            201: OpenApiResponse(
                EventSerializer, description="The reversal was written." + WRITTEN_BUT_NOT_SHOWN
            ),
            200: OpenApiResponse(
                EventSerializer,
                description="A retry (same idempotency_key and event): the original "
                "reversal; nothing was written.",
            ),
            400: error_response(
                "Malformed body, a missing reason; the event is a reversal "
                "(not_reversible) or changed an axis that is now retired (retired_axis)."
            ),
            **AUTH_ERRORS,
            404: error_response("Unknown event."),
            409: error_response(
                "The event was already reversed (already_reversed, naming the reversal), "
                "or the idempotency_key was used for another request."
            ),
            429: WRITE_ERRORS[429],
            503: WRITE_ERRORS[503],
        },
    )
    def post(self, request: Request, event_id: str) -> Response:
        event = get_event_or_404(request, event_id)
        body = ReverseEventSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = body.validated_data.get("idempotency_key")
        header = idempotency_key_header(request, max_length=MAX_IDEMPOTENCY_KEY_LENGTH)
        if header is not None:
            _refuse_two_keys(header, key)
            key = header
        try:
            reversal = reverse_event(
                event_id=event.pk,
                reason=body.validated_data["reason"],
                idempotency_key=key,
                **provenance(request),
            )
        except LedgerError as exc:
            field = "event_id" if exc.location.part == "event_id" else exc.field
            raise ledger_api_error(exc, field=field) from exc
        return applied_response(reversal)


class WorldDriftView(StaffAPIView):
    permission_classes = [CanApplyEvents]

    @extend_schema(
        operation_id="apply_drift",
        tags=["worlds"],
        summary="Bring a world's drift up to now (or `until`)",
        description=(
            "Applies the whole periods of each drifting axis between its clock and `until` "
            "as `drift` events (one per axis, or per chunk of characters in a big world), "
            "one delta per character whose score changes, and moves the clocks. With nothing "
            "due it writes nothing; two requests at once apply each period once. A paused "
            "world answers `paused: true` and writes nothing."
        ),
        parameters=[
            OpenApiParameter(
                "world_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The world."
            )
        ],
        request=ApplyDriftSerializer,
        responses={
            200: DriftRunSerializer,
            400: error_response(
                "Malformed body, an `until` without a UTC offset, or in the future "
                "(until_in_future)."
            ),
            **AUTH_ERRORS,
            404: error_response("Unknown world."),
            429: WRITE_ERRORS[429],
            503: WRITE_ERRORS[503],
        },
    )
    def post(self, request: Request, world_id: str) -> Response:
        body = ApplyDriftSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        require_known_world(request, world_id)
        try:
            run = apply_drift(
                world_id=world_id,
                until=body.validated_data.get("until"),
                dry_run=body.validated_data["dry_run"],
                **provenance(request),
            )
        except LedgerError as exc:
            raise ledger_api_error(exc, field=exc.field) from exc
        return Response(DriftRunSerializer(run).data)


@read_from_primary  # it waits for the writers it sees on the primary (ledger/feed.py)
class WorldFeedView(StaffAPIView):
    permission_classes = [CanReadLedger]

    @extend_schema(
        operation_id="world_events_feed",
        tags=["worlds"],
        summary="A world's change feed: its events after `after`, in ledger order",
        description=(
            "Every event of the world (client events and system ones: genesis, axis "
            "backfills, drift, reversals) with its deltas, metadata and provenance, in "
            "`event_id` order. Store `next_after` once a page is processed and pass it as "
            "`after`: each event is then seen exactly once, across restarts. Ids are drawn "
            "at insert but become visible at commit; the feed serves an event only once "
            "every earlier id is committed or rolled back (on PostgreSQL it waits for the "
            "writes in flight, at most `PIPEWORKS_FEED_SETTLE_TIMEOUT` seconds, then "
            "answers 503 `feed_busy`)."
        ),
        parameters=[
            OpenApiParameter(
                "world_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The world."
            ),
            WorldFeedQuerySerializer,
        ],
        responses={
            200: WorldFeedSerializer,
            400: error_response("A bad `after`, `limit` or time filter; `field` names it."),
            **AUTH_ERRORS,
            404: error_response("Unknown world."),
            503: error_response(
                "`feed_busy`: writes in flight did not end in time, so the page cannot be "
                "known final yet; retry after `Retry-After`. `database_unavailable`: the "
                "database is down."
            ),
        },
    )
    def get(self, request: Request, world_id: str) -> Response:
        query = _query(WorldFeedQuerySerializer, request)
        require_known_world(request, world_id)
        try:
            horizon = settled_horizon()
        except FeedBusy as exc:
            raise ApiError(
                str(exc), status_code=status.HTTP_503_SERVICE_UNAVAILABLE, code="feed_busy"
            ) from exc
        page = world_feed(world_id, horizon=horizon, **query)
        body = {
            "world_id": world_id,
            "events": page.events,
            "next_after": page.next_after,
            "has_more": page.has_more,
        }
        return Response(WorldFeedSerializer(body).data)


class WorldStatsView(StaffAPIView):
    permission_classes = [CanReadLedger]

    @extend_schema(
        operation_id="world_stats",
        tags=["worlds"],
        summary="A world's population and recent events, in numbers (for tuning)",
        description=(
            "Per active axis, how the world's characters spread now: every label with its "
            "count and share (zero counts included, ordinal order), a 20-bin score "
            "histogram, mean, median and the characters at 0 and 1. Over the `window` of "
            "recorded time: per event type its events and the characters they touched, and "
            "per axis the sum and mean of the applied deltas, how many were clamped and the "
            "label crossings up and down; per axis the top 10 movers and the crossings per "
            "UTC day. Labels are those of the current policy. A fixed number of queries: "
            "the distributions read the score table, the window only its own events."
        ),
        parameters=[
            OpenApiParameter(
                "world_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The world."
            ),
            WorldStatsQuerySerializer,
        ],
        responses={
            200: WorldStatsSerializer,
            400: error_response("A `window` that is not 24h, 7d, 30d or all; `field` names it."),
            **AUTH_ERRORS,
            404: error_response("Unknown world."),
        },
    )
    def get(self, request: Request, world_id: str) -> Response:
        query = _query(WorldStatsQuerySerializer, request)
        world = require_known_world(request, world_id)
        registry = get_world_registry(world)
        stats = window_statistics(world, window=query["window"], registry=registry)
        body = {
            "world_id": world_id,
            "window": stats.window,
            "since": stats.since,
            "until": stats.until,
            "distributions": world_distributions(world, registry=registry),
            "events": stats.events,
            "event_types": stats.types,
            "axes": stats.axes,
        }
        return Response(WorldStatsSerializer(body).data)


class JSONLinesRenderer(BaseRenderer):
    """``application/x-ndjson``: errors of the export render as one JSON line too."""

    media_type = "application/x-ndjson"
    format = "jsonl"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return (json.dumps(data) + "\n").encode() if data is not None else b""


class CharacterHistoryExportView(StaffAPIView):
    permission_classes = [CanReadLedger]
    renderer_classes = [JSONLinesRenderer, JSONRenderer]

    @extend_schema(
        operation_id="character_history_export",
        tags=["characters"],
        summary="A character's whole history as JSON Lines",
        description=(
            "One line per event that changed the character, oldest first, each as in "
            "`axis-events` (only this character's deltas). Streamed: the server holds one "
            f"chunk of {EXPORT_CHUNK} events at a time, whatever the history's length."
        ),
        parameters=[CHARACTER_ID_PARAMETER],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="JSON Lines, one event per line."
            ),
            **AUTH_ERRORS,
            404: error_response("Unknown character."),
        },
    )
    def get(self, request: Request, character_id: str) -> StreamingHttpResponse:
        character = get_character_or_404(request, character_id)
        response = StreamingHttpResponse(
            history_lines(character), content_type=JSONLinesRenderer.media_type
        )
        filename = f"character-{character.pk}-history.jsonl"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
