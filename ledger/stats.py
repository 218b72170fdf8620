"""A world's population and its recent events, in numbers: what the people who tune it read.

Two reads, each a fixed number of queries whatever the size of the world or the ledger:

- ``world_distributions``: how the world's characters spread over each active axis (label
  counts, a 20-bin score histogram, mean, median, clamped ends). It reads the score
  table, so its cost grows with characters x axes, never with the ledger.
- ``window_statistics``: the events recorded inside a window (last 24 hours, 7 or 30 days,
  or all): per event type and axis the applied deltas, clamps and label crossings,
  crossings per day, and the top movers. It reaches the window's events through the
  index ``event_world_timestamp_idx`` (world, timestamp) and their deltas through the
  unique index on (event, character, axis), so its cost follows the window, not the
  ledger.

Labels are computed in SQL with the same rule as ``resolve_label`` (the band with the
greatest min not above the score; a score in a gap belongs to the band below it, one below
every band to the lowest), from the world's current bands: a crossing is a delta whose old
and new scores carry different labels under today's policy.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import fmean

from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When, Window
from django.db.models.functions import Abs, RowNumber, TruncDate
from django.utils import timezone

from axes.models import CharacterAxisScore
from axes.registry import RegisteredAxis, WorldRegistry, get_world_registry
from axes.scoring import quantize_score
from ledger.models import EventEntityAxisDelta
from worlds.models import World

WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "all": None,
}
DEFAULT_WINDOW = "7d"
HISTOGRAM_BINS = 20
TOP_MOVERS = 10
STATS_UNKNOWN_WINDOW = "window must be one of {choices}, not {value!r}"


CLAMPED = Q(new_score__gte=1.0, requested_delta__gt=F("delta")) | Q(
    new_score__lte=0.0, requested_delta__lt=F("delta")
)
"""Deltas cut at 0 or 1 (``axes.scoring.was_clamped``, in SQL)."""


def parse_window(value: str | None) -> str:
    """Return a window name, the default for None or "".

    Raises:
        ValueError: ``value`` is not one of ``WINDOWS`` (message ``STATS_UNKNOWN_WINDOW``).
    """
    if not value:
        return DEFAULT_WINDOW
    if value not in WINDOWS:
        raise ValueError(STATS_UNKNOWN_WINDOW.format(choices=", ".join(WINDOWS), value=value))
    return value


def histogram_edges() -> list[float]:
    """Return the lower edge of each histogram bin: bin i holds [i/20, (i+1)/20), the last 1.0."""
    return [index / HISTOGRAM_BINS for index in range(HISTOGRAM_BINS)]


def band_ordinal(axes: list[RegisteredAxis], score: str) -> Case:
    """Return the SQL ordinal of ``score``'s label on its row's axis (NULL: no labels).

    One CASE over the rows' ``axis_id``: a band is the greatest min not above the score
    (``resolve_label``), so the bands are tried from the top down and the lowest band
    takes whatever is left, gaps and scores below every band included.
    """
    branches = [
        When(axis_id=axis.id, then=_ordinal_case(axis, score)) for axis in axes if axis.labels
    ]
    return Case(*branches, default=Value(None), output_field=IntegerField())


def _ordinal_case(axis: RegisteredAxis, score: str) -> Case:
    upper = [
        When(**{f"{score}__gte": low}, then=Value(ordinal))
        for ordinal, low in reversed(list(enumerate(axis.mins)))
        if ordinal > 0
    ]
    return Case(*upper, default=Value(0), output_field=IntegerField())


def _bin_case(score: str) -> Case:
    edges = histogram_edges()
    return Case(
        *(
            When(**{f"{score}__gte": edges[index]}, then=Value(index))
            for index in reversed(range(1, HISTOGRAM_BINS))
        ),
        default=Value(0),
        output_field=IntegerField(),
    )


# Distributions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelCount:
    label: str
    ordinal: int
    min_score: float
    below: float | None
    """The next band's min (None for the top band): the band holds [min_score, below)."""
    count: int
    share: float


@dataclass(frozen=True)
class AxisDistribution:
    """How a world's characters spread over one active axis."""

    axis_id: int
    name: str
    characters: int
    labels: list[LabelCount]
    """Every label in ordinal order, zero counts included; empty on a numeric axis."""
    histogram: list[int]
    mean: float | None
    median: float | None
    at_zero: int
    at_one: int


