"""The panels of the character page: axis state with band bars, events, score chart.

Each panel reads through the ledger selectors or one bounded query, so the page costs the
same number of queries for a character with three events or three million.
"""

from collections import defaultdict
from dataclasses import dataclass

from axes.registry import RegisteredAxis, WorldRegistry
from axes.scoring import was_clamped
from ledger.admin import actor_events_url
from ledger.models import EventEntityAxisDelta
from ledger.selectors import (
    get_character_state,
    get_character_state_as_of,
    list_character_events,
)
from worlds.admin.drift import drift_summary
from worlds.models import Character

INSPECTOR_EVENT_LIMIT = 50
CHART_DELTA_LIMIT = 500
# The chart's SVG viewBox: band labels on the left, the plot on the right.
CHART_WIDTH = 520
CHART_HEIGHT = 124
CHART_LEFT = 78
CHART_RIGHT = 8
CHART_TOP = 6
CHART_BOTTOM = 6


def format_score(value: float) -> str:
    """Format a score at its stored precision without trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def format_signed(value: float) -> str:
    """Format a change with its sign."""
    text = format_score(value)
    return text if text.startswith("-") or text == "0" else f"+{text}"


def format_percent(value: float) -> str:
    """Format a score in [0, 1] as a CSS percentage."""
    return f"{min(max(value, 0.0), 1.0) * 100:.3f}"


@dataclass(frozen=True)
class BandSegment:
    """One label band of an axis, placed on a bar in CSS percentages."""

    label: str
    left: str
    width: str
    low: str
    high: str
    current: bool


@dataclass(frozen=True)
class AxisRow:
    """One axis of the state panel: score, label, bands and where the score sits."""

    name: str
    score: str
    label: str | None
    marker: str
    segments: list[BandSegment]


@dataclass(frozen=True)
class AxisChart:
    """One axis of the score chart: a step line through its deltas, over its bands."""

    name: str
    retired: bool
    current: str
    label: str | None
    path: str
    points: list[dict]
    bands: list[dict]


def band_segments(axis: RegisteredAxis, score: float) -> list[BandSegment]:
    """Return the bands of an ordinal axis as bar segments; a gap belongs to the band below."""
    current = axis.label_for(score)
    segments = []
    for index, label in enumerate(axis.labels):
        low = axis.mins[index]
        high = axis.mins[index + 1] if index + 1 < len(axis.labels) else 1.0
        segments.append(
            BandSegment(
                label=label,
                left=format_percent(low),
                width=format_percent(high - low),
                low=format_score(low),
                high=format_score(axis.maxes[index]),
                current=label == current,
            )
        )
    return segments


def axis_rows(
    character: Character, registry: WorldRegistry, *, as_of: int | None = None
) -> list[AxisRow]:
    """Return the state panel's rows: from the scores, or folded from the ledger as of an event.

    Raises:
        AsOfError: ``as_of`` is not an event of the character's world and lifetime.
    """
    states = (
        get_character_state(character)
        if as_of is None
        else get_character_state_as_of(character, as_of)
    )
    rows = []
    for state in states:
        axis = registry.by_id[state.axis_id]
        rows.append(
            AxisRow(
                name=state.axis_name,
                score=format_score(state.axis_score),
                label=state.axis_label,
                marker=format_percent(state.axis_score),
                segments=band_segments(axis, state.axis_score),
            )
        )
    return rows


def _chart_y(score: float) -> float:
    plot = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    return round(CHART_TOP + (1.0 - min(max(score, 0.0), 1.0)) * plot, 2)


def _n(value: float) -> str:
    """Format an SVG coordinate; templates would localise a float."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def score_history(character: Character, registry: WorldRegistry) -> tuple[list[AxisChart], dict]:
    """Draw the latest ``CHART_DELTA_LIMIT`` deltas of the character as one step line per axis.

    One query. Every axis shares the x axis: the character's events in the window, oldest
    left, evenly spaced.
    """
    rows = list(
        EventEntityAxisDelta.objects.filter(character=character)
        .order_by("-event_id", "axis_id")
        .values_list("event_id", "event__event_type__name", "axis_id", "old_score", "new_score")[
            :CHART_DELTA_LIMIT
        ]
    )
    rows.reverse()
    event_ids = sorted({row[0] for row in rows})
    position = {event_id: index for index, event_id in enumerate(event_ids)}
    span = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    step = span / (len(event_ids) - 1) if len(event_ids) > 1 else 0.0

    def x_of(event_id: int) -> float:
        return round(CHART_LEFT + position[event_id] * step, 2)

    by_axis: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        by_axis[row[2]].append(row)
    axes = registry.active_axes + sorted(
        (a for a in registry.by_name.values() if not a.is_active and a.id in by_axis),
        key=lambda a: a.name,
    )
    charts = []
    for axis in axes:
        history = by_axis.get(axis.id)
        if not history:
            continue
        first_event, _, _, first_old, first_new = history[0]
        x = x_of(first_event)
        if x > CHART_LEFT:
            # The window starts before this axis's first delta: hold the older score.
            coordinates = [(CHART_LEFT, _chart_y(first_old)), (x, _chart_y(first_old))]
        else:
            coordinates = []
        coordinates.append((x, _chart_y(first_new)))
        points = [{"x": _n(x), "y": _n(_chart_y(first_new)), "title": _point_title(history[0])}]
        for row in history[1:]:
            x = x_of(row[0])
            coordinates.append((x, coordinates[-1][1]))
            coordinates.append((x, _chart_y(row[4])))
            points.append({"x": _n(x), "y": _n(_chart_y(row[4])), "title": _point_title(row)})
        coordinates.append((CHART_LEFT + span, coordinates[-1][1]))
        last = history[-1][4]
        charts.append(
            AxisChart(
                name=axis.name,
                retired=not axis.is_active,
                current=format_score(last),
                label=axis.label_for(last),
                path=" ".join(f"{_n(cx)},{_n(cy)}" for cx, cy in coordinates),
                points=points,
                bands=_chart_bands(axis),
            )
        )
    summary = {
        "events": len(event_ids),
        "deltas": len(rows),
        "truncated": len(rows) == CHART_DELTA_LIMIT,
        "limit": CHART_DELTA_LIMIT,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "right": CHART_WIDTH - CHART_RIGHT,
        "plot_width": CHART_WIDTH - CHART_LEFT - CHART_RIGHT,
        "top": CHART_TOP,
        "bottom": CHART_HEIGHT - CHART_BOTTOM,
        "plot_height": CHART_HEIGHT - CHART_TOP - CHART_BOTTOM,
        "label_x": CHART_LEFT - 6,
    }
    return charts, summary


