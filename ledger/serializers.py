"""Serializers of the ledger API: the shape of requests and responses, nothing more.

Request serializers check types and shape only; the domain rules (known axes, a
character of that world, metadata limits, ...) are ``apply_event``'s. The fields are
the strict ones of ``pipeworks.serializers``: ``"0.2"`` is not a delta.

The schema also states the rules of ``apply_event`` that do not depend on the data
(``schema_rules``, from the constants of ``ledger.services.validation``): a request the
schema allows is refused only for the data it names, e.g. an axis the world does not
have (``EXPECTED_REFUSALS`` of ``tests/api/test_fuzz.py``).
"""

import re
from collections.abc import Mapping
from dataclasses import replace

from rest_framework import serializers

from axes.registry import get_world_registry
from ledger.exceptions import LedgerError
from ledger.feed import DEFAULT_FEED_LIMIT, FEED_DELTAS_PER_EVENT, MAX_FEED_LIMIT
from ledger.models import Source
from ledger.provenance import UNKNOWN, max_occurred_at_skew
from ledger.selectors import (
    DEFAULT_CHARACTER_STATES_LIMIT,
    DEFAULT_EVENT_LIMIT,
    MAX_CHARACTER_STATES,
    MAX_EVENT_LIMIT,
)
from ledger.services.validation import (
    APPLY_EVENT_TOO_MANY_DELTAS,
    APPLY_EVENTS_TOO_MANY,
    APPLY_EVENTS_TOO_MANY_DELTAS,
    EVENT_TYPE_PATTERN,
    MAX_BATCH_DELTAS,
    MAX_BATCH_EVENTS,
    MAX_DELTAS_PER_EVENT,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_METADATA_ENTRIES,
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_VALUE_LENGTH,
    SYSTEM_EVENT_TYPES,
)
from ledger.stats import DEFAULT_WINDOW, STATS_UNKNOWN_WINDOW, WINDOWS
from pipeworks.serializers import (
    MAX_ID,
    OffsetDateTimeField,
    QueryIntegerField,
    RejectUnknownFieldsMixin,
    StrictCharField,
    StrictDictField,
    StrictFloatField,
    StrictIdField,
    StrictListField,
    UTCDateTimeField,
)
from worlds.models import Character

API_UNKNOWN_AXIS_FILTER = "unknown axis {axis!r} in world {world_id!r}"
API_DUPLICATE_DELTA = (
    "character {character_id} and axis {axis!r} already appear at deltas.{first}; "
    "list each pair once"
)


class BoundedDictField(StrictDictField):
    """A JSON object of at most ``max_properties`` entries, counted before any is read.

    The refusal carries the service's code (``too_many_deltas``), so the API answers as
    ``apply_event`` would, without first validating thousands of entries.
    """

    def __init__(self, *, max_properties: int, message: str, code: str, **kwargs):
        self.max_properties, self.bound_message, self.bound_code = max_properties, message, code
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and len(data) > self.max_properties:
            raise serializers.ValidationError(self.bound_message, code=self.bound_code)
        return super().to_internal_value(data)

    def own_schema_rules(self) -> dict:
        return {**super().own_schema_rules(), "maxProperties": self.max_properties}


class BoundedListField(StrictListField):
    """A JSON array of at most ``max_items`` items, counted before any is read."""

    def __init__(self, *, max_items: int, message: str, code: str, **kwargs):
        self.max_items, self.bound_message, self.bound_code = max_items, message, code
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list) and len(data) > self.max_items:
            raise serializers.ValidationError(
                self.bound_message.format(count=len(data)), code=self.bound_code
            )
        return super().to_internal_value(data)

    def own_schema_rules(self) -> dict:
        return {**super().own_schema_rules(), "maxItems": self.max_items}


def _event_type_field(example: str) -> StrictCharField:
    return StrictCharField(
        max_length=100,
        schema_rules={
            "pattern": EVENT_TYPE_PATTERN.pattern,
            "not": {"enum": sorted(SYSTEM_EVENT_TYPES)},
        },
        help_text=(
            f"Kind of event, e.g. {example}; created on first use. The types "
            f"{', '.join(sorted(SYSTEM_EVENT_TYPES))} are reserved for the system."
        ),
    )