def world_distributions(
    world: World, *, registry: WorldRegistry | None = None
) -> list[AxisDistribution]:
    """Return the distribution of every active axis of ``world``, in name order.

    Two queries for the whole world: one groups the scores by axis, label and histogram
    bin; one picks each axis's middle scores for the median (window functions, so every
    engine computes it the same way).
    """
    registry = registry or get_world_registry(world)
    axes = registry.active_axes
    # No default ordering: the model's orders by axis, which joins the axis and world tables.
    scores = CharacterAxisScore.objects.filter(
        world=world, axis_id__in=[a.id for a in axes]
    ).order_by()
    grouped = (
        scores.annotate(band=band_ordinal(axes, "axis_score"), bin=_bin_case("axis_score"))
        .values("axis_id", "band", "bin")
        .annotate(
            count=Count("id"),
            total=Sum("axis_score"),
            zero=Count("id", filter=Q(axis_score__lte=0.0)),
            one=Count("id", filter=Q(axis_score__gte=1.0)),
        )
        .order_by()
    )
    counts: dict[int, dict] = defaultdict(
        lambda: {
            "labels": defaultdict(int),
            "bins": [0] * HISTOGRAM_BINS,
            "count": 0,
            "total": 0.0,
            "zero": 0,
            "one": 0,
        }
    )
    for row in grouped:
        axis = counts[row["axis_id"]]
        if row["band"] is not None:
            axis["labels"][row["band"]] += row["count"]
        axis["bins"][row["bin"]] += row["count"]
        axis["count"] += row["count"]
        axis["total"] += row["total"]
        axis["zero"] += row["zero"]
        axis["one"] += row["one"]
    medians = _medians(scores)
    result = []
    for axis in axes:
        found = counts[axis.id]
        total = found["count"]
        labels = [
            LabelCount(
                label=label,
                ordinal=ordinal,
                min_score=axis.mins[ordinal],
                below=axis.mins[ordinal + 1] if ordinal + 1 < len(axis.mins) else None,
                count=found["labels"][ordinal],
                share=quantize_score(found["labels"][ordinal] / total) if total else 0.0,
            )
            for ordinal, label in enumerate(axis.labels)
        ]
        result.append(
            AxisDistribution(
                axis_id=axis.id,
                name=axis.name,
                characters=total,
                labels=labels,
                histogram=found["bins"],
                mean=quantize_score(found["total"] / total) if total else None,
                median=medians.get(axis.id),
                at_zero=found["zero"],
                at_one=found["one"],
            )
        )
    return result


def _medians(scores) -> dict[int, float]:
    """Return each axis's median score: the middle one, or the mean of the middle two."""
    ranked = scores.annotate(
        position=Window(RowNumber(), partition_by=F("axis_id"), order_by=F("axis_score").asc()),
        size=Window(Count("id"), partition_by=F("axis_id")),
    ).filter(
        # Integer division on both engines: rows (n + 1) / 2 and (n + 2) / 2, 1-based.
        position__gte=(F("size") + 1) / 2,
        position__lte=(F("size") + 2) / 2,
    )
    middles: dict[int, list[float]] = defaultdict(list)
    for axis_id, score in ranked.values_list("axis_id", "axis_score"):
        middles[axis_id].append(score)
    return {axis_id: quantize_score(fmean(values)) for axis_id, values in middles.items()}


# Window statistics --------------------------------------------------------------------


@dataclass(frozen=True)
class EventCounts:
    """How many events hold the deltas of each count of a ``TypeAxisImpact``."""

    deltas: int
    clamped: int
    up: int
    down: int


@dataclass(frozen=True)
class TypeAxisImpact:
    """What one event type did to one axis in the window (counts are of deltas)."""

    axis_id: int
    axis: str
    retired: bool
    deltas: int
    total: float
    mean: float
    clamped: int
    crossings_up: int
    crossings_down: int
    events: EventCounts

    @property
    def clamped_share(self) -> float:
        return self.clamped / self.deltas if self.deltas else 0.0


@dataclass(frozen=True)
class TypeImpact:
    """One event type's events in the window, and what they did per axis."""

    event_type: str
    events: int
    characters: int
    axes: list[TypeAxisImpact]


@dataclass(frozen=True)
class Mover:
    character_id: int
    name: str
    change: float
    """The net change of the window: the sum of the applied deltas."""
    deltas: int


@dataclass(frozen=True)
class DayCrossings:
    day: date
    up: int
    down: int
    up_events: int
    down_events: int


@dataclass(frozen=True)
class AxisWindow:
    """One axis over the window: its top movers and its label crossings per day."""

    axis_id: int
    name: str
    retired: bool
    movers: list[Mover]
    days: list[DayCrossings]
    """Every day of the window (of the events, for "all") in order, zero days included."""


@dataclass
class WindowStatistics:
    window: str
    since: datetime | None
    """The window's start (None for "all"); its end is ``until``, when it was read."""
    until: datetime
    events: int
    types: list[TypeImpact] = field(default_factory=list)
    axes: list[AxisWindow] = field(default_factory=list)


