"""What a policy sync would do to a world's characters, computed before it runs.

A sync never rewrites a score, but it changes what the scores mean: moved band edges and
renamed labels give characters other labels, a new axis backfills everyone at its
default, a retired axis freezes its scores, a drift rule changes how fast they move.
``compute_policy_impact`` reads a ``WorldPlan`` (``worlds.services.plan``) and the
database and says how many characters each of those touches, and which ones, without
writing anything.

Labels follow ``worlds.policies.resolve_label`` (the band with the greatest min not above
the score, so a score in a gap belongs to the band below). The old and new band mins cut
[0, 1] into regions where neither label changes; the database counts the scores per
region (one ``GROUP BY`` of a ``CASE`` per axis) and, when some label moves, reads the
first characters of the regions that change (one ``LIMIT`` query). The number of queries
follows the number of axes, never the number of characters, and no score but those few
is loaded into Python.
"""

import math
import operator
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass
from functools import reduce

from django.db.models import Case, Count, IntegerField, Q, Value, When

from axes.models import Axis, AxisValue, CharacterAxisScore
from worlds.policies import Band, Drift, resolve_label
from worlds.services.plan import BackfillScores, WorldPlan
from worlds.services.sync import sync_world_policies

MAX_LABEL_MOVES = 20
"""How many of the characters that would change label an impact lists (the lowest ids)."""
SECONDS_PER_DAY = 86_400

IMPACT_NUMERIC = "numeric before and after: no labels, so no matrix"
IMPACT_BECOMES_NUMERIC = "ordinal before, numeric after: its labels are dropped, so no matrix"
IMPACT_BECOMES_ORDINAL = (
    "numeric before, ordinal after: its scores get labels for the first time, so no matrix"
)
IMPACT_DRIFT_ADDED = "added"
IMPACT_DRIFT_CHANGED = "changed"
IMPACT_DRIFT_REMOVED = "removed"


@dataclass(frozen=True)
class LabelMove:
    """One character whose label on an axis the sync would change."""

    character_id: int
    name: str
    score: float
    old_label: str
    new_label: str

    def as_dict(self) -> dict:
        return {
            "character_id": self.character_id,
            "name": self.name,
            "score": self.score,
            "old_label": self.old_label,
            "new_label": self.new_label,
        }


@dataclass(frozen=True)
class AxisLabelImpact:
    """How the labels of one axis present before and after the sync would move.

    ``matrix`` holds the non-zero cells ``(old label, new label, count)`` in ordinal
    order; the diagonal of a rename is empty (a renamed label is another label), a
    moved edge puts some counts off the diagonal. A numeric axis on either side has no
    matrix, and ``note`` says why.
    """

    axis: str
    old_labels: tuple[str, ...]
    new_labels: tuple[str, ...]
    matrix: tuple[tuple[str, str, int], ...] = ()
    scores: int = 0
    changing: int = 0
    moves: tuple[LabelMove, ...] = ()
    note: str | None = None

    @property
    def grid(self) -> list[tuple[str, list[int]]]:
        """Return the matrix as rows: each old label with its count per new label."""
        counts = {(old, new): count for old, new, count in self.matrix}
        return [
            (old, [counts.get((old, new), 0) for new in self.new_labels]) for old in self.old_labels
        ]

    @property
    def table(self) -> list[tuple[str, list[tuple[str, int]]]]:
        """Return ``grid`` with each count beside its new label, for a page to mark moves."""
        return [(old, list(zip(self.new_labels, counts, strict=True))) for old, counts in self.grid]

    def as_dict(self) -> dict:
        return {
            "axis": self.axis,
            "old_labels": list(self.old_labels),
            "new_labels": list(self.new_labels),
            "matrix": [{"old": old, "new": new, "count": count} for old, new, count in self.matrix]
            if self.note is None
            else None,
            "scores": self.scores,
            "changing": self.changing,
            "characters": [move.as_dict() for move in self.moves],
            "note": self.note,
        }

    def describe(self) -> list[str]:
        if self.note is not None:
            return [f"axis {self.axis}: {self.note}"]
        lines = [f"axis {self.axis}: {self.changing} of {self.scores} score(s) change label"]
        header = ["old \\ new", *self.new_labels]
        rows = [[old, *map(str, counts)] for old, counts in self.grid]
        widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
        for row in [header, *rows]:
            cells = [row[0].ljust(widths[0])]
            cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
            lines.append("  " + "  ".join(cells).rstrip())
        if self.moves:
            shown = len(self.moves)
            more = f" (the first {shown} by id)" if self.changing > shown else ""
            lines.append(f"  changing label{more}:")
            lines += [
                f"    #{m.character_id} {m.name} ({m.score:g}): {m.old_label} -> {m.new_label}"
                for m in self.moves
            ]
        return lines