def _metadata_field() -> StrictDictField:
    return StrictDictField(
        child=StrictCharField(
            allow_blank=True, schema_rules={"maxLength": MAX_METADATA_VALUE_LENGTH}
        ),
        required=False,
        schema_rules={
            "maxProperties": MAX_METADATA_ENTRIES,
            "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_LENGTH},
        },
        help_text='String tags stored with the event, e.g. {"source": "treasure_chest"}.',
    )


def _idempotency_key_field() -> StrictCharField:
    return StrictCharField(
        required=False,
        allow_null=True,
        schema_rules={"maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
        help_text=(
            "Optional client key. A retry with the same key and payload answers 200 with "
            "the original event; the same key with another payload answers 409."
        ),
    )


def _occurred_at_field() -> OffsetDateTimeField:
    return OffsetDateTimeField(
        required=False,
        allow_null=True,
        help_text=(
            "Optional game time of the event, ISO 8601 with a UTC offset; default: the "
            "server's time. At most "
            f"{max_occurred_at_skew().total_seconds():g} seconds in the future "
            "(PIPEWORKS_OCCURRED_AT_MAX_SKEW); no lower bound. Orders nothing: the ledger's "
            "order is event_id."
        ),
    )


# Query parameters ----------------------------------------------------------------------


class AxisStateQuerySerializer(serializers.Serializer):
    as_of = QueryIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text=(
            "An event id: return the scores right after that event, folded from the ledger."
        ),
    )


class TimeRangeQuerySerializer(serializers.Serializer):
    """The half-open time-range filters of a character's events and of the feed."""

    since = OffsetDateTimeField(
        required=False, help_text="Only events recorded at or after this instant (ISO 8601)."
    )
    until = OffsetDateTimeField(
        required=False, help_text="Only events recorded before this instant (ISO 8601)."
    )
    occurred_since = OffsetDateTimeField(
        required=False, help_text="Only events whose game time (`occurred_at`) is at or after this."
    )
    occurred_until = OffsetDateTimeField(
        required=False, help_text="Only events whose game time (`occurred_at`) is before this."
    )


class CharacterEventsQuerySerializer(TimeRangeQuerySerializer):
    limit = QueryIntegerField(
        required=False,
        default=DEFAULT_EVENT_LIMIT,
        min_value=1,
        max_value=MAX_EVENT_LIMIT,
        help_text=f"Page size, 1 to {MAX_EVENT_LIMIT}.",
    )
    before = QueryIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Only events with a smaller id: the previous page's `next_before`.",
    )
    event_type = StrictCharField(
        required=False, max_length=100, help_text="Only events of this type (e.g. loot_found)."
    )
    axis = StrictCharField(
        required=False,
        max_length=100,
        help_text=(
            "Only events that changed this axis (active or retired) of the character's "
            "world; an unknown axis is a 400."
        ),
    )

    actor = StrictCharField(
        required=False,
        max_length=300,
        help_text="Only events caused by this actor (as recorded: a username, 'system', ...).",
    )
    source = serializers.ChoiceField(
        required=False,
        choices=[*Source.values, UNKNOWN],
        help_text="Only events that came through this channel; `unknown`: recorded before "
        "provenance existed.",
    )
    reversal = serializers.ChoiceField(
        required=False,
        choices=["true", "false"],
        help_text="`true`: only reversals; `false`: no reversals.",
    )
    reversed = serializers.ChoiceField(
        required=False,
        choices=["true", "false"],
        help_text="`true`: only events that were reversed; `false`: only those that were not.",
    )

    def validate_reversal(self, value: str) -> bool:
        return value == "true"

    def validate_reversed(self, value: str) -> bool:
        return value == "true"

    def validate_axis(self, value: str) -> str:
        character: Character = self.context["character"]
        if value not in get_world_registry(character.world).by_name:
            raise serializers.ValidationError(
                API_UNKNOWN_AXIS_FILTER.format(axis=value, world_id=character.world_id),
                code="unknown_axis",
            )
        return value


MAX_EVENT_DETAIL_DELTAS = 1000


