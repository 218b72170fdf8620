"""Check the parsed content of axes.yaml and thresholds.yaml, alone and against each other."""

import math
import re
from dataclasses import dataclass
from itertools import pairwise

from worlds.policies.results import PERIOD_UNITS, Drift
from worlds.policies.yaml_source import _Collector, _Source

DEFAULT_AXIS_SCORE = 0.5
ORDERING_TYPES = ("ordinal", "numeric")

AXIS_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
MAX_LABEL_LENGTH = 64
# Bands are written to two decimals (max 0.19, next min 0.20), so a 0.01 step is contiguous.
MAX_BAND_GAP = 0.01
# 0.20 - 0.19 is 0.010000000000000009 in binary floats: without slack the seed bands warn.
_GAP_SLACK = 1e-9

_AXIS_NAME_RE = re.compile(AXIS_NAME_PATTERN)
_TOP_LEVEL_KEYS = ("version", "axes", "description")
_AXIS_KEYS = ("values", "ordering", "default", "description", "drift")
_DRIFT_KEYS = ("rate", "every", "toward")
_ORDERING_KEYS = ("type", "values")
_THRESHOLD_AXIS_KEYS = ("values",)
_BAND_KEYS = ("min", "max")

# Errors: structure.
POLICY_NOT_A_MAPPING = "expected a mapping, got {kind}"
POLICY_MISSING_KEY = "missing required key {key!r}"
POLICY_INVALID_VERSION = "version must be a non-empty string or a finite number, got {value!r}"
POLICY_NO_AXES = "no axes"
POLICY_INVALID_DESCRIPTION = "description must be a string, got {value!r}"
# Errors: axes.
POLICY_INVALID_AXIS_NAME = "axis name {name!r} must match {pattern}"
POLICY_MISSING_ORDERING = "axis {axis!r} has no ordering"
POLICY_UNKNOWN_ORDERING_TYPE = "unknown ordering type {value!r}; expected one of {expected}"
POLICY_INVALID_LABELS = "values must be a non-empty list of labels, got {value!r}"
POLICY_INVALID_LABEL = (
    f"label must be a non-empty string of at most {MAX_LABEL_LENGTH} characters, got {{value!r}}"
)
POLICY_DUPLICATE_LABEL = "duplicate label {label!r}"
POLICY_ORDERING_MISMATCH = "ordering.values {ordering!r} differs from values {values!r}"
POLICY_NUMERIC_WITH_VALUES = "numeric axis {axis!r} has no labels, but {key} is {value!r}"
POLICY_INVALID_DEFAULT = "default must be a finite number in [0, 1], got {value!r}"
POLICY_INVALID_DRIFT_RATE = (
    "drift rate must be a finite number in [-1, 1], a whole multiple of 0.000001 (the "
    "scores' precision), got {value!r}"
)
POLICY_INVALID_DRIFT_PERIOD = (
    "drift every must be a period of whole seconds from 1s to {max_days} days, like 30s, 15m, "
    "1h, 1d, 7d or ISO 8601 PT1H, P1D, P1W (no months or years: their length varies), got "
    "{value!r}"
)
POLICY_INVALID_DRIFT_TOWARD = (
    "drift toward must be a finite number in [0, 1], a whole multiple of 0.000001, got {value!r}"
)
# Errors: thresholds.
POLICY_MISSING_THRESHOLDS = "ordinal axis {axis!r} has no thresholds"
POLICY_THRESHOLDS_FOR_UNKNOWN_AXIS = "thresholds for axis {axis!r}, which axes.yaml does not define"
POLICY_NUMERIC_WITH_THRESHOLDS = "numeric axis {axis!r} has no labels, so it takes no thresholds"
POLICY_MISSING_BAND = "label {label!r} of axis {axis!r} has no band"
POLICY_UNKNOWN_LABEL = "band for unknown label {label!r}; axis {axis!r} has labels {labels}"
POLICY_INVALID_BOUND = "{bound} must be a finite number, got {value!r}"
POLICY_BOUND_OUT_OF_RANGE = "{bound} {value} is outside [0, 1]"
POLICY_INVERTED_BAND = "min {min} is greater than max {max}"
POLICY_DESCENDING_BANDS = "band {label!r} starts at {min}, below the start {pmin} of band {prev!r}"
POLICY_OVERLAPPING_BANDS = "band {label!r} [{min}, {max}] overlaps band {prev!r} [{pmin}, {pmax}]"
POLICY_LOWEST_BAND_START = "lowest band {label!r} starts at {min}, not 0.0"
POLICY_HIGHEST_BAND_END = "highest band {label!r} ends at {max}, not 1.0"
# Warnings.
POLICY_BAND_GAP = "gap of {gap:g} between band {prev!r} (max {pmax}) and band {label!r} (min {min})"
POLICY_UNKNOWN_KEY = "unknown key {key!r}; expected one of {expected}"


