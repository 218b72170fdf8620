"""Load, validate and hash a world's axis policy files.

A world defines its axes in ``<world_dir>/policies/axes.yaml`` and the score band of
every label in ``thresholds.yaml``. This module turns those two files into a
``PolicyReport``: what was found, what is missing, every error and warning (each with
file, dotted key path and YAML line), a content hash and, when the files are valid, a
``WorldPolicy`` that resolves scores to labels.

The loader is pure: it reads files and returns frozen dataclasses, and never imports
Django, the ORM or settings. The sync service can therefore validate every world before
it writes anything, so a bad file leaves the database untouched; a startup check or a
management command can report on a world without a database; and tests can run against
tiny YAML files without Django.
"""

import hashlib
import json
import math
import os
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import yaml

DEFAULT_AXIS_SCORE = 0.5
ORDERING_TYPES = ("ordinal", "numeric")
AXES_FILE = "axes.yaml"
THRESHOLDS_FILE = "thresholds.yaml"
POLICIES_DIR = "policies"

AXIS_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
MAX_LABEL_LENGTH = 64
# Bands are written to two decimals (max 0.19, next min 0.20), so a 0.01 step is contiguous.
MAX_BAND_GAP = 0.01
# 0.20 - 0.19 is 0.010000000000000009 in binary floats: without slack the seed bands warn.
_GAP_SLACK = 1e-9

_AXIS_NAME_RE = re.compile(AXIS_NAME_PATTERN)
_TOP_LEVEL_KEYS = ("version", "axes", "description")
_AXIS_KEYS = ("values", "ordering", "default", "description")
_ORDERING_KEYS = ("type", "values")
_THRESHOLD_AXIS_KEYS = ("values",)
_BAND_KEYS = ("min", "max")

# Errors: files and YAML.
POLICY_FILE_MISSING = "file not found"
POLICY_FILE_UNREADABLE = "cannot read file: {error}"
POLICY_MALFORMED_YAML = "malformed YAML: {problem}"
POLICY_YAML_TOO_DEEP = "malformed YAML: nesting is too deep to load"
POLICY_RECURSIVE_ALIAS = "an alias refers to a node that contains it"
POLICY_EMPTY_FILE = "file is empty"
POLICY_DUPLICATE_KEY = "duplicate key {key!r}"
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
POLICY_VERSION_MISMATCH = "version {version!r} differs from axes.yaml version {axes_version!r}"
POLICY_UNKNOWN_KEY = "unknown key {key!r}; expected one of {expected}"


