"""The world page's tuning panels: the population per axis and the events of a window.

``tuning_panels`` turns ``ledger.stats`` into what the template draws: server-rendered SVG
charts (label bars, a score histogram with the band edges, label crossings per day) whose
geometry is computed here, and a link on every number to the event or character list
that makes it up. The panels cost the fixed queries of ``ledger.stats``, whatever the
size of the world or the ledger.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from axes.registry import RegisteredAxis, get_world_registry
from ledger.stats import (
    HISTOGRAM_BINS,
    WINDOWS,
    AxisDistribution,
    AxisWindow,
    WindowStatistics,
    histogram_edges,
    window_statistics,
    world_distributions,
)
from worlds.admin.inspector import format_score, format_signed
from worlds.models import World

WINDOW_NAMES = {
    "24h": "the last 24 hours",
    "7d": "the last 7 days",
    "30d": "the last 30 days",
    "all": "all recorded time",
}
# The charts' SVG viewBoxes (scaled to the cell's width by CSS).
BARS_WIDTH = 360
BARS_LEFT = 96
BARS_RIGHT = 86
BARS_ROW = 18
HISTOGRAM_WIDTH = 360
HISTOGRAM_HEIGHT = 96
HISTOGRAM_LEFT = 6
HISTOGRAM_TOP = 14
HISTOGRAM_BOTTOM = 14
DAYS_WIDTH = 360
DAYS_HEIGHT = 64
DAYS_LEFT = 6
DAY_MAX_WIDTH = 24  # a window of a few days still reads as days


def events_url(**params) -> str:
    return f"{reverse('admin:ledger_event_changelist')}?{urlencode(params)}"


def characters_url(**params) -> str:
    return f"{reverse('admin:worlds_character_changelist')}?{urlencode(params)}"


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


@dataclass(frozen=True)
class Bar:
    """One rectangle of a chart, its link and its tooltip."""

    x: float
    y: float
    width: float
    height: float
    url: str
    title: str
    css: str = ""


@dataclass(frozen=True)
class LabelBar:
    label: str
    count: int
    share: str
    bar: Bar
    text_y: float


@dataclass(frozen=True)
class Edge:
    x: float
    label: str


@dataclass(frozen=True)
class Figure:
    """A number of the panel and the list that makes it up."""

    value: str
    url: str
    title: str = ""
    """For a count of deltas: how many events hold them (the linked list lists events)."""


def _deltas_figure(count: int, events: int, url: str) -> Figure:
    return Figure(str(count), url, f"{count} delta(s) in {events} event(s), listed by the link")


@dataclass(frozen=True)
class DistributionPanel:
    name: str
    characters: int
    numeric: bool
    labels: list[LabelBar]
    bars_height: int
    histogram: list[Bar]
    edges: list[Edge]
    mean: str
    median: str
    scored_url: str
    """The characters the distribution counts: every one with a score on the axis."""
    at_zero: Figure
    at_one: Figure


@dataclass(frozen=True)
class AxisImpactRow:
    axis: str
    retired: bool
    deltas: Figure
    total: str
    mean: str
    clamped: Figure
    clamped_share: str
    up: Figure
    down: Figure


@dataclass(frozen=True)
class TypeRow:
    event_type: str
    events: Figure
    characters: Figure
    axes: list[AxisImpactRow]


@dataclass(frozen=True)
class MoverRow:
    name: str
    url: str
    change: str
    deltas: int


@dataclass(frozen=True)
class AxisWindowPanel:
    name: str
    retired: bool
    movers: list[MoverRow]
    days: list[Bar]
    first_day: str
    last_day: str
    up: int
    down: int


@dataclass(frozen=True)
class TuningPanels:
    window: str
    window_name: str
    windows: list[tuple[str, str, bool]]
    """(name, description, selected) of every window, for the window switcher."""
    since: datetime | None
    until: datetime
    events: Figure
    distributions: list[DistributionPanel]
    types: list[TypeRow]
    axes: list[AxisWindowPanel]
    geometry: dict


def tuning_panels(world: World, *, window: str) -> TuningPanels:
    """Return the world page's tuning panels for ``window`` (a name of ``WINDOWS``)."""
    registry = get_world_registry(world)
    stats = window_statistics(world, window=window, registry=registry)
    in_window = _window_params(stats)
    return TuningPanels(
        window=window,
        window_name=WINDOW_NAMES[window],
        windows=[(name, WINDOW_NAMES[name], name == window) for name in WINDOWS],
        since=stats.since,
        until=stats.until,
        events=Figure(
            str(stats.events), events_url(**{"world__world_id__exact": world.pk, **in_window})
        ),
        distributions=[
            _distribution_panel(world, distribution, registry.by_id[distribution.axis_id])
            for distribution in world_distributions(world, registry=registry)
        ],
        types=_type_rows(world, stats, in_window),
        axes=[_axis_window_panel(world, axis, stats) for axis in stats.axes],
        geometry={
            "bars_width": BARS_WIDTH,
            "bars_left": BARS_LEFT,
            "bars_plot": BARS_WIDTH - BARS_LEFT - BARS_RIGHT,
            "bars_text_x": BARS_WIDTH - BARS_RIGHT + 6,
            "histogram_width": HISTOGRAM_WIDTH,
            "histogram_height": HISTOGRAM_HEIGHT,
            "histogram_left": HISTOGRAM_LEFT,
            "histogram_top": HISTOGRAM_TOP,
            "histogram_base": HISTOGRAM_HEIGHT - HISTOGRAM_BOTTOM,
            "histogram_plot": HISTOGRAM_WIDTH - 2 * HISTOGRAM_LEFT,
            "days_width": DAYS_WIDTH,
            "days_height": DAYS_HEIGHT,
            "days_middle": DAYS_HEIGHT / 2,
            "days_plot": DAYS_WIDTH - 2 * DAYS_LEFT,
            "days_left": DAYS_LEFT,
        },
    )