def window_statistics(
    world: World, *, window: str = DEFAULT_WINDOW, registry: WorldRegistry | None = None
) -> WindowStatistics:
    """Return the event-type impact, crossings per day and top movers of a window.

    Four queries over the window's deltas, whatever the size of the ledger (see the
    module docstring for the indexes they use).
    """
    registry = registry or get_world_registry(world)
    until = timezone.now()
    span = WINDOWS[window]
    since = None if span is None else until - span
    axes = sorted(registry.by_id.values(), key=lambda a: (not a.is_active, a.name))
    # Half-open [since, until), as the event list the page links to filters it.
    deltas = EventEntityAxisDelta.objects.filter(event__world=world, event__timestamp__lt=until)
    if since is not None:
        deltas = deltas.filter(event__timestamp__gte=since)
    deltas = deltas.annotate(
        old_band=band_ordinal(axes, "old_score"), new_band=band_ordinal(axes, "new_score")
    ).order_by()

    per_type = list(
        deltas.values("event__event_type__name").annotate(
            events=Count("event_id", distinct=True),
            characters=Count("character_id", distinct=True),
        )
    )
    up, down = Q(new_band__gt=F("old_band")), Q(new_band__lt=F("old_band"))
    # Each count of deltas comes with the count of the events holding them: the event
    # list the page links each number to lists events.
    per_type_axis = deltas.values("event__event_type__name", "axis_id").annotate(
        count=Count("id"),
        events=Count("event_id", distinct=True),
        total=Sum("delta"),
        clamped=Count("id", filter=CLAMPED),
        clamped_events=Count("event_id", distinct=True, filter=CLAMPED),
        up=Count("id", filter=up),
        up_events=Count("event_id", distinct=True, filter=up),
        down=Count("id", filter=down),
        down_events=Count("event_id", distinct=True, filter=down),
    )
    per_day = (
        deltas.filter(~Q(new_band=F("old_band")))
        .annotate(day=TruncDate("event__timestamp"))
        .values("axis_id", "day")
        .annotate(
            up=Count("id", filter=up),
            up_events=Count("event_id", distinct=True, filter=up),
            down=Count("id", filter=down),
            down_events=Count("event_id", distinct=True, filter=down),
        )
    )
    movers = (
        deltas.values("axis_id", "character_id", "character__name")
        .annotate(change=Sum("delta"), count=Count("id"))
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("axis_id"),
                order_by=[Abs(F("change")).desc(), F("character_id").asc()],
            )
        )
        .filter(rank__lte=TOP_MOVERS)
    )

    impacts: dict[int, list[TypeAxisImpact]] = defaultdict(list)
    for row in per_type_axis:
        axis = registry.by_id[row["axis_id"]]
        impacts[row["event__event_type__name"]].append(
            TypeAxisImpact(
                axis_id=axis.id,
                axis=axis.name,
                retired=not axis.is_active,
                deltas=row["count"],
                total=quantize_score(row["total"]),
                mean=quantize_score(row["total"] / row["count"]),
                clamped=row["clamped"],
                crossings_up=row["up"],
                crossings_down=row["down"],
                events=EventCounts(
                    deltas=row["events"],
                    clamped=row["clamped_events"],
                    up=row["up_events"],
                    down=row["down_events"],
                ),
            )
        )
    stats = WindowStatistics(window=window, since=since, until=until, events=0)
    for row in sorted(per_type, key=lambda r: (-r["events"], r["event__event_type__name"])):
        name = row["event__event_type__name"]
        stats.events += row["events"]
        stats.types.append(
            TypeImpact(
                event_type=name,
                events=row["events"],
                characters=row["characters"],
                axes=sorted(impacts[name], key=lambda i: (i.retired, i.axis)),
            )
        )

    top: dict[int, list[Mover]] = defaultdict(list)
    for row in movers.order_by("axis_id", "rank"):
        change = quantize_score(row["change"])
        if change == 0:
            continue  # ranked by size, so only ones that did not move follow
        top[row["axis_id"]].append(
            Mover(
                character_id=row["character_id"],
                name=row["character__name"],
                change=change,
                deltas=row["count"],
            )
        )
    crossings: dict[int, dict[date, DayCrossings]] = defaultdict(dict)
    for row in per_day:
        crossings[row["axis_id"]][row["day"]] = DayCrossings(
            day=row["day"],
            up=row["up"],
            down=row["down"],
            up_events=row["up_events"],
            down_events=row["down_events"],
        )
    days = _days(since, until, [day for axis_days in crossings.values() for day in axis_days])
    for axis in axes:
        if not axis.is_active and axis.id not in top:
            continue  # a retired axis the window never touched
        stats.axes.append(
            AxisWindow(
                axis_id=axis.id,
                name=axis.name,
                retired=not axis.is_active,
                movers=top[axis.id],
                days=[crossings[axis.id].get(day, DayCrossings(day, 0, 0, 0, 0)) for day in days],
            )
        )
    return stats


def _days(since: datetime | None, until: datetime, seen: list[date]) -> list[date]:
    """Return every day from the window's start (or the first crossing) to its end."""
    tz = timezone.get_current_timezone()
    last = timezone.localtime(until, tz).date()
    if since is not None:
        first = timezone.localtime(since, tz).date()
    elif seen:
        first = min(seen)
    else:
        return []
    first = min([first, *seen])
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