class WorldFeedQuerySerializer(TimeRangeQuerySerializer):
    after = QueryIntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=MAX_ID,
        help_text="Only events with a greater id: the last event processed, or the previous "
        "page's `next_after`; 0 (the default) for the world's first event.",
    )
    limit = QueryIntegerField(
        required=False,
        default=DEFAULT_FEED_LIMIT,
        min_value=1,
        max_value=MAX_FEED_LIMIT,
        help_text=f"Events per page, 1 to {MAX_FEED_LIMIT}.",
    )


class EventDetailQuerySerializer(serializers.Serializer):
    deltas_limit = QueryIntegerField(
        required=False,
        default=MAX_EVENT_DETAIL_DELTAS,
        min_value=1,
        max_value=MAX_EVENT_DETAIL_DELTAS,
        help_text=f"Deltas per page, 1 to {MAX_EVENT_DETAIL_DELTAS}, in (character, axis) order.",
    )
    deltas_offset = QueryIntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=MAX_ID,
        help_text="Skip this many deltas: the previous page's `next_deltas_offset`.",
    )


# Request bodies ------------------------------------------------------------------------


class ApplyCharacterEventSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """An event applied to the character named in the URL."""

    event_type = _event_type_field("loot_found")
    deltas = BoundedDictField(
        child=StrictFloatField(),
        allow_empty=False,
        max_properties=MAX_DELTAS_PER_EVENT,
        message=APPLY_EVENT_TOO_MANY_DELTAS,
        code="too_many_deltas",
        schema_rules={"propertyNames": {"minLength": 1}},
        help_text=(
            "Axis name -> requested change; new scores are clamped to [0, 1]. Any name but "
            "an active axis of the character's world is a 400 (unknown_axis, retired_axis)."
        ),
    )
    metadata = _metadata_field()
    idempotency_key = _idempotency_key_field()
    occurred_at = _occurred_at_field()

    def service_kwargs(self, *, character: Character) -> dict:
        """Return the keyword arguments of ``apply_event`` for this request."""
        data = self.validated_data
        return {
            "world_id": character.world_id,
            "event_type": data["event_type"],
            "deltas": {character.pk: data["deltas"]},
            "metadata": data.get("metadata", {}),
            "idempotency_key": data.get("idempotency_key"),
            "occurred_at": data.get("occurred_at"),
        }

    @staticmethod
    def request_field(exc: LedgerError) -> str | None:
        """Name the offending part of this request: ``deltas.<axis>`` (no character here)."""
        location = exc.location
        if location.part != "deltas":
            return exc.field
        return f"deltas.{location.axis}" if location.axis is not None else "deltas"


class ApplyEventDeltaSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """One change of an event: a character of the world, one of the world's axes."""

    character_id = StrictIdField()
    axis_name = StrictCharField(
        max_length=100,
        help_text="An active axis of the world; any other name is a 400 (unknown_axis, "
        "retired_axis).",
    )
    delta = StrictFloatField(help_text="Requested change; the new score is clamped to [0, 1].")


class ApplyEventSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """An event touching one or more characters of a world."""

    world_id = StrictCharField(max_length=64)
    event_type = _event_type_field("trade")
    deltas = BoundedListField(
        child=ApplyEventDeltaSerializer(),
        allow_empty=False,
        max_items=MAX_DELTAS_PER_EVENT,
        message=APPLY_EVENT_TOO_MANY_DELTAS,
        code="too_many_deltas",
        # Equal items are the simplest repeated pair; JSON Schema cannot compare two fields.
        schema_rules={"uniqueItems": True},
        help_text=(
            "One entry per (character_id, axis_name) pair; a pair may appear once. At most "
            f"{MAX_DELTAS_PER_EVENT} (too_many_deltas)."
        ),
    )
    metadata = _metadata_field()
    idempotency_key = _idempotency_key_field()
    occurred_at = _occurred_at_field()

    def validate_deltas(self, value: list[dict]) -> list[dict]:
        seen: dict[tuple[int, str], int] = {}
        errors = {}
        for index, item in enumerate(value):
            pair = (item["character_id"], item["axis_name"])
            if pair in seen:
                errors[index] = {
                    "axis_name": [
                        API_DUPLICATE_DELTA.format(
                            character_id=pair[0], axis=pair[1], first=seen[pair]
                        )
                    ]
                }
            else:
                seen[pair] = index
        if errors:
            raise serializers.ValidationError(errors, code="duplicate")
        return value

    def service_kwargs(self) -> dict:
        """Return the keyword arguments of ``apply_event`` for this request."""
        return self.service_kwargs_for(self.validated_data)

    @staticmethod
    def service_kwargs_for(data: dict) -> dict:
        deltas: dict[int, dict[str, float]] = {}
        for item in data["deltas"]:
            deltas.setdefault(item["character_id"], {})[item["axis_name"]] = item["delta"]
        return {
            "world_id": data.get("world_id"),
            "event_type": data["event_type"],
            "deltas": deltas,
            "metadata": data.get("metadata", {}),
            "idempotency_key": data.get("idempotency_key"),
            "occurred_at": data.get("occurred_at"),
        }

    def request_field(self, exc: LedgerError) -> str | None:
        """Name the offending part of this request, by position in its ``deltas`` list."""
        return self.field_for(self.validated_data["deltas"], exc)

    @staticmethod
    def field_for(delta_items: list[dict], exc: LedgerError) -> str | None:
        """Return ``deltas.<index>.<part>`` for an error about a character or its axis."""
        location = exc.location
        if location.part != "deltas" or location.character_id is None:
            return replace(location, event_index=None).path
        for index, item in enumerate(delta_items):
            if item["character_id"] != location.character_id:
                continue
            if location.axis is None:
                return f"deltas.{index}.character_id"
            if item["axis_name"] == location.axis:
                part = "delta" if exc.code == "invalid" else "axis_name"
                return f"deltas.{index}.{part}"
        return "deltas"


class BatchEventSerializer(ApplyEventSerializer):
    """One event of a batch: an event of the batch's world."""

    world_id = None


class ApplyEventsSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Many events of one world, applied in order, all or nothing."""

    world_id = StrictCharField(max_length=64)
    events = BoundedListField(
        child=BatchEventSerializer(),
        allow_empty=False,
        max_items=MAX_BATCH_EVENTS,
        message=APPLY_EVENTS_TOO_MANY,
        code="batch_too_large",
        help_text=(
            f"Applied in order, each seeing the previous ones' scores; at most "
            f"{MAX_BATCH_EVENTS} events and {MAX_BATCH_DELTAS} deltas in all "
            "(batch_too_large)."
        ),
    )

    def to_internal_value(self, data):
        # Counted on the raw body, before thousands of items are validated one by one.
        events = data.get("events") if isinstance(data, Mapping) else None
        if isinstance(events, list) and len(events) <= MAX_BATCH_EVENTS:
            total = sum(
                len(item["deltas"])
                for item in events
                if isinstance(item, Mapping) and isinstance(item.get("deltas"), list)
            )
            if total > MAX_BATCH_DELTAS:
                raise serializers.ValidationError(
                    {"events": [APPLY_EVENTS_TOO_MANY_DELTAS]}, code="batch_too_large"
                )
        return super().to_internal_value(data)

    def service_kwargs(self) -> dict:
        """Return the keyword arguments of ``apply_events`` for this request."""
        world_id = self.validated_data["world_id"]
        events = []
        for item in self.validated_data["events"]:
            kwargs = ApplyEventSerializer.service_kwargs_for(item)
            del kwargs["world_id"]
            events.append(kwargs)
        return {"world_id": world_id, "events": events}

    def request_field(self, exc: LedgerError) -> str | None:
        """Name the offending part of this request: ``events.<i>`` and its delta position."""
        index = exc.location.event_index
        if index is None:
            return exc.field
        item = self.validated_data["events"][index]
        inner = ApplyEventSerializer.field_for(item["deltas"], exc)
        return f"events.{index}" + (f".{inner}" if inner else "")


class ReverseEventSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """A correction: undo what an event applied, with a new ``reversal`` event."""

    reason = StrictCharField(
        max_length=MAX_METADATA_VALUE_LENGTH,
        help_text="Why the event is reversed; recorded in the reversal's metadata.",
    )
    idempotency_key = _idempotency_key_field()


class ApplyDriftSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """Bring a world's drift up to ``until`` (default now)."""

    until = OffsetDateTimeField(
        required=False,
        allow_null=True,
        help_text=(
            "ISO 8601 with a UTC offset; default: now. At most "
            f"{max_occurred_at_skew().total_seconds():g} seconds in the future "
            "(until_in_future); before a clock, a no-op for that axis."
        ),
    )
    dry_run = serializers.BooleanField(
        required=False, default=False, help_text="Say what would change; write nothing."
    )