MAX_DRIFT_PERIOD_DAYS = 3650
SCORE_PRECISION = 1_000_000  # scores are kept to 1e-6: drift numbers are whole micro-units

_SHORT_PERIOD_RE = re.compile(r"([1-9][0-9]{0,9})([smhdw])")
_ISO_PERIOD_RE = re.compile(
    r"P(?:([0-9]{1,5})W)?(?:([0-9]{1,5})D)?(?:T(?:([0-9]{1,6})H)?(?:([0-9]{1,8})M)?(?:([0-9]{1,10})S)?)?"
)
_ISO_SECONDS = (604_800, 86_400, 3_600, 60, 1)


@dataclass(frozen=True)
class _AxisDefinition:
    """What axes.yaml says about one axis; ``labels`` is None when unknown or invalid."""

    ordering_type: str | None
    labels: tuple[str, ...] | None
    default_score: float
    description: str
    drift: Drift | None = None


def parse_period(value: object) -> int | None:
    """Return a drift period in seconds (``30s``, ``1d``, ``PT1H``, ``P1W``), or None if bad."""
    if not isinstance(value, str):
        return None
    if match := _SHORT_PERIOD_RE.fullmatch(value):
        size = dict(PERIOD_UNITS)[match[2]]
        seconds = int(match[1]) * size
    elif (
        (match := _ISO_PERIOD_RE.fullmatch(value)) and value not in ("P", "PT") and value[-1] != "T"
    ):
        seconds = sum(
            int(part or 0) * size for part, size in zip(match.groups(), _ISO_SECONDS, strict=True)
        )
    else:
        return None
    return seconds if 1 <= seconds <= MAX_DRIFT_PERIOD_DAYS * 86_400 else None


def _micro(value: object, low: float, high: float) -> float | None:
    """Return ``value`` if it is a finite number in [low, high] on the 1e-6 grid, else None."""
    number = _finite(value)
    if number is None or not low <= number <= high:
        return None
    scaled = number * SCORE_PRECISION
    return number if abs(scaled - round(scaled)) < 1e-6 else None


def _check_top_level(
    source: _Source, collector: _Collector, require_axes: bool
) -> tuple[str | None, dict | None]:
    """Check a file's top-level mapping; return its version and its ``axes`` mapping."""
    data = source.data
    if data is None:
        return None, None
    if not isinstance(data, dict):
        collector.error(source, (), POLICY_NOT_A_MAPPING.format(kind=_kind(data)))
        return None, None
    _warn_unknown_keys(source, (), data, _TOP_LEVEL_KEYS, collector)
    _check_description(source, (), data, collector)
    version = _check_version(source, data, collector)
    if "axes" not in data:
        collector.error(source, ("axes",), POLICY_MISSING_KEY.format(key="axes"))
        return version, None
    axes = data["axes"]
    if not isinstance(axes, dict):
        collector.error(source, ("axes",), POLICY_NOT_A_MAPPING.format(kind=_kind(axes)))
        return version, None
    # An empty thresholds mapping is fine when every axis is numeric; a missing ordinal
    # axis is reported per axis instead.
    if require_axes and not axes:
        collector.error(source, ("axes",), POLICY_NO_AXES)
    return version, axes


def _check_version(source: _Source, data: dict, collector: _Collector) -> str | None:
    if "version" not in data:
        collector.error(source, ("version",), POLICY_MISSING_KEY.format(key="version"))
        return None
    value = data["version"]
    if isinstance(value, str) and value.strip():
        return value
    if _finite(value) is None:
        collector.error(source, ("version",), POLICY_INVALID_VERSION.format(value=value))
        return None
    return str(value)


