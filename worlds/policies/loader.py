"""Find the worlds on disk and turn one world's policy files into a ``PolicyReport``."""

import os
from functools import lru_cache
from pathlib import Path

from worlds.policies.hashing import _canonical, policy_content_hash
from worlds.policies.results import AxisPolicy, Band, PolicyIssue, PolicyReport, WorldPolicy
from worlds.policies.validation import (
    _AxisDefinition,
    _check_axis,
    _check_thresholds,
    _check_top_level,
)
from worlds.policies.yaml_source import _Collector, _read_bytes, _read_source

AXES_FILE = "axes.yaml"
THRESHOLDS_FILE = "thresholds.yaml"
POLICIES_DIR = "policies"

# Reports kept per process, by world and file content (a few worlds, each a few versions).
REPORT_CACHE_SIZE = 256

# Warnings.
POLICY_VERSION_MISMATCH = "version {version!r} differs from axes.yaml version {axes_version!r}"


def load_world_policy(world_dir: str | os.PathLike, world_id: str | None = None) -> PolicyReport:
    """Load, validate and hash the policy files of one world.

    Bad content and missing or unreadable files never raise: each becomes an error in the
    report, and every problem is reported, not only the first. The files are read on
    every call, and parsed once per process and content: the system checks, the admin
    and the API ask for the same reports over and over. Treat reports as read-only.

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
    files = directory / POLICIES_DIR / AXES_FILE, directory / POLICIES_DIR / THRESHOLDS_FILE
    contents = tuple(_read_bytes(path) for path in files)
    if any(isinstance(content, OSError) for content in contents):
        return _load(world_id, directory, files, contents)
    return _load_cached(world_id, directory, files, contents)


@lru_cache(maxsize=REPORT_CACHE_SIZE)
def _load_cached(world_id: str, directory: Path, files, contents) -> PolicyReport:
    return _load(world_id, directory, files, contents)


def _load(world_id: str, directory: Path, files, contents) -> PolicyReport:
    """Validate and hash the two files' contents into the world's report."""
    collector = _Collector()
    axes_source = _read_source(files[0], contents[0], collector)
    thresholds_source = _read_source(files[1], contents[1], collector)

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
                drift=definition.drift,
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