def _window_params(stats: WindowStatistics) -> dict[str, str]:
    """Return the event list's parameters for the window's events (none for "all")."""
    params = {"recorded_until": stats.until.isoformat()}
    if stats.since is not None:
        params["recorded_since"] = stats.since.isoformat()
    return params


def _distribution_panel(
    world: World, distribution: AxisDistribution, axis: RegisteredAxis
) -> DistributionPanel:
    def scored(**bounds) -> str:
        return characters_url(**{"world__world_id__exact": world.pk, "axis": axis.id, **bounds})

    plot = BARS_WIDTH - BARS_LEFT - BARS_RIGHT
    labels = []
    for row, label in enumerate(distribution.labels):
        y = 2 + row * BARS_ROW
        bounds = {"score_gte": label.min_score if label.ordinal else 0.0}
        if label.below is None:
            bounds["score_lte"] = 1.0
        else:
            bounds["score_lt"] = label.below
        labels.append(
            LabelBar(
                label=label.label,
                count=label.count,
                share=_percent(label.share),
                text_y=y + 11,
                bar=Bar(
                    x=BARS_LEFT,
                    y=y,
                    width=round(max(label.share * plot, 0.0), 2),
                    height=BARS_ROW - 4,
                    url=scored(**bounds),
                    title=f"{label.label}: {label.count} character(s)",
                ),
            )
        )
    tallest = max(distribution.histogram) or 1
    width = (HISTOGRAM_WIDTH - 2 * HISTOGRAM_LEFT) / HISTOGRAM_BINS
    plot_height = HISTOGRAM_HEIGHT - HISTOGRAM_TOP - HISTOGRAM_BOTTOM
    base = HISTOGRAM_HEIGHT - HISTOGRAM_BOTTOM
    edges = histogram_edges()
    histogram = []
    for index, count in enumerate(distribution.histogram):
        height = round(count / tallest * plot_height, 2)
        low = edges[index]
        last = index == HISTOGRAM_BINS - 1
        high = 1.0 if last else edges[index + 1]
        bounds = {"score_gte": low, "score_lte" if last else "score_lt": high}
        histogram.append(
            Bar(
                x=round(HISTOGRAM_LEFT + index * width + 0.5, 2),
                y=round(base - height, 2),
                width=round(width - 1, 2),
                height=height,
                url=scored(**bounds),
                title=f"[{low:g}, {high:g}{']' if last else ')'}: {count} character(s)",
            )
        )
    band_edges = [
        Edge(x=round(HISTOGRAM_LEFT + low * (HISTOGRAM_WIDTH - 2 * HISTOGRAM_LEFT), 2), label=label)
        for low, label in zip(axis.mins, axis.labels, strict=True)
        if low > 0.0
    ]
    return DistributionPanel(
        name=distribution.name,
        characters=distribution.characters,
        numeric=not axis.labels,
        labels=labels,
        bars_height=2 + len(labels) * BARS_ROW,
        histogram=histogram,
        edges=band_edges,
        mean="—" if distribution.mean is None else format_score(distribution.mean),
        median="—" if distribution.median is None else format_score(distribution.median),
        scored_url=scored(),
        at_zero=Figure(str(distribution.at_zero), scored(score_lte=0.0)),
        at_one=Figure(str(distribution.at_one), scored(score_gte=1.0)),
    )