def _check_axis(
    source: _Source, name: str, entry: object, collector: _Collector
) -> _AxisDefinition:
    """Check one axis of axes.yaml and return what the thresholds check needs from it."""
    path = ("axes", name)
    if not _AXIS_NAME_RE.fullmatch(name):
        message = POLICY_INVALID_AXIS_NAME.format(name=name, pattern=AXIS_NAME_PATTERN)
        collector.error(source, path, message)
    if not isinstance(entry, dict):
        collector.error(source, path, POLICY_NOT_A_MAPPING.format(kind=_kind(entry)))
        return _AxisDefinition(None, None, DEFAULT_AXIS_SCORE, "")
    _warn_unknown_keys(source, path, entry, _AXIS_KEYS, collector)
    description = _check_description(source, path, entry, collector)
    default_score = _check_default(source, path, entry, collector)
    drift = _check_drift(source, path, entry, collector)
    ordering_type, ordering = _check_ordering(source, name, entry, collector)

    if ordering_type == "numeric":
        for key, container in (("values", entry), ("ordering.values", ordering)):
            value = container.get("values")
            if value is not None and value != []:
                message = POLICY_NUMERIC_WITH_VALUES.format(axis=name, key=key, value=value)
                collector.error(source, (*path, *key.split(".")), message)
        return _AxisDefinition("numeric", (), default_score, description, drift)

    # With no usable ordering type, the labels' rules are unknown; checking them as
    # ordinal would bury the one real error under guesses.
    if ordering_type != "ordinal":
        return _AxisDefinition(None, None, default_score, description, drift)
    labels = _check_labels(source, (*path, "values"), entry, collector)
    if labels is not None:
        ordering_path = (*path, "ordering", "values")
        if "values" not in ordering:
            collector.error(source, ordering_path, POLICY_MISSING_KEY.format(key="values"))
        elif ordering["values"] != list(labels):
            message = POLICY_ORDERING_MISMATCH.format(
                ordering=ordering["values"], values=list(labels)
            )
            collector.error(source, ordering_path, message)
    return _AxisDefinition("ordinal", labels, default_score, description, drift)


def _check_drift(
    source: _Source, path: tuple[str, ...], entry: dict, collector: _Collector
) -> Drift | None:
    """Check an axis's ``drift`` (``rate`` and ``every`` required, ``toward`` optional)."""
    if "drift" not in entry:
        return None
    drift = entry["drift"]
    path = (*path, "drift")
    if not isinstance(drift, dict):
        collector.error(source, path, POLICY_NOT_A_MAPPING.format(kind=_kind(drift)))
        return None
    _warn_unknown_keys(source, path, drift, _DRIFT_KEYS, collector)
    valid = True
    for key in ("rate", "every"):
        if key not in drift:
            collector.error(source, (*path, key), POLICY_MISSING_KEY.format(key=key))
            valid = False
    rate = _micro(drift.get("rate"), -1.0, 1.0)
    if "rate" in drift and rate is None:
        message = POLICY_INVALID_DRIFT_RATE.format(value=drift["rate"])
        collector.error(source, (*path, "rate"), message)
        valid = False
    period = parse_period(drift.get("every"))
    if "every" in drift and period is None:
        message = POLICY_INVALID_DRIFT_PERIOD.format(
            value=drift["every"], max_days=MAX_DRIFT_PERIOD_DAYS
        )
        collector.error(source, (*path, "every"), message)
        valid = False
    toward = None
    if "toward" in drift:
        toward = _micro(drift["toward"], 0.0, 1.0)
        if toward is None:
            message = POLICY_INVALID_DRIFT_TOWARD.format(value=drift["toward"])
            collector.error(source, (*path, "toward"), message)
            valid = False
    return Drift(rate=rate, period=period, toward=toward) if valid else None


def _check_ordering(
    source: _Source, name: str, entry: dict, collector: _Collector
) -> tuple[str | None, dict]:
    """Check an axis's ``ordering``; return its type (None if unusable) and the mapping."""
    path = ("axes", name, "ordering")
    if "ordering" not in entry:
        collector.error(source, path, POLICY_MISSING_ORDERING.format(axis=name))
        collector.missing.append(f"ordering for axis {name!r}")
        return None, {}
    ordering = entry["ordering"]
    if not isinstance(ordering, dict):
        collector.error(source, path, POLICY_NOT_A_MAPPING.format(kind=_kind(ordering)))
        return None, {}
    _warn_unknown_keys(source, path, ordering, _ORDERING_KEYS, collector)
    if "type" not in ordering:
        collector.error(source, (*path, "type"), POLICY_MISSING_KEY.format(key="type"))
        return None, ordering
    kind = ordering["type"]
    if kind not in ORDERING_TYPES:
        message = POLICY_UNKNOWN_ORDERING_TYPE.format(
            value=kind, expected=", ".join(ORDERING_TYPES)
        )
        collector.error(source, (*path, "type"), message)
        return None, ordering
    return kind, ordering


