"""Load, validate and hash a world's axis policy files.

A world defines its axes in ``<world_dir>/policies/axes.yaml`` and the score band of
every label in ``thresholds.yaml``. This package turns those two files into a
``PolicyReport``: what was found, what is missing, every error and warning (each with
file, dotted key path and YAML line), a content hash and, when the files are valid, a
``WorldPolicy`` that resolves scores to labels.

The loader is pure: it reads files and returns frozen dataclasses, and never imports
Django, the ORM or settings. The sync service can therefore validate every world before
it writes anything, so a bad file leaves the database untouched; a startup check or a
management command can report on a world without a database; and tests can run against
tiny YAML files without Django.

The stages live in their own modules: ``yaml_source`` reads and parses a file,
``validation`` checks its content, ``hashing`` computes the content hash, ``loader``
ties them into a report, and ``results`` holds the dataclasses they return. Each module
defines the message templates of the issues it reports; import everything from here.
"""

from worlds.policies.hashing import policy_content_hash
from worlds.policies.loader import (
    AXES_FILE,
    POLICIES_DIR,
    POLICY_VERSION_MISMATCH,
    THRESHOLDS_FILE,
    discover_worlds,
    load_world_policy,
)
from worlds.policies.results import (
    AxisPolicy,
    Band,
    Drift,
    PolicyIssue,
    PolicyReport,
    WorldPolicy,
    format_period,
    resolve_label,
)
from worlds.policies.validation import (
    AXIS_NAME_PATTERN,
    DEFAULT_AXIS_SCORE,
    MAX_BAND_GAP,
    MAX_DRIFT_PERIOD_DAYS,
    MAX_LABEL_LENGTH,
    ORDERING_TYPES,
    POLICY_BAND_GAP,
    POLICY_BOUND_OUT_OF_RANGE,
    POLICY_DESCENDING_BANDS,
    POLICY_DUPLICATE_LABEL,
    POLICY_HIGHEST_BAND_END,
    POLICY_INVALID_AXIS_NAME,
    POLICY_INVALID_BOUND,
    POLICY_INVALID_DEFAULT,
    POLICY_INVALID_DESCRIPTION,
    POLICY_INVALID_DRIFT_PERIOD,
    POLICY_INVALID_DRIFT_RATE,
    POLICY_INVALID_DRIFT_TOWARD,
    POLICY_INVALID_LABEL,
    POLICY_INVALID_LABELS,
    POLICY_INVALID_VERSION,
    POLICY_INVERTED_BAND,
    POLICY_LOWEST_BAND_START,
    POLICY_MISSING_BAND,
    POLICY_MISSING_KEY,
    POLICY_MISSING_ORDERING,
    POLICY_MISSING_THRESHOLDS,
    POLICY_NO_AXES,
    POLICY_NOT_A_MAPPING,
    POLICY_NUMERIC_WITH_THRESHOLDS,
    POLICY_NUMERIC_WITH_VALUES,
    POLICY_ORDERING_MISMATCH,
    POLICY_OVERLAPPING_BANDS,
    POLICY_THRESHOLDS_FOR_UNKNOWN_AXIS,
    POLICY_UNKNOWN_KEY,
    POLICY_UNKNOWN_LABEL,
    POLICY_UNKNOWN_ORDERING_TYPE,
    parse_period,
)
from worlds.policies.yaml_source import (
    MAX_POLICY_FILE_BYTES,
    POLICY_DUPLICATE_KEY,
    POLICY_EMPTY_FILE,
    POLICY_FILE_MISSING,
    POLICY_FILE_TOO_LARGE,
    POLICY_FILE_UNREADABLE,
    POLICY_MALFORMED_YAML,
    POLICY_YAML_ANCHOR,
    POLICY_YAML_TOO_DEEP,
)

__all__ = [
    "AXES_FILE",
    "AXIS_NAME_PATTERN",
    "AxisPolicy",
    "Band",
    "Drift",
    "DEFAULT_AXIS_SCORE",
    "MAX_BAND_GAP",
    "MAX_DRIFT_PERIOD_DAYS",
    "MAX_LABEL_LENGTH",
    "MAX_POLICY_FILE_BYTES",
    "ORDERING_TYPES",
    "POLICIES_DIR",
    "POLICY_BAND_GAP",
    "POLICY_BOUND_OUT_OF_RANGE",
    "POLICY_DESCENDING_BANDS",
    "POLICY_DUPLICATE_KEY",
    "POLICY_DUPLICATE_LABEL",
    "POLICY_EMPTY_FILE",
    "POLICY_FILE_MISSING",
    "POLICY_FILE_TOO_LARGE",
    "POLICY_FILE_UNREADABLE",
    "POLICY_HIGHEST_BAND_END",
    "POLICY_INVALID_AXIS_NAME",
    "POLICY_INVALID_BOUND",
    "POLICY_INVALID_DEFAULT",
    "POLICY_INVALID_DESCRIPTION",
    "POLICY_INVALID_DRIFT_PERIOD",
    "POLICY_INVALID_DRIFT_RATE",
    "POLICY_INVALID_DRIFT_TOWARD",
    "POLICY_INVALID_LABEL",
    "POLICY_INVALID_LABELS",
    "POLICY_INVALID_VERSION",
    "POLICY_INVERTED_BAND",
    "POLICY_LOWEST_BAND_START",
    "POLICY_MALFORMED_YAML",
    "POLICY_MISSING_BAND",
    "POLICY_MISSING_KEY",
    "POLICY_MISSING_ORDERING",
    "POLICY_MISSING_THRESHOLDS",
    "POLICY_NOT_A_MAPPING",
    "POLICY_NO_AXES",
    "POLICY_NUMERIC_WITH_THRESHOLDS",
    "POLICY_NUMERIC_WITH_VALUES",
    "POLICY_ORDERING_MISMATCH",
    "POLICY_OVERLAPPING_BANDS",
    "POLICY_THRESHOLDS_FOR_UNKNOWN_AXIS",
    "POLICY_UNKNOWN_KEY",
    "POLICY_UNKNOWN_LABEL",
    "POLICY_UNKNOWN_ORDERING_TYPE",
    "POLICY_VERSION_MISMATCH",
    "POLICY_YAML_ANCHOR",
    "POLICY_YAML_TOO_DEEP",
    "PolicyIssue",
    "PolicyReport",
    "THRESHOLDS_FILE",
    "WorldPolicy",
    "discover_worlds",
    "format_period",
    "load_world_policy",
    "parse_period",
    "policy_content_hash",
    "resolve_label",
]