# Responses -----------------------------------------------------------------------------


class AxisStateSerializer(serializers.Serializer):
    axis_id = serializers.IntegerField()
    axis_name = serializers.CharField()
    axis_score = serializers.FloatField(help_text="In [0, 1].")
    axis_label = serializers.CharField(
        allow_null=True, help_text="The band the score falls in; null on a numeric axis."
    )


class CharacterAxisStateSerializer(serializers.Serializer):
    character_id = serializers.IntegerField()
    world_id = serializers.CharField()
    state_seed = serializers.IntegerField(help_text="Number of events applied since creation.")
    state_version = serializers.CharField(
        help_text="Policy hash the current snapshot was derived with."
    )
    state_updated_at = UTCDateTimeField(allow_null=True)
    policy_hash = serializers.CharField(help_text="The world's current policy hash.")
    snapshot_stale = serializers.BooleanField(
        help_text="True when state_version differs from policy_hash."
    )
    base_state = serializers.DictField(help_text="The snapshot at creation (a cache).")
    current_state = serializers.DictField(help_text="The current snapshot (a cache).")
    as_of = serializers.IntegerField(
        allow_null=True, help_text="The as_of event id of the request; null for the live state."
    )
    axes = AxisStateSerializer(
        many=True,
        help_text=(
            "Scores and labels by axis name, from the score table (or, with as_of, from "
            "the ledger), never from the snapshots."
        ),
    )


class EventDeltaSerializer(serializers.Serializer):
    character_id = serializers.IntegerField()
    axis_name = serializers.CharField()
    old_score = serializers.FloatField()
    new_score = serializers.FloatField()
    delta = serializers.FloatField(help_text="Change applied: new_score - old_score.")
    requested_delta = serializers.FloatField(
        help_text="Change requested; differs from delta when the score was clamped."
    )
    old_label = serializers.CharField(allow_null=True)
    new_label = serializers.CharField(allow_null=True)


class ActorSerializer(serializers.Serializer):
    name = serializers.CharField(
        help_text="Who caused the event, as recorded then: a username, a command and its "
        "OS user, `system`; `unknown` for events recorded before provenance existed."
    )
    user_id = serializers.IntegerField(
        allow_null=True,
        help_text="The user's id, or the API key owner's (the account may since have been "
        "renamed or deleted).",
    )
    key = serializers.CharField(
        allow_null=True, help_text="The prefix of the API key the event was written with."
    )


class EventSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    world_id = serializers.CharField()
    event_type = serializers.CharField()
    event_type_description = serializers.CharField()
    timestamp = UTCDateTimeField(help_text="When the server recorded the event.")
    recorded_at = UTCDateTimeField(help_text="The same as timestamp.")
    occurred_at = UTCDateTimeField(
        allow_null=True,
        help_text="The game time the client gave (default: the server time); null for "
        "events recorded before provenance existed.",
    )
    actor = ActorSerializer()
    source = serializers.ChoiceField(choices=[*Source.values, UNKNOWN])
    request_id = serializers.CharField(
        allow_null=True, help_text="X-Request-ID of the HTTP request that wrote the event."
    )
    policy_hash = serializers.CharField(
        allow_null=True, help_text="The world's policy hash the event was validated against."
    )
    reverses = serializers.IntegerField(
        allow_null=True, help_text="For a reversal: the event it undoes."
    )
    reversed_by = serializers.IntegerField(
        allow_null=True, help_text="The reversal that undid this event, if any."
    )
    metadata = serializers.DictField(child=serializers.CharField())
    deltas = EventDeltaSerializer(many=True, help_text="By axis name, then character id.")