@dataclass(frozen=True)
class AxisAdded:
    """An axis the sync creates, or reactivates after it was retired."""

    axis: str
    reactivated: bool
    backfilled: int
    """Characters given a score row, through the backfill event."""
    score: float
    """The score they get: the axis default."""
    kept: int = 0
    """Scores a reactivated axis kept from before its retirement; they move again."""

    def as_dict(self) -> dict:
        return {
            "axis": self.axis,
            "reactivated": self.reactivated,
            "backfilled": self.backfilled,
            "score": self.score,
            "kept": self.kept,
        }

    def describe(self) -> list[str]:
        verb = "reactivated" if self.reactivated else "added"
        line = (
            f"axis {self.axis} {verb}: {self.backfilled} character(s) backfilled at {self.score:g}"
        )
        if self.reactivated:
            line += f"; {self.kept} kept score(s) move again"
        return [line]


@dataclass(frozen=True)
class AxisRetired:
    """An axis that leaves the files: its scores stay, and stop moving."""

    axis: str
    scores: int

    def as_dict(self) -> dict:
        return {"axis": self.axis, "scores": self.scores}

    def describe(self) -> list[str]:
        return [f"axis {self.axis} retired: {self.scores} score(s) stop moving"]


@dataclass(frozen=True)
class DriftChange:
    """A drift rule added, changed or removed, with the characters it moves before and after.

    A character is moved by a rule when its score is not already where the rule stops it:
    at ``toward``, or without one at the end the rule runs to (1 for a positive rate, 0
    for a negative one). Backfilled characters count at the score they get.
    """

    axis: str
    change: str
    before: Drift | None
    after: Drift | None
    characters_before: int
    characters_after: int

    @property
    def per_day_before(self) -> float | None:
        return per_day(self.before)

    @property
    def per_day_after(self) -> float | None:
        return per_day(self.after)

    @property
    def per_day_text(self) -> str:
        """Return the change per day before and after, as ``none -> +0.24``."""
        return f"{_signed(self.per_day_before)} -> {_signed(self.per_day_after)}"

    def as_dict(self) -> dict:
        return {
            "axis": self.axis,
            "change": self.change,
            "before": _drift_dict(self.before),
            "after": _drift_dict(self.after),
            "per_day_before": self.per_day_before,
            "per_day_after": self.per_day_after,
            "characters_before": self.characters_before,
            "characters_after": self.characters_after,
        }

    def describe(self) -> list[str]:
        return [
            f"drift on {self.axis} {self.change}: {_rule(self.before)} -> {_rule(self.after)}; "
            f"per day {self.per_day_text}; "
            f"moves {self.characters_before} -> {self.characters_after} character(s)"
        ]


@dataclass(frozen=True)
class PolicyImpact:
    """What syncing one world's files would do to its characters."""

    world_id: str
    new_world: bool
    characters: int
    labels: tuple[AxisLabelImpact, ...] = ()
    added: tuple[AxisAdded, ...] = ()
    retired: tuple[AxisRetired, ...] = ()
    drift: tuple[DriftChange, ...] = ()

    @property
    def changing(self) -> int:
        """Return how many (character, axis) labels change, over every axis."""
        return sum(axis.changing for axis in self.labels)

    def as_dict(self) -> dict:
        """Return the impact as a JSON-serialisable dict."""
        return {
            "world_id": self.world_id,
            "new_world": self.new_world,
            "characters": self.characters,
            "labels": [axis.as_dict() for axis in self.labels],
            "added_axes": [axis.as_dict() for axis in self.added],
            "retired_axes": [axis.as_dict() for axis in self.retired],
            "drift": [change.as_dict() for change in self.drift],
        }

    def describe(self) -> list[str]:
        """Return the impact for a terminal, one line per fact (tables indented)."""
        lines = [f"impact on {self.characters} character(s):"]
        for part in (*self.labels, *self.added, *self.retired, *self.drift):
            lines += [f"  {line}" for line in part.describe()]
        return lines


