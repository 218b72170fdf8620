"""The frozen dataclasses that carry a loaded policy, and label resolution."""

from bisect import bisect_right
from dataclasses import dataclass, field


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
class Drift:
    """How an axis's score changes with time: ``rate`` per ``period`` seconds.

    Without ``toward`` the sign of ``rate`` is the direction and the score is clamped to
    [0, 1]; with it, the score moves by ``abs(rate)`` toward ``toward`` and stops there.
    ``rate`` and ``toward`` are whole multiples of 1e-6 (the scores' precision), so any
    number of periods applied at once equals the periods applied one by one.
    """

    rate: float
    period: int
    toward: float | None = None

    def describe(self) -> str:
        """Return the rule as a person reads it: ``+0.01 every 1d toward 0.5``."""
        text = f"{self.rate:+g} every {format_period(self.period)}"
        return text if self.toward is None else f"{text} toward {self.toward:g}"


PERIOD_UNITS = (("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def format_period(seconds: int) -> str:
    """Return ``seconds`` in the largest unit that divides it: 86400 -> ``1d``."""
    unit, size = next((unit, size) for unit, size in PERIOD_UNITS if seconds % size == 0)
    return f"{seconds // size}{unit}"


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
    drift: Drift | None = None
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


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