class FeedEventSerializer(EventSerializer):
    deltas_complete = serializers.BooleanField(
        help_text=f"False when the event has more than {FEED_DELTAS_PER_EVENT} deltas (an "
        "axis backfill, a drift run): page through them with GET /admin/events/{event_id}."
    )


class WorldFeedSerializer(serializers.Serializer):
    world_id = serializers.CharField()
    events = FeedEventSerializer(many=True, help_text="In ledger order (event_id ascending).")
    next_after = serializers.IntegerField(
        help_text="Pass as `after` to continue; store it once the page is processed."
    )
    has_more = serializers.BooleanField(help_text="More events are ready now: ask again at once.")


class EventDetailSerializer(EventSerializer):
    next_deltas_offset = serializers.IntegerField(
        allow_null=True,
        help_text="Pass as `deltas_offset` for the next page of deltas; null at the end.",
    )


class CharacterEventsSerializer(serializers.Serializer):
    character_id = serializers.IntegerField()
    events = EventSerializer(
        many=True,
        help_text=(
            "Newest first. Each event carries only this character's deltas "
            "(character_id is kept in every delta)."
        ),
    )
    next_before = serializers.IntegerField(
        allow_null=True, help_text="Pass as `before` for the next (older) page; null at the end."
    )


class BatchResultSerializer(serializers.Serializer):
    events = EventSerializer(many=True, help_text="One per requested event, in order.")


class DriftAxisSerializer(serializers.Serializer):
    """One axis of a drift run; ``from`` and ``to`` are keywords, declared as start/end."""

    axis = serializers.CharField()
    rule = serializers.CharField(help_text="e.g. +0.01 every 1d toward 0.5")
    start = UTCDateTimeField(source="start", help_text="The clock before the run.")
    end = UTCDateTimeField(
        source="end", help_text="The clock after it: the end of the last whole period."
    )
    periods = serializers.IntegerField(help_text="Whole periods applied (0: none due).")
    characters = serializers.IntegerField(help_text="Characters whose score changed.")
    events = serializers.ListField(child=serializers.IntegerField(), help_text="The drift events.")

    def get_fields(self):
        fields = super().get_fields()
        fields["from"], fields["to"] = fields.pop("start"), fields.pop("end")
        return fields


class DriftRunSerializer(serializers.Serializer):
    world_id = serializers.CharField()
    until = UTCDateTimeField()
    dry_run = serializers.BooleanField()
    paused = serializers.BooleanField(help_text="The world's drift is paused: nothing applied.")
    deltas = serializers.IntegerField(help_text="Delta rows written (or, dry, that would be).")
    axes = DriftAxisSerializer(many=True)


# The characters of a world: create one, read many (worlds/views.py) --------------------

# At most MAX_CHARACTER_STATES ids of 1-19 digits each; 0 and ids beyond BIGINT name no
# character, so they are listed as missing, not refused.
IDS_PATTERN = rf"^[0-9]{{1,19}}(,[0-9]{{1,19}}){{0,{MAX_CHARACTER_STATES - 1}}}$"
_ID = re.compile(r"^[0-9]{1,19}$")
API_BAD_IDS = "ids must be character ids separated by commas, e.g. 1,2,3 (got {value!r})"
API_TOO_MANY_IDS = (
    f"ids takes at most {MAX_CHARACTER_STATES} ids (got {{count}}); "
    "ask in several requests, or page through the world with after"
)
API_IDS_WITH_PAGING = (
    "ids names the characters to read; after and limit page through the whole world "
    "without ids: send one or the other"
)
API_UNKNOWN_SCORE_AXIS = "unknown axis {axis!r} in world {world_id!r}"
API_RETIRED_SCORE_AXIS = "axis {axis!r} is retired in world {world_id!r} and takes no score"
API_TOO_MANY_SCORES = (
    f"scores takes at most {MAX_DELTAS_PER_EVENT} entries, one per axis of the world"
)


