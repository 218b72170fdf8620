"""Serializer fields every API of the project shares: strict JSON types, no coercion.

Numbers, strings and ids are strict: ``"0.2"`` is not a number, ``true`` is not a
number, ``5`` is not a string, and an unknown key in a request body is an error rather
than silently dropped. This module imports no app of the project.

The OpenAPI schema states every rule of these fields, so that a request the schema
allows is one the API accepts (``tests/api/test_fuzz.py`` checks it): drf-spectacular
derives lengths and bounds from a field's arguments, ``SchemaRulesMixin`` adds the rest.
"""

import datetime
import math
import re
import sys
from collections.abc import Mapping

from django.utils.dateparse import parse_datetime
from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from rest_framework import serializers

# The largest id a BIGINT primary key holds; larger ids identify nothing.
MAX_ID = 2**63 - 1
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# A string without NUL characters (an ECMA-262 pattern): DRF's CharField refuses them, as
# PostgreSQL text cannot store one.
NO_NUL_PATTERN = "^[^\\u0000]*$"
# The largest finite double: a JSON number beyond it is infinite as a float, or overflows.
MAX_FLOAT = sys.float_info.max

API_UNKNOWN_FIELD = "Unknown field."

_DIGITS = re.compile(r"^[0-9]{1,19}$")


def parse_id(value: str) -> int | None:
    """Return ``value`` as a database id, or None when it cannot be one."""
    if not _DIGITS.match(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


class SchemaRulesMixin:
    """A field whose OpenAPI schema states the rules drf-spectacular cannot see.

    Those of the field's own checks (``own_schema_rules``), and the ``schema_rules``
    argument: JSON Schema keywords of the rules a service checks after the serializer,
    with its own error codes and messages (which a check of the field would change).
    """

    def __init__(self, *, schema_rules: dict | None = None, **kwargs):
        self.schema_rules = schema_rules or {}
        super().__init__(**kwargs)

    def own_schema_rules(self) -> dict:
        """Return the JSON Schema keywords of what the field itself refuses."""
        return {}

    def stated_schema_rules(self) -> dict:
        """Return every rule the field's schema states beyond drf-spectacular's."""
        return _merged_rules(self.own_schema_rules(), self.schema_rules)


def _merged_rules(rules: dict, more: dict) -> dict:
    """Return ``rules`` and ``more``: ``more`` wins, subschemas (``propertyNames``) merge."""
    merged = dict(rules)
    for keyword, value in more.items():
        if isinstance(value, dict) and isinstance(merged.get(keyword), dict):
            value = _merged_rules(merged[keyword], value)
        merged[keyword] = value
    return merged


class StrictCharField(SchemaRulesMixin, serializers.CharField):
    """A JSON string, taken as sent (no coercion of numbers, no trimming)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)

    def own_schema_rules(self) -> dict:
        rules = {"pattern": NO_NUL_PATTERN}
        if self.allow_blank:
            # drf-spectacular states a blank string with a pattern as oneOf [the rules,
            # ""]: "" must not match the rules too, or it would match both.
            rules["minLength"] = 1
        return rules


class StrictFloatField(SchemaRulesMixin, serializers.FloatField):
    """A finite JSON number (not a string, not a boolean)."""

    default_error_messages = {"invalid": "A finite number is required."}

    def own_schema_rules(self) -> dict:
        return {"minimum": -MAX_FLOAT, "maximum": MAX_FLOAT}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class StrictIdField(serializers.IntegerField):
    """A database id: a JSON integer from 1 to the largest BIGINT.

    An integer as JSON Schema (OpenAPI 3.1) has it: ``3`` or ``3.0``, not ``1.5``.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """A query-string integer: decimal digits only (no sign, spaces or fractions)."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _DIGITS.match(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictDictField(SchemaRulesMixin, serializers.DictField):
    """A JSON object whose keys hold no NUL character (PostgreSQL text cannot store one)."""

    default_error_messages = {"null_characters_not_allowed": "Null characters are not allowed."}

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and any("\x00" in str(key) for key in data):
            self.fail("null_characters_not_allowed")
        return super().to_internal_value(data)

    def own_schema_rules(self) -> dict:
        rules = {"propertyNames": {"pattern": NO_NUL_PATTERN}}
        if not self.allow_empty:
            rules["minProperties"] = 1
        return rules


class StrictListField(SchemaRulesMixin, serializers.ListField):
    """A JSON array (DRF's ``ListField``), its ``allow_empty=False`` stated as minItems."""

    def own_schema_rules(self) -> dict:
        return {} if self.allow_empty else {"minItems": 1}


class RejectUnknownFieldsMixin:
    """Refuse request bodies carrying keys the serializer does not define.

    The schema says so: ``additionalProperties: false`` (``_ClosedObject``).
    """

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {key: [API_UNKNOWN_FIELD] for key in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)


class UTCDateTimeField(serializers.DateTimeField):
    """An ISO 8601 UTC timestamp with microseconds: 2026-02-15T10:12:44.123456Z."""

    def __init__(self, **kwargs):
        super().__init__(format=TIMESTAMP_FORMAT, default_timezone=datetime.UTC, **kwargs)

    def to_representation(self, value):
        return utc_timestamp(value)


def utc_timestamp(value: datetime.datetime | None) -> str | None:
    """An aware datetime as the API writes it: 2026-02-15T10:12:44.123456Z (None: None)."""
    if value is None:
        return None
    # Not strftime: it writes the year 519 as "519", which is no ISO 8601 (game times
    # may be that old).
    utc = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


class OffsetDateTimeField(UTCDateTimeField):
    """An ISO 8601 date and time that states its UTC offset, read as sent.

    A time without an offset is refused rather than guessed: a game server in another
    zone would otherwise record an hour off without knowing. Written back in UTC.
    """

    default_error_messages = {
        "invalid": "An ISO 8601 date and time with a UTC offset is required, e.g. "
        "2026-02-15T10:12:44+00:00."
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            parsed = parse_datetime(data)
        except ValueError:  # well-formed but impossible: month 13, hour 25
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            self.fail("invalid")
        return parsed


# How the schema states these rules (drf-spectacular finds extensions by subclassing) ------


class _StatedRules(OpenApiSerializerFieldExtension):
    """Add a ``SchemaRulesMixin`` field's rules to what drf-spectacular generates for it."""

    target_class = SchemaRulesMixin
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        kinds = schema.get("type")
        if field.allow_null and isinstance(kinds, list):
            # drf-spectacular adds null to the returned types (OpenAPI 3.1): only once.
            kinds = [kind for kind in kinds if kind != "null"]
            schema["type"] = kinds[0] if len(kinds) == 1 else kinds
        return _merged_rules(schema, field.stated_schema_rules())


class _ClosedObject(OpenApiSerializerExtension):
    """State that a ``RejectUnknownFieldsMixin`` serializer takes no other keys."""

    target_class = RejectUnknownFieldsMixin
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}