def resolve_label(mins: tuple[float, ...], labels: tuple[str, ...], score: float) -> str | None:
    """Return the label of the band with the greatest min not above ``score``.

    Resolution is total: a score in a gap between bands (0.195 between 0.19 and 0.20)
    belongs to the band below it, and a score below every band to the lowest band.
    ``mins`` ascend, one per label; with no labels (a numeric axis) return None.
    """
    if not labels:
        return None
    return labels[max(bisect_right(mins, score) - 1, 0)]


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy file, located by file, dotted key path and YAML line."""

    file: str
    key_path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        location = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.key_path:
            return f"{location}: {self.key_path}: {self.message}"
        return f"{location}: {self.message}"

    def as_dict(self) -> dict:
        """Return the issue as a JSON-serialisable dict."""
        return {
            "file": self.file,
            "key_path": self.key_path,
            "line": self.line,
            "message": self.message,
        }


@dataclass(frozen=True)
class Band:
    """The score interval ``[min_score, max_score]`` of one label of an ordinal axis."""

    label: str
    ordinal: int
    min_score: float
    max_score: float


@dataclass(frozen=True)
class AxisPolicy:
    """One axis of a world: its ordering and, for an ordinal axis, ascending bands.

    A numeric axis has no labels and no bands; an ordinal axis has one band per label,
    in label order, together covering [0, 1].
    """

    name: str
    ordering_type: str
    labels: tuple[str, ...]
    bands: tuple[Band, ...]
    default_score: float
    description: str = ""
    _mins: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_mins", tuple(band.min_score for band in self.bands))

    def label_for(self, score: float) -> str | None:
        """Return the label of ``score`` (None on a numeric axis); see ``resolve_label``."""
        return resolve_label(self._mins, self.labels, score)

    def ordering_json(self) -> dict:
        """Return the ordering as stored in ``axis.ordering_json``."""
        return {"type": self.ordering_type, "values": list(self.labels)}


@dataclass(frozen=True)
class WorldPolicy:
    """The validated policy of one world, identified by its content hash."""

    world_id: str
    version: str
    policy_hash: str
    axes: tuple[AxisPolicy, ...]

    def axis(self, name: str) -> AxisPolicy:
        """Return the axis called ``name``; raise KeyError if the world has none."""
        for axis in self.axes:
            if axis.name == name:
                return axis
        raise KeyError(name)

    @property
    def axis_names(self) -> tuple[str, ...]:
        """Return the axis names, sorted."""
        return tuple(axis.name for axis in self.axes)


@dataclass(frozen=True)
class PolicyReport:
    """The validation report of a world's policy files; ``policy`` is set only if valid."""

    world_id: str
    directory: str
    axes: tuple[str, ...]
    ordering: dict
    thresholds: dict
    missing: tuple[str, ...]
    errors: tuple[PolicyIssue, ...]
    warnings: tuple[PolicyIssue, ...]
    policy_hash: str | None
    version: str | None
    thresholds_version: str | None
    policy: WorldPolicy | None

    @property
    def is_valid(self) -> bool:
        """Return whether the policy files have no errors (warnings are allowed)."""
        return not self.errors

    def as_dict(self) -> dict:
        """Return the report, without the built policy, as a JSON-serialisable dict."""
        return {
            "world_id": self.world_id,
            "directory": self.directory,
            "valid": self.is_valid,
            "axes": list(self.axes),
            "ordering": self.ordering,
            "thresholds": self.thresholds,
            "missing": list(self.missing),
            "errors": [issue.as_dict() for issue in self.errors],
            "warnings": [issue.as_dict() for issue in self.warnings],
            "policy_hash": self.policy_hash,
            "version": self.version,
            "thresholds_version": self.thresholds_version,
        }

    def format_text(self) -> str:
        """Return a multi-line report for a terminal or a log."""
        if self.is_valid:
            status = "OK"
        else:
            status = _count(len(self.errors), "error")
        if self.warnings:
            status += f", {_count(len(self.warnings), 'warning')}"
        lines = [
            f"World: {self.world_id} ({self.directory})",
            f"Status: {status}",
            f"Version: {self.version} (thresholds {self.thresholds_version})",
            f"Hash: {self.policy_hash[:12] if self.policy_hash else None}",
            "Axes:" if self.axes else "Axes: none",
        ]
        for name in self.axes:
            ordering = self.ordering.get(name)
            if ordering is None:
                lines.append(f"  {name}: no ordering")
            else:
                values = ordering["values"]
                shown = ", ".join(map(str, values)) if isinstance(values, list) else values
                lines.append(f"  {name}: {ordering['type']} ({shown})")
        lines.append("Missing: " + (", ".join(self.missing) if self.missing else "none"))
        for title, issues in (("Errors", self.errors), ("Warnings", self.warnings)):
            if issues:
                lines.append(f"{title}:")
                lines.extend(f"  {issue}" for issue in issues)
        return "\n".join(lines)


def load_world_policy(world_dir: str | os.PathLike, world_id: str | None = None) -> PolicyReport:
    """Load, validate and hash the policy files of one world.

    Bad content and missing or unreadable files never raise: each becomes an error in the
    report, and every problem is reported, not only the first.

    Args:
        world_dir: The world's directory, holding ``policies/axes.yaml`` and
            ``policies/thresholds.yaml``.
        world_id: The world's id; defaults to the directory's name.

    Returns:
        The report, with errors ordered by file then by position in the file, and a
        ``WorldPolicy`` in ``policy`` when there are no errors.
    """
    directory = Path(world_dir)
    if world_id is None:
        # abspath, not resolve: "." must name the directory without following symlinks.
        world_id = Path(os.path.abspath(directory)).name
    collector = _Collector()
    axes_source = _read_source(directory / POLICIES_DIR / AXES_FILE, collector)
    thresholds_source = _read_source(directory / POLICIES_DIR / THRESHOLDS_FILE, collector)

    version, axes = _check_top_level(axes_source, collector, require_axes=True)
    thresholds_version, threshold_axes = _check_top_level(
        thresholds_source, collector, require_axes=False
    )
    if version is not None and thresholds_version is not None and version != thresholds_version:
        message = POLICY_VERSION_MISMATCH.format(version=thresholds_version, axes_version=version)
        collector.warn(thresholds_source, ("version",), message)

    definitions = None
    if axes is not None:
        definitions = {
            str(name): _check_axis(axes_source, str(name), entry, collector)
            for name, entry in axes.items()
        }
    bands = _check_thresholds(thresholds_source, threshold_axes, definitions, collector)

    policy_hash = None
    if axes_source.parsed and thresholds_source.parsed:
        policy_hash = policy_content_hash(axes_source.data, thresholds_source.data)

    rank = {axes_source.file: 0, thresholds_source.file: 1}

    def position(issue: PolicyIssue) -> tuple[int, int]:
        return rank[issue.file], issue.line or 0

    # sorted() is stable, so issues on one line keep the order in which they were found.
    errors = tuple(sorted(collector.errors, key=position))
    policy = None
    if not errors:
        policy = _build_policy(world_id, version, policy_hash, definitions, bands)
    return PolicyReport(
        world_id=world_id,
        directory=str(directory),
        axes=tuple(sorted(definitions or ())),
        ordering=_report_ordering(axes),
        thresholds=_report_thresholds(threshold_axes),
        missing=tuple(collector.missing),
        errors=errors,
        warnings=tuple(sorted(collector.warnings, key=position)),
        policy_hash=policy_hash,
        version=version,
        thresholds_version=thresholds_version,
        policy=policy,
    )