class CharacterStatesQuerySerializer(serializers.Serializer):
    ids = StrictCharField(
        required=False,
        schema_rules={"pattern": IDS_PATTERN},
        help_text=(
            f"Up to {MAX_CHARACTER_STATES} character ids separated by commas, e.g. 1,2,3: "
            "these characters, in this order, each once; an id that names no character "
            "of this world (unknown, or of another world) is listed in `missing`. Not "
            "with `after` or `limit` (400 ids_with_paging)."
        ),
    )
    after = QueryIntegerField(
        required=False,
        min_value=0,
        max_value=MAX_ID,
        help_text="Without `ids`: the characters with a larger id; the previous page's "
        "`next_after`.",
    )
    limit = QueryIntegerField(
        required=False,
        default=DEFAULT_CHARACTER_STATES_LIMIT,
        min_value=1,
        max_value=MAX_CHARACTER_STATES,
        help_text=f"Without `ids`: page size, 1 to {MAX_CHARACTER_STATES}.",
    )

    def validate_ids(self, value: str) -> list[int]:
        parts = value.split(",")
        if len(parts) > MAX_CHARACTER_STATES:
            raise serializers.ValidationError(
                API_TOO_MANY_IDS.format(count=len(parts)), code="too_many_ids"
            )
        if not all(_ID.match(part) for part in parts):
            raise serializers.ValidationError(API_BAD_IDS.format(value=value), code="invalid")
        return [int(part) for part in parts]

    def validate(self, data: dict) -> dict:
        paging = sorted({"after", "limit"} & set(self.initial_data))
        if "ids" in data and paging:
            raise serializers.ValidationError(
                {paging[0]: [API_IDS_WITH_PAGING]}, code="ids_with_paging"
            )
        return data


class CreateCharacterSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    """A new character of the world named in the URL."""

    name = StrictCharField(
        max_length=200,
        help_text="Display name, unique within the world (another character of the world "
        "with this name: 409 duplicate_name).",
    )
    scores = BoundedDictField(
        child=StrictFloatField(
            min_value=0.0, max_value=1.0, schema_rules={"minimum": 0.0, "maximum": 1.0}
        ),
        required=False,
        max_properties=MAX_DELTAS_PER_EVENT,
        message=API_TOO_MANY_SCORES,
        code="too_many_scores",
        help_text=(
            "Initial score by axis name, each in [0, 1]; the other active axes start at "
            "their default (else 0.5). Any name but an active axis of the world is a 400 "
            "(unknown_axis, retired_axis) naming `scores.<axis>`."
        ),
    )
    idempotency_key = StrictCharField(
        required=False,
        allow_null=True,
        schema_rules={"maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
        help_text=(
            "Optional client key, stored on the character's genesis event (unique among "
            "the world's events). A retry with the same key, name and scores answers 200 "
            "with the original character; the same key with another request answers 409."
        ),
    )

    def validate_scores(self, value: dict[str, float]) -> dict[str, float]:
        world = self.context["world"]
        if world is None:
            return value  # an unknown world: the view answers 404
        registry = get_world_registry(world)
        for axis_name in value:
            axis = registry.by_name.get(axis_name)
            if axis is None or not axis.is_active:
                message = API_UNKNOWN_SCORE_AXIS if axis is None else API_RETIRED_SCORE_AXIS
                raise serializers.ValidationError(
                    {axis_name: [message.format(axis=axis_name, world_id=world.world_id)]},
                    code="unknown_axis" if axis is None else "retired_axis",
                )
        return value


class CharacterStateSerializer(CharacterAxisStateSerializer):
    """A character's axis state, as ``GET /admin/characters/{id}/axis-state``, named."""

    name = serializers.CharField()


class CharacterStatesSerializer(serializers.Serializer):
    world_id = serializers.CharField()
    characters = CharacterStateSerializer(
        many=True, help_text="With `ids`, in the order asked; else in id order."
    )
    missing = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=(
            "The ids asked for that name no character of this world (unknown, or of "
            "another world), in the order asked; empty without `ids`."
        ),
    )
    next_after = serializers.IntegerField(
        allow_null=True,
        help_text="Without `ids`: pass as `after` for the next page; null on the last page "
        "and with `ids`.",
    )