def _check_labels(
    source: _Source, path: tuple[str, ...], entry: dict, collector: _Collector
) -> tuple[str, ...] | None:
    """Check an axis's ``values``; return the labels, or None if any is invalid."""
    if "values" not in entry:
        collector.error(source, path, POLICY_MISSING_KEY.format(key="values"))
        return None
    values = entry["values"]
    if not isinstance(values, list) or not values:
        collector.error(source, path, POLICY_INVALID_LABELS.format(value=values))
        return None
    valid = True
    seen = set()
    for index, label in enumerate(values):
        item_path = (*path, str(index))
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_LENGTH:
            collector.error(source, item_path, POLICY_INVALID_LABEL.format(value=label))
            valid = False
        elif label in seen:
            collector.error(source, item_path, POLICY_DUPLICATE_LABEL.format(label=label))
            valid = False
        else:
            seen.add(label)
    return tuple(values) if valid else None


def _check_default(
    source: _Source, path: tuple[str, ...], entry: dict, collector: _Collector
) -> float:
    if "default" not in entry:
        return DEFAULT_AXIS_SCORE
    value = _finite(entry["default"])
    if value is None or not 0.0 <= value <= 1.0:
        message = POLICY_INVALID_DEFAULT.format(value=entry["default"])
        collector.error(source, (*path, "default"), message)
        return DEFAULT_AXIS_SCORE
    return value


def _check_description(
    source: _Source, path: tuple[str, ...], mapping: dict, collector: _Collector
) -> str:
    value = mapping.get("description", "")
    if not isinstance(value, str):
        message = POLICY_INVALID_DESCRIPTION.format(value=value)
        collector.error(source, (*path, "description"), message)
        return ""
    return value


def _check_thresholds(
    source: _Source,
    threshold_axes: dict | None,
    definitions: dict[str, _AxisDefinition] | None,
    collector: _Collector,
) -> dict[str, dict[str, tuple[float, float]]]:
    """Check thresholds.yaml against the axes; return each axis's usable bands by label.

    Cross-file checks need both sides: with ``definitions`` None (axes.yaml unusable)
    bands are checked on their own, and with ``threshold_axes`` None (thresholds.yaml
    unusable, already reported) nothing is reported missing per axis.
    """
    if threshold_axes is None:
        return {}
    bands = {}
    for raw_name, entry in threshold_axes.items():
        name = str(raw_name)
        path = ("axes", name)
        definition = None if definitions is None else definitions.get(name)
        if definitions is not None and definition is None:
            message = POLICY_THRESHOLDS_FOR_UNKNOWN_AXIS.format(axis=name)
            collector.error(source, path, message)
            continue
        if definition is not None and definition.ordering_type == "numeric":
            collector.error(source, path, POLICY_NUMERIC_WITH_THRESHOLDS.format(axis=name))
            continue
        if not isinstance(entry, dict):
            collector.error(source, path, POLICY_NOT_A_MAPPING.format(kind=_kind(entry)))
            continue
        _warn_unknown_keys(source, path, entry, _THRESHOLD_AXIS_KEYS, collector)
        if "values" not in entry:
            collector.error(source, (*path, "values"), POLICY_MISSING_KEY.format(key="values"))
            continue
        values = entry["values"]
        if not isinstance(values, dict):
            message = POLICY_NOT_A_MAPPING.format(kind=_kind(values))
            collector.error(source, (*path, "values"), message)
            continue
        labels = None if definition is None else definition.labels
        bands[name] = _check_bands(source, name, values, labels, collector)

    if definitions is not None:
        present = {str(name) for name in threshold_axes}
        for name, definition in definitions.items():
            if definition.ordering_type == "ordinal" and name not in present:
                message = POLICY_MISSING_THRESHOLDS.format(axis=name)
                collector.error(source, ("axes", name), message)
                collector.missing.append(f"thresholds for axis {name!r}")
    return bands


