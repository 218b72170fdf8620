"""The axis registry of each world as the ledger uses it, cached per process.

The ledger needs each world's axes and bands on every event; re-reading them (or worse,
the YAML files) on the hot path would cost two queries per event. The cache is keyed by
the world's policy hash and sync time, both of which change whenever
``sync_world_policies`` rewrites the registry, so a stale entry is never served.
"""

from dataclasses import dataclass, field

from axes.models import Axis, AxisValue
from worlds.models import World
from worlds.policies import Drift, resolve_label


@dataclass(frozen=True)
class RegisteredAxis:
    """An axis as the registry holds it, with its bands ready for label lookups."""

    id: int
    name: str
    is_active: bool
    ordering_type: str
    default_score: float
    labels: tuple[str, ...] = ()
    mins: tuple[float, ...] = ()
    maxes: tuple[float, ...] = ()
    drift: Drift | None = None

    def label_for(self, score: float) -> str | None:
        """Return the label of ``score`` (None on a numeric axis); see ``resolve_label``."""
        return resolve_label(self.mins, self.labels, score)


@dataclass(frozen=True)
class WorldRegistry:
    """One world's registry: every axis (active and retired) by name and by id."""

    world_id: str
    policy_hash: str
    by_name: dict[str, RegisteredAxis]
    by_id: dict[int, RegisteredAxis] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {axis.id: axis for axis in self.by_name.values()})

    @property
    def active_axes(self) -> list[RegisteredAxis]:
        return [axis for name, axis in sorted(self.by_name.items()) if axis.is_active]

    def snapshot(self, *, seed: int, scores: dict[int, float]) -> dict:
        """Derive the snapshot payload from scores by axis id (active axes only)."""
        axes = {}
        for axis in self.active_axes:
            score = scores.get(axis.id)
            if score is not None:
                axes[axis.name] = {"score": score, "label": axis.label_for(score)}
        return {
            "world_id": self.world_id,
            "seed": seed,
            "policy_hash": self.policy_hash,
            "axes": axes,
        }


_cache: dict[str, tuple[tuple, WorldRegistry]] = {}


def get_world_registry(world: World) -> WorldRegistry:
    """Return the registry of ``world``, from the process cache when still current."""
    key = (world.policy_hash, world.synced_at)
    cached = _cache.get(world.world_id)
    if cached is not None and cached[0] == key:
        return cached[1]
    registry = _load_registry(world)
    _cache[world.world_id] = (key, registry)
    return registry


def _load_registry(world: World) -> WorldRegistry:
    bands: dict[int, list[AxisValue]] = {}
    for band in AxisValue.objects.filter(world=world).order_by("axis_id", "ordinal"):
        bands.setdefault(band.axis_id, []).append(band)
    by_name = {}
    for axis in Axis.objects.filter(world=world):
        axis_bands = bands.get(axis.pk, [])
        by_name[axis.name] = RegisteredAxis(
            id=axis.pk,
            name=axis.name,
            is_active=axis.is_active,
            ordering_type=axis.ordering_type,
            default_score=axis.default_score,
            labels=tuple(band.value for band in axis_bands),
            mins=tuple(band.min_score for band in axis_bands),
            maxes=tuple(band.max_score for band in axis_bands),
            drift=axis.drift,
        )
    return WorldRegistry(world_id=world.world_id, policy_hash=world.policy_hash, by_name=by_name)