def _type_rows(world: World, stats: WindowStatistics, in_window: dict) -> list[TypeRow]:
    rows = []
    for impact in stats.types:
        of_type = {"world__world_id__exact": world.pk, "type": impact.event_type, **in_window}
        touched = {
            "touched_world": world.pk,
            "touched_type": impact.event_type,
            "touched_until": in_window["recorded_until"],
        }
        if "recorded_since" in in_window:
            touched["touched_since"] = in_window["recorded_since"]
        axes = []
        for axis in impact.axes:
            on_axis = {**of_type, "axis": axis.axis_id}
            axes.append(
                AxisImpactRow(
                    axis=axis.axis,
                    retired=axis.retired,
                    deltas=_deltas_figure(axis.deltas, axis.events.deltas, events_url(**on_axis)),
                    total=format_signed(axis.total),
                    mean=format_signed(axis.mean),
                    clamped=_deltas_figure(
                        axis.clamped,
                        axis.events.clamped,
                        events_url(**on_axis, change="clamped"),
                    ),
                    clamped_share=_percent(axis.clamped_share),
                    up=_deltas_figure(
                        axis.crossings_up, axis.events.up, events_url(**on_axis, change="up")
                    ),
                    down=_deltas_figure(
                        axis.crossings_down, axis.events.down, events_url(**on_axis, change="down")
                    ),
                )
            )
        rows.append(
            TypeRow(
                event_type=impact.event_type,
                events=Figure(str(impact.events), events_url(**of_type)),
                characters=Figure(
                    str(impact.characters),
                    characters_url(**{"world__world_id__exact": world.pk, **touched}),
                ),
                axes=axes,
            )
        )
    return rows


def _axis_window_panel(world: World, axis: AxisWindow, stats: WindowStatistics) -> AxisWindowPanel:
    movers = [
        MoverRow(
            name=mover.name,
            url=reverse("admin:worlds_character_change", args=[mover.character_id]),
            change=format_signed(mover.change),
            deltas=mover.deltas,
        )
        for mover in axis.movers
    ]
    tallest = max([max(day.up, day.down) for day in axis.days] or [0]) or 1
    half = DAYS_HEIGHT / 2 - 2
    width = min((DAYS_WIDTH - 2 * DAYS_LEFT) / max(len(axis.days), 1), DAY_MAX_WIDTH)
    bars = []
    for index, day in enumerate(axis.days):
        start = timezone.make_aware(
            datetime.combine(day.day, time()), timezone.get_current_timezone()
        )
        params = {
            "world__world_id__exact": world.pk,
            "axis": axis.axis_id,
            "recorded_since": max(start, stats.since or start).isoformat(),
            "recorded_until": min(start + timedelta(days=1), stats.until).isoformat(),
        }
        x = round(DAYS_LEFT + index * width, 2)
        for count, events, change in (
            (day.up, day.up_events, "up"),
            (day.down, day.down_events, "down"),
        ):
            if not count:
                continue
            height = round(max(count / tallest * half, 1.0), 2)
            y = DAYS_HEIGHT / 2 - height if change == "up" else DAYS_HEIGHT / 2
            bars.append(
                Bar(
                    x=x,
                    y=round(y, 2),
                    width=round(max(width - 1, 0.6), 2),
                    height=height,
                    url=events_url(**params, change=change),
                    title=f"{day.day:%Y-%m-%d}: {count} crossing(s) {change} in {events} event(s)",
                    css=f"pw-crossing-{change}",
                )
            )
    return AxisWindowPanel(
        name=axis.name,
        retired=axis.retired,
        movers=movers,
        days=bars,
        first_day=f"{axis.days[0].day:%Y-%m-%d}" if axis.days else "",
        last_day=f"{axis.days[-1].day:%Y-%m-%d}" if axis.days else "",
        up=sum(day.up for day in axis.days),
        down=sum(day.down for day in axis.days),
    )