def _point_title(row: tuple) -> str:
    event_id, event_type, _, old, new = row
    return f"event {event_id} {event_type}: {format_score(old)} → {format_score(new)}"


def _chart_bands(axis: RegisteredAxis) -> list[dict]:
    bands = []
    for index, label in enumerate(axis.labels):
        low = axis.mins[index]
        high = axis.mins[index + 1] if index + 1 < len(axis.labels) else 1.0
        top, bottom = _chart_y(high), _chart_y(low)
        bands.append(
            {
                "label": label,
                "y": _n(top),
                "height": _n(bottom - top),
                "text_y": _n((top + bottom) / 2 + 3),
                "shaded": index % 2 == 0,
            }
        )
    return bands


def event_rows(character: Character) -> tuple[list[dict], bool]:
    """Return the latest events with display fields, and whether older ones exist.

    Each event carries its provenance and corrections as the API shows them (``actor``,
    ``source``, ``reverses``, ``reversed_by``), ``actor_url``: the ledger filtered to
    the actor's events, when the actor was a user, and ``drift``: a drift event's periods
    and rule (``drift_summary``), read from its metadata.
    """
    page = list_character_events(character, limit=INSPECTOR_EVENT_LIMIT)
    events = []
    for event in page.events:
        deltas = []
        for delta in event["deltas"]:
            deltas.append(
                {
                    **delta,
                    "old": format_score(delta["old_score"]),
                    "new": format_score(delta["new_score"]),
                    "applied": format_signed(delta["delta"]),
                    "requested": format_signed(delta["requested_delta"]),
                    "label_changed": delta["old_label"] != delta["new_label"],
                    "clamped": was_clamped(
                        new_score=delta["new_score"],
                        delta=delta["delta"],
                        requested_delta=delta["requested_delta"],
                    ),
                }
            )
        user_id = event["actor"]["user_id"]
        events.append(
            {
                **event,
                "deltas": deltas,
                "metadata": sorted(event["metadata"].items()),
                "drift": drift_summary(event),
                "actor_url": actor_events_url(user_id) if user_id is not None else None,
            }
        )
    return events, page.next_before is not None