@dataclass(frozen=True)
class SyncPreview:
    """A dry-run sync with the impact of each changed world (None for unchanged ones)."""

    plans: list[WorldPlan]
    impacts: dict[str, PolicyImpact | None]

    @property
    def changed(self) -> bool:
        return any(plan.changed for plan in self.plans)


def preview_policy_sync(*, world_ids: list[str] | None = None) -> SyncPreview:
    """Plan a sync without writing and compute what it would do to the characters.

    Args:
        world_ids: Worlds to preview; default every world under ``PIPEWORKS_WORLDS_DIR``.

    Raises:
        PolicySyncError: A selected world is unknown or its policy has errors, as
            ``sync_world_policies`` raises it.

    Returns:
        Each selected world's plan and, for the changed ones, its impact.
    """
    result = sync_world_policies(world_ids=world_ids, dry_run=True)
    return SyncPreview(
        plans=result.plans,
        impacts={plan.world_id: compute_policy_impact(plan=plan) for plan in result.plans},
    )


def compute_policy_impact(*, plan: WorldPlan) -> PolicyImpact | None:
    """Return what carrying out ``plan`` would do to its world's characters; read only.

    The registry is read afresh (the plan holds its differences, not its bands); labels
    are resolved by the database from the old and new band mins, a bounded number of
    queries per axis whatever the number of characters.

    Args:
        plan: A plan made by ``sync_world_policies`` (a dry run's, typically).

    Returns:
        The impact, or None when the plan changes nothing (the files are synced).
    """
    if not plan.changed:
        return None
    policy = plan.report.policy
    wanted = {axis.name: axis for axis in policy.axes}
    registry = (
        {axis.name: axis for axis in Axis.objects.filter(world_id=plan.world_id)}
        if plan.world_exists
        else {}
    )
    active = {name: axis for name, axis in registry.items() if axis.is_active}
    backfill = next((step for step in plan.steps if isinstance(step, BackfillScores)), None)
    backfilled = Counter(
        name for axes in (backfill.defaults.values() if backfill else ()) for name in axes
    )

    bands = _registry_mins([axis.pk for name, axis in active.items() if name in wanted])
    labels = tuple(
        _label_impact(axis=active[name], old=bands.get(active[name].pk, []), new=wanted[name].bands)
        for name in sorted(wanted.keys() & active.keys())
    )

    added_names = sorted(wanted.keys() - active.keys())
    retired_names = sorted(active.keys() - wanted.keys())
    counted = [registry[name].pk for name in added_names if name in registry]
    counted += [active[name].pk for name in retired_names]
    scores = _score_counts(counted)
    added = tuple(
        AxisAdded(
            axis=name,
            reactivated=name in registry,
            backfilled=backfilled[name],
            score=wanted[name].default_score,
            kept=scores.get(registry[name].pk, 0) if name in registry else 0,
        )
        for name in added_names
    )
    retired = tuple(
        AxisRetired(axis=name, scores=scores.get(active[name].pk, 0)) for name in retired_names
    )

    drift = []
    for name in sorted(wanted.keys() | active.keys()):
        before = active[name].drift if name in active else None
        after = wanted[name].drift if name in wanted else None
        if before == after:
            continue
        axis = registry.get(name)
        moved_before, moved_after = _drift_counts(
            axis_id=axis.pk if axis is not None else None, before=before, after=after
        )
        if after is not None and moves(after, wanted[name].default_score):
            moved_after += backfilled[name]
        change = (
            IMPACT_DRIFT_ADDED
            if before is None
            else IMPACT_DRIFT_REMOVED
            if after is None
            else IMPACT_DRIFT_CHANGED
        )
        drift.append(
            DriftChange(
                axis=name,
                change=change,
                before=before,
                after=after,
                characters_before=moved_before,
                characters_after=moved_after,
            )
        )
    return PolicyImpact(
        world_id=plan.world_id,
        new_world=not plan.world_exists,
        characters=plan.characters,
        labels=labels,
        added=added,
        retired=retired,
        drift=tuple(drift),
    )