def _check_bands(
    source: _Source,
    axis: str,
    values: dict,
    labels: tuple[str, ...] | None,
    collector: _Collector,
) -> dict[str, tuple[float, float]]:
    """Check an axis's bands, and with known ``labels`` their coverage and order."""
    path = ("axes", axis, "values")
    bands = {}
    for raw_label, band in values.items():
        label = str(raw_label)
        if labels is not None and label not in labels:
            message = POLICY_UNKNOWN_LABEL.format(label=label, axis=axis, labels=", ".join(labels))
            collector.error(source, (*path, label), message)
            continue
        bounds = _check_band(source, (*path, label), band, collector)
        if bounds is not None:
            bands[label] = bounds
    if labels is None:
        return bands

    present = {str(label) for label in values}
    for label in labels:
        if label not in present:
            collector.error(
                source, (*path, label), POLICY_MISSING_BAND.format(label=label, axis=axis)
            )
            collector.missing.append(f"band for label {label!r} of axis {axis!r}")
    ordered = [(label, bands[label]) for label in labels if label in bands]
    for (prev, (pmin, pmax)), (label, (low, high)) in pairwise(ordered):
        min_path = (*path, label, "min")
        if low < pmin:
            message = POLICY_DESCENDING_BANDS.format(label=label, min=low, prev=prev, pmin=pmin)
            collector.error(source, min_path, message)
        elif low < pmax:
            message = POLICY_OVERLAPPING_BANDS.format(
                label=label, min=low, max=high, prev=prev, pmin=pmin, pmax=pmax
            )
            collector.error(source, min_path, message)
        elif low - pmax > MAX_BAND_GAP + _GAP_SLACK:
            message = POLICY_BAND_GAP.format(
                gap=low - pmax, prev=prev, pmax=pmax, label=label, min=low
            )
            collector.warn(source, min_path, message)
    # Coverage is judged only when every label has a band, or a missing lowest band
    # would also be reported as a second band that does not start at 0.0.
    if ordered and len(ordered) == len(labels):
        first, (low, _) = ordered[0]
        last, (_, high) = ordered[-1]
        if low != 0.0:
            message = POLICY_LOWEST_BAND_START.format(label=first, min=low)
            collector.error(source, (*path, first, "min"), message)
        if high != 1.0:
            message = POLICY_HIGHEST_BAND_END.format(label=last, max=high)
            collector.error(source, (*path, last, "max"), message)
    return bands


def _check_band(
    source: _Source, path: tuple[str, ...], band: object, collector: _Collector
) -> tuple[float, float] | None:
    """Check one band; return ``(min, max)`` if both bounds are finite numbers."""
    if not isinstance(band, dict):
        collector.error(source, path, POLICY_NOT_A_MAPPING.format(kind=_kind(band)))
        return None
    _warn_unknown_keys(source, path, band, _BAND_KEYS, collector)
    bounds = {}
    for key in _BAND_KEYS:
        if key not in band:
            collector.error(source, (*path, key), POLICY_MISSING_KEY.format(key=key))
            continue
        value = _finite(band[key])
        if value is None:
            message = POLICY_INVALID_BOUND.format(bound=key, value=band[key])
            collector.error(source, (*path, key), message)
            continue
        if not 0.0 <= value <= 1.0:
            message = POLICY_BOUND_OUT_OF_RANGE.format(bound=key, value=value)
            collector.error(source, (*path, key), message)
        bounds[key] = value
    if len(bounds) != len(_BAND_KEYS):
        return None
    if bounds["min"] > bounds["max"]:
        message = POLICY_INVERTED_BAND.format(min=bounds["min"], max=bounds["max"])
        collector.error(source, path, message)
    return bounds["min"], bounds["max"]


def _warn_unknown_keys(
    source: _Source,
    path: tuple[str, ...],
    mapping: dict,
    expected: tuple[str, ...],
    collector: _Collector,
) -> None:
    for key in mapping:
        if key not in expected:
            message = POLICY_UNKNOWN_KEY.format(key=key, expected=", ".join(expected))
            collector.warn(source, (*path, str(key)), message)


def _finite(value: object) -> float | None:
    """Return ``value`` as a float if it is a finite number (bools are not), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