# A world's statistics (ledger.stats) ------------------------------------------------------


class WorldStatsQuerySerializer(serializers.Serializer):
    window = serializers.ChoiceField(
        choices=list(WINDOWS),
        default=DEFAULT_WINDOW,
        error_messages={
            "invalid_choice": STATS_UNKNOWN_WINDOW.format(
                choices=", ".join(WINDOWS), value="{input}"
            )
        },
        help_text=(
            "The recorded-time window of the event statistics: the last 24 hours, 7 or 30 "
            "days, or the whole ledger (`all`). The distributions are always of now."
        ),
    )


class LabelCountSerializer(serializers.Serializer):
    label = serializers.CharField()
    ordinal = serializers.IntegerField()
    min_score = serializers.FloatField(help_text="The band holds scores from this one ...")
    below = serializers.FloatField(
        allow_null=True, help_text="... up to, not including, this one (null: up to 1)."
    )
    count = serializers.IntegerField(help_text="Characters with this label now.")
    share = serializers.FloatField(help_text="count / characters (0 with no characters).")


class AxisDistributionSerializer(serializers.Serializer):
    axis = serializers.CharField(source="name")
    characters = serializers.IntegerField(help_text="Characters with a score on the axis.")
    labels = LabelCountSerializer(
        many=True, help_text="Every label in ordinal order, zero counts included; [] if numeric."
    )
    histogram = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="20 bins: bin i counts scores in [i/20, (i+1)/20); the last includes 1.",
    )
    mean = serializers.FloatField(allow_null=True)
    median = serializers.FloatField(allow_null=True)
    at_zero = serializers.IntegerField(help_text="Characters at 0 (clamped low end).")
    at_one = serializers.IntegerField(help_text="Characters at 1 (clamped high end).")


class TypeAxisImpactSerializer(serializers.Serializer):
    axis = serializers.CharField()
    retired = serializers.BooleanField()
    deltas = serializers.IntegerField(help_text="Deltas of the type on the axis in the window.")
    sum = serializers.FloatField(source="total", help_text="Sum of the applied deltas.")
    mean = serializers.FloatField(help_text="Mean applied delta.")
    clamped = serializers.IntegerField(help_text="Deltas clamped at 0 or 1 (applied != asked).")
    clamped_share = serializers.FloatField()
    crossings_up = serializers.IntegerField(help_text="Deltas that moved to a higher label.")
    crossings_down = serializers.IntegerField(help_text="Deltas that moved to a lower label.")


class TypeImpactSerializer(serializers.Serializer):
    event_type = serializers.CharField()
    events = serializers.IntegerField()
    characters = serializers.IntegerField(help_text="Distinct characters the events touched.")
    axes = TypeAxisImpactSerializer(many=True)


class MoverSerializer(serializers.Serializer):
    character_id = serializers.IntegerField()
    name = serializers.CharField()
    change = serializers.FloatField(help_text="Net change over the window (sum of deltas).")
    deltas = serializers.IntegerField()


class DayCrossingsSerializer(serializers.Serializer):
    day = serializers.DateField(help_text="A UTC day.")
    up = serializers.IntegerField()
    down = serializers.IntegerField()


class AxisWindowSerializer(serializers.Serializer):
    axis = serializers.CharField(source="name")
    retired = serializers.BooleanField()
    top_movers = MoverSerializer(
        source="movers", many=True, help_text="Up to 10, by the size of their net change."
    )
    crossings_per_day = DayCrossingsSerializer(source="days", many=True)


class WorldStatsSerializer(serializers.Serializer):
    world_id = serializers.CharField()
    window = serializers.CharField()
    since = UTCDateTimeField(allow_null=True, help_text="The window's start (null: `all`).")
    until = UTCDateTimeField(help_text="The window's end: when the statistics were read.")
    distributions = AxisDistributionSerializer(many=True, help_text="Every active axis.")
    events = serializers.IntegerField(help_text="Events recorded in the window.")
    event_types = TypeImpactSerializer(many=True, help_text="Most events first.")
    axes = AxisWindowSerializer(many=True)