def per_day(drift: Drift | None) -> float | None:
    """Return a rule's change per day in score units (``rate * 86400 / period``), or None.

    A rule with ``toward`` moves each score by ``|rate|`` in whichever direction reaches
    the target (``ledger.services.drift.drift_score``), so its sign says nothing: the
    figure is the size of the step, and a rule that only flips its sign changes nothing.
    """
    if drift is None:
        return None
    rate = abs(drift.rate) if drift.toward is not None else drift.rate
    return rate * SECONDS_PER_DAY / drift.period


def moves(drift: Drift, score: float) -> bool:
    """Return whether ``drift`` moves a score: it is not already where the rule stops it.

    A rate of 0 moves nothing.
    """
    if drift.rate == 0:
        return False
    if drift.toward is not None:
        return score != drift.toward
    return score < 1.0 if drift.rate > 0 else score > 0.0


def _moving(drift: Drift) -> Q:
    """The SQL condition of ``moves`` for a rule whose rate is not 0."""
    if drift.toward is not None:
        return ~Q(axis_score=drift.toward)
    return Q(axis_score__lt=1.0) if drift.rate > 0 else Q(axis_score__gt=0.0)


def _drift_counts(*, axis_id: int | None, before: Drift | None, after: Drift | None):
    """Return how many scores of the axis each rule moves, in one query (none when new)."""
    if axis_id is None:
        return 0, 0
    aggregates = {
        key: Count("pk", filter=_moving(rule))
        for key, rule in (("before", before), ("after", after))
        if rule is not None and rule.rate != 0
    }
    if not aggregates:
        return 0, 0
    counts = CharacterAxisScore.objects.filter(axis_id=axis_id).aggregate(**aggregates)
    return counts.get("before", 0), counts.get("after", 0)


def _registry_mins(axis_ids: list[int]) -> dict[int, list[tuple[str, float]]]:
    """Return each axis's bands as ``(label, min)`` in ordinal order (one query)."""
    bands: dict[int, list[tuple[str, float]]] = {}
    rows = (
        AxisValue.objects.filter(axis_id__in=axis_ids)
        .order_by("axis_id", "ordinal")
        .values_list("axis_id", "value", "min_score")
    )
    for axis_id, label, low in rows:
        bands.setdefault(axis_id, []).append((label, low))
    return bands


def _score_counts(axis_ids: list[int]) -> dict[int, int]:
    """Return the number of score rows of each axis (one query, none without axes)."""
    if not axis_ids:
        return {}
    rows = (
        CharacterAxisScore.objects.filter(axis_id__in=axis_ids)
        .order_by()
        .values("axis_id")
        .annotate(n=Count("pk"))
        .values_list("axis_id", "n")
    )
    return dict(rows)


@dataclass(frozen=True)
class _Region:
    """A score interval ``[low, high)`` in which neither the old nor the new label changes."""

    low: float
    high: float
    old_label: str
    new_label: str

    def condition(self) -> Q:
        """The SQL of ``low <= score < high``, an infinite end left out."""
        bounds = {}
        if self.low > -math.inf:
            bounds["axis_score__gte"] = self.low
        if self.high < math.inf:
            bounds["axis_score__lt"] = self.high
        return Q(**bounds)


