"""Serializer fields every API of the project shares: strict JSON types, no coercion.

Numbers, strings and ids are strict: ``"0.2"`` is not a number, ``true`` is not a
number, ``5`` is not a string, and an unknown key in a request body is an error rather
than silently dropped. This module imports no app of the project.
"""

import datetime
import math
import re
from collections.abc import Mapping

from rest_framework import serializers

# The largest id a BIGINT primary key holds; larger ids identify nothing.
MAX_ID = 2**63 - 1
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

API_UNKNOWN_FIELD = "Unknown field."

_DIGITS = re.compile(r"^[0-9]{1,19}$")


def parse_id(value: str) -> int | None:
    """Return ``value`` as a database id, or None when it cannot be one."""
    if not _DIGITS.match(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ID else None


class StrictCharField(serializers.CharField):
    """A JSON string, taken as sent (no coercion of numbers, no trimming)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictFloatField(serializers.FloatField):
    """A finite JSON number (not a string, not a boolean)."""

    default_error_messages = {"invalid": "A finite number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("invalid")
        return value


class StrictIdField(serializers.IntegerField):
    """A database id: a JSON integer from 1 to the largest BIGINT."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QueryIntegerField(serializers.IntegerField):
    """A query-string integer: decimal digits only (no sign, spaces or fractions)."""

    def to_internal_value(self, data):
        if not isinstance(data, str) or not _DIGITS.match(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictDictField(serializers.DictField):
    """A JSON object whose keys hold no NUL character (PostgreSQL text cannot store one)."""

    default_error_messages = {"null_characters_not_allowed": "Null characters are not allowed."}

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and any("\x00" in str(key) for key in data):
            self.fail("null_characters_not_allowed")
        return super().to_internal_value(data)


class RejectUnknownFieldsMixin:
    """Refuse request bodies carrying keys the serializer does not define."""

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
