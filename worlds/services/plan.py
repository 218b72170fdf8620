"""The plan of a policy sync: the steps that bring one world's registry to its files.

A step both describes itself (``--dry-run``, the admin's messages) and is what the writer
in ``worlds.services.sync`` executes; after a real run, ``WorldPlan.done`` holds the steps
carried out, with the counts actually written.
"""

from dataclasses import dataclass, field

from worlds.policies import AxisPolicy, PolicyReport


@dataclass(frozen=True)
class CreateWorld:
    def describe(self, world_id: str) -> list[str]:
        return [f"create world {world_id}"]


@dataclass(frozen=True)
class WriteAxis:
    """Create an axis, or update or reactivate an existing one (``axis_id``)."""

    policy: AxisPolicy
    axis_id: int | None = None
    reactivate: bool = False
    differences: tuple[str, ...] = ()
    row_differs: bool = True
    bands_differ: bool = True

    def describe(self, world_id: str) -> list[str]:
        name = self.policy.name
        if self.axis_id is None:
            return [f"create axis {name}"]
        lines = [f"reactivate axis {name}"] if self.reactivate else []
        if self.differences:
            lines.append(f"update axis {name}: {'; '.join(self.differences)}")
        return lines


@dataclass(frozen=True)
class RetireAxes:
    names: tuple[str, ...]

    def describe(self, world_id: str) -> list[str]:
        return [f"retire axis {name} (its ledger history is kept)" for name in self.names]


@dataclass(frozen=True)
class BackfillScores:
    """Give characters lacking a score on an active axis its default, by a ledger event."""

    defaults: dict[int, dict[str, float]]
    """Character id -> {axis name -> default score}."""

    @property
    def axis_names(self) -> list[str]:
        return sorted({name for axes in self.defaults.values() for name in axes})

    def describe(self, world_id: str) -> list[str]:
        return [
            f"give {len(self.defaults)} existing character(s) their default score on "
            f"{', '.join(self.axis_names)} through a ledger event"
        ]


@dataclass(frozen=True)
class RederiveSnapshots:
    characters: int

    def describe(self, world_id: str) -> list[str]:
        return [f"re-derive {self.characters} character snapshot(s)"]


@dataclass(frozen=True)
class RecordPolicy:
    version: str
    policy_hash: str

    def describe(self, world_id: str) -> list[str]:
        return [f"record policy version {self.version} hash {self.policy_hash[:12]}"]


Step = CreateWorld | WriteAxis | RetireAxes | BackfillScores | RederiveSnapshots | RecordPolicy


@dataclass
class WorldPlan:
    """What syncing one world's files changes in the registry, as steps."""

    report: PolicyReport
    world_exists: bool
    hash_changed: bool
    steps: list[Step] = field(default_factory=list)
    done: list[Step] = field(default_factory=list)
    """The steps a real run carried out, with the counts it actually wrote."""

    @property
    def world_id(self) -> str:
        return self.report.world_id

    @property
    def changed(self) -> bool:
        return not self.world_exists or self.hash_changed

    @property
    def characters(self) -> int:
        """Return how many snapshots the plan re-derives (every character of the world)."""
        return sum(step.characters for step in self.steps if isinstance(step, RederiveSnapshots))

    def describe(self) -> list[str]:
        """Return one human line per planned change (empty when the world is up to date)."""
        return [line for step in self.steps for line in step.describe(self.world_id)]

    def describe_done(self) -> list[str]:
        """Return one human line per change a real run made."""
        return [line for step in self.done for line in step.describe(self.world_id)]


@dataclass
class SyncResult:
    """The outcome of ``sync_world_policies``: one plan per selected world."""

    plans: list[WorldPlan]
    dry_run: bool

    @property
    def changed(self) -> bool:
        return any(plan.changed for plan in self.plans)