def _regions(old: list[tuple[str, float]], new: tuple[Band, ...]) -> list[_Region]:
    """Cut [0, 1] at every band min of either side into regions of one (old, new) label pair.

    Each side's label is a step function of the score that steps only at its mins, so
    both are constant between consecutive mins of the two; a region's pair is the labels
    of its lowest score (``resolve_label``, hence the gap rule).
    """
    old_labels = tuple(label for label, _ in old)
    old_mins = tuple(low for _, low in old)
    new_labels = tuple(band.label for band in new)
    new_mins = tuple(band.min_score for band in new)
    edges = sorted({*old_mins[1:], *new_mins[1:]})
    lows = [-math.inf, *edges]
    highs = [*edges, math.inf]
    return [
        _Region(
            low=low,
            high=high,
            old_label=resolve_label(old_mins, old_labels, low),
            new_label=resolve_label(new_mins, new_labels, low),
        )
        for low, high in zip(lows, highs, strict=True)
    ]


def _region_case(regions: list[_Region]) -> Case:
    """The SQL that numbers a score's region: tried from the highest region down."""
    whens = [
        When(axis_score__gte=region.low, then=Value(index))
        for index, region in reversed(list(enumerate(regions)))
        if index > 0
    ]
    return Case(*whens, default=Value(0), output_field=IntegerField())


def _label_impact(*, axis: Axis, old: list[tuple[str, float]], new: tuple[Band, ...]):
    """Return the label matrix and first moves of one axis (two queries at most).

    One ``GROUP BY`` counts the scores per region (a single ``CASE``: two label
    expressions would differ only in their parameters, which PostgreSQL's server-side
    binding cannot group by); a second, only when some label moves, reads the first
    characters in the regions whose label changes.
    """
    old_labels = tuple(label for label, _ in old)
    new_labels = tuple(band.label for band in new)
    if not old or not new:
        note = (
            IMPACT_NUMERIC
            if not old and not new
            else IMPACT_BECOMES_NUMERIC
            if old
            else IMPACT_BECOMES_ORDINAL
        )
        return AxisLabelImpact(
            axis=axis.name, old_labels=old_labels, new_labels=new_labels, note=note
        )
    regions = _regions(old, new)
    scores = CharacterAxisScore.objects.filter(axis_id=axis.pk).order_by()
    counted = (
        scores.annotate(region=_region_case(regions))
        .values("region")
        .annotate(n=Count("pk"))
        .values_list("region", "n")
    )
    cells: Counter[tuple[str, str]] = Counter()
    for index, count in counted:
        cells[regions[index].old_label, regions[index].new_label] += count
    old_rank = {label: index for index, label in enumerate(old_labels)}
    new_rank = {label: index for index, label in enumerate(new_labels)}
    matrix = tuple(
        (old_label, new_label, cells[old_label, new_label])
        for old_label, new_label in sorted(cells, key=lambda c: (old_rank[c[0]], new_rank[c[1]]))
    )
    changing = sum(count for old_label, new_label, count in matrix if old_label != new_label)
    moves_ = ()
    if changing:
        moving = [region for region in regions if region.old_label != region.new_label]
        rows = (
            scores.filter(reduce(operator.or_, (region.condition() for region in moving)))
            .order_by("character_id")
            .values_list("character_id", "character__name", "axis_score")
        )[:MAX_LABEL_MOVES]
        region_of = _region_finder(regions)
        moves_ = tuple(
            LabelMove(
                character_id=character_id,
                name=name,
                score=score,
                old_label=region_of(score).old_label,
                new_label=region_of(score).new_label,
            )
            for character_id, name, score in rows
        )
    return AxisLabelImpact(
        axis=axis.name,
        old_labels=old_labels,
        new_labels=new_labels,
        matrix=matrix,
        scores=sum(count for _, _, count in matrix),
        changing=changing,
        moves=moves_,
    )


def _region_finder(regions: list[_Region]):
    lows = [region.low for region in regions]
    return lambda score: regions[bisect_right(lows, score) - 1]


def _drift_dict(drift: Drift | None) -> dict | None:
    if drift is None:
        return None
    return {
        "rate": drift.rate,
        "period": drift.period,
        "toward": drift.toward,
        "rule": drift.describe(),
    }


def _rule(drift: Drift | None) -> str:
    return "none" if drift is None else drift.describe()


def _signed(value: float | None) -> str:
    return "none" if value is None else f"{value:+g}"