def discover_worlds(worlds_dir: str | os.PathLike) -> list[str]:
    """Return the names of the worlds under ``worlds_dir``.

    Args:
        worlds_dir: The directory holding one sub-directory per world.

    Returns:
        The sorted names of sub-directories that contain a ``policies`` directory, or an
        empty list if ``worlds_dir`` does not exist.
    """
    root = Path(worlds_dir)
    if not root.is_dir():
        return []
    return sorted(child.name for child in root.iterdir() if (child / POLICIES_DIR).is_dir())


def policy_content_hash(axes_data: object, thresholds_data: object) -> str:
    """Return the SHA-256 hex digest of the parsed policy content in canonical form.

    The hash covers data, not text: comments, key order, whitespace, flow or block style
    and ``0`` versus ``0.0`` do not change it, so the sync can skip unchanged worlds.

    Args:
        axes_data: The parsed content of ``axes.yaml``.
        thresholds_data: The parsed content of ``thresholds.yaml``.

    Returns:
        64 lowercase hex characters.
    """
    canonical = json.dumps(
        _canonical({"axes": axes_data, "thresholds": thresholds_data}),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass
class _Source:
    """One policy file: its parsed data and the 1-based line of every key path."""

    file: str
    data: object = None
    parsed: bool = False
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)

    def issue(self, path: tuple[str, ...], message: str) -> PolicyIssue:
        """Return an issue at ``path``, on the line of its nearest key that exists."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                break
        return PolicyIssue(self.file, ".".join(path), message, line)


@dataclass
class _Collector:
    """The errors, warnings and missing components found so far."""

    errors: list[PolicyIssue] = field(default_factory=list)
    warnings: list[PolicyIssue] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def error(self, source: _Source, path: tuple[str, ...], message: str) -> None:
        self.errors.append(source.issue(path, message))

    def warn(self, source: _Source, path: tuple[str, ...], message: str) -> None:
        self.warnings.append(source.issue(path, message))


@dataclass(frozen=True)
class _AxisDefinition:
    """What axes.yaml says about one axis; ``labels`` is None when unknown or invalid."""

    ordering_type: str | None
    labels: tuple[str, ...] | None
    default_score: float
    description: str


def _read_source(path: Path, collector: _Collector) -> _Source:
    """Read and parse one policy file, reporting why it cannot be used."""
    source = _Source(file=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        collector.error(source, (), POLICY_FILE_MISSING)
        collector.missing.append(path.name)
        return source
    except (OSError, UnicodeDecodeError) as exc:
        collector.error(source, (), POLICY_FILE_UNREADABLE.format(error=exc))
        collector.missing.append(path.name)
        return source
    try:
        # The reader checks characters as soon as it is built, so it belongs in the try.
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            # Index before constructing: construction flattens merge keys into the node
            # tree, which would make every overridden merged key look like a duplicate.
            if node is not None and not _index_node(node, (), source, collector, set()):
                return source
            source.data = None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        message = POLICY_MALFORMED_YAML.format(problem=problem)
        line = None if mark is None else mark.line + 1
        collector.errors.append(PolicyIssue(source.file, "", message, line))
        return source
    except RecursionError:
        # PyYAML composes nodes recursively, so absurd nesting exhausts the stack.
        collector.error(source, (), POLICY_YAML_TOO_DEEP)
        return source
    source.parsed = True
    if node is None:
        collector.error(source, (), POLICY_EMPTY_FILE)
    return source


def _index_node(
    node: yaml.Node,
    path: tuple[str, ...],
    source: _Source,
    collector: _Collector,
    active: set[int],
) -> bool:
    """Record the line of every key under ``node`` and report duplicate keys.

    Return False if an alias refers to a node that contains it: such a document
    constructs to a self-referencing structure that cannot be hashed.
    """
    if id(node) in active:
        collector.error(source, path, POLICY_RECURSIVE_ALIAS)
        return False
    if isinstance(node, yaml.ScalarNode):
        return True
    active.add(id(node))
    ok = True
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            # A complex key (a mapping or list) has no dotted path; its problems are
            # located at the enclosing mapping.
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            child = (*path, key_node.value)
            if (key_node.tag, key_node.value) in seen:
                collector.errors.append(
                    PolicyIssue(
                        source.file,
                        ".".join(child),
                        POLICY_DUPLICATE_KEY.format(key=key_node.value),
                        key_node.start_mark.line + 1,
                    )
                )
            seen.add((key_node.tag, key_node.value))
            source.lines[child] = key_node.start_mark.line + 1
            ok = _index_node(value_node, child, source, collector, active) and ok
    else:
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            source.lines[child] = item.start_mark.line + 1
            ok = _index_node(item, child, source, collector, active) and ok
    active.discard(id(node))
    if not path:
        source.lines[()] = node.start_mark.line + 1
    return ok


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
    ordering_type, ordering = _check_ordering(source, name, entry, collector)

    if ordering_type == "numeric":
        for key, container in (("values", entry), ("ordering.values", ordering)):
            value = container.get("values")
            if value is not None and value != []:
                message = POLICY_NUMERIC_WITH_VALUES.format(axis=name, key=key, value=value)
                collector.error(source, (*path, *key.split(".")), message)
        return _AxisDefinition("numeric", (), default_score, description)

    # With no usable ordering type, the labels' rules are unknown; checking them as
    # ordinal would bury the one real error under guesses.
    if ordering_type != "ordinal":
        return _AxisDefinition(None, None, default_score, description)
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
    return _AxisDefinition("ordinal", labels, default_score, description)


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


def _build_policy(
    world_id: str,
    version: str,
    policy_hash: str,
    definitions: dict[str, _AxisDefinition],
    bands: dict[str, dict[str, tuple[float, float]]],
) -> WorldPolicy:
    """Build the policy of files that produced no errors."""
    axes = []
    for name in sorted(definitions):
        definition = definitions[name]
        axis_bands = tuple(
            Band(label, ordinal, *bands[name][label])
            for ordinal, label in enumerate(definition.labels)
        )
        axes.append(
            AxisPolicy(
                name=name,
                ordering_type=definition.ordering_type,
                labels=definition.labels,
                bands=axis_bands,
                default_score=definition.default_score,
                description=definition.description,
            )
        )
    return WorldPolicy(world_id, version, policy_hash, tuple(axes))


def _report_ordering(axes: dict | None) -> dict:
    ordering = {}
    for name, entry in (axes or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("ordering"), dict):
            ordering[str(name)] = {
                "type": _canonical(entry["ordering"].get("type")),
                "values": _canonical(entry["ordering"].get("values", [])),
            }
    return dict(sorted(ordering.items()))


def _report_thresholds(threshold_axes: dict | None) -> dict:
    thresholds = {}
    for name, entry in (threshold_axes or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("values"), dict):
            thresholds[str(name)] = _canonical(entry["values"])
    return dict(sorted(thresholds.items()))


def _finite(value: object) -> float | None:
    """Return ``value`` as a float if it is a finite number (bools are not), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _canonical(value: object) -> object:
    """Return ``value`` as plain JSON data: ints as floats, string keys, sorted sets."""
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            # Too large for a float; the exact int still serialises deterministically.
            return value
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    # SafeLoader builds tuples for !!omap and !!pairs, and sets (unordered) for !!set.
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    if isinstance(value, set):
        return sorted(str(item) for item in value)
    # Dates, timestamps and !!binary bytes.
    return str(value)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
