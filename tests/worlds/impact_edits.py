"""Edits of the fixture world alpha's policy files that the impact tests preview.

World alpha has ``wealth`` (poor [0, 0.19], modest [0.20, 0.39], well-kept [0.40, 0.59],
wealthy [0.60, 0.79], decadent [0.80, 1]), ``health`` (ailing [0, 0.5], hale [0.5, 1],
default 0.8) and the numeric ``luck`` (default 0.25).
"""

from pathlib import Path

CHARM_AXIS = (
    "  charm:\n    default: 0.65\n    values: [dull, charming]\n"
    "    ordering:\n      type: ordinal\n      values: [dull, charming]\n"
)
CHARM_BANDS = (
    "  charm:\n    values:\n      dull: { min: 0.0, max: 0.5 }\n"
    "      charming: { min: 0.5, max: 1.0 }\n"
)


def policies(worlds_dir: Path, world_id: str = "alpha") -> Path:
    return worlds_dir / world_id / "policies"


def edit(worlds_dir: Path, filename: str, old: str, new: str, *, world_id: str = "alpha") -> None:
    """Replace ``old`` in a policy file, failing loudly if the fixture no longer has it."""
    path = policies(worlds_dir, world_id) / filename
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def move_wealth_edges(worlds_dir: Path) -> None:
    """Move modest's min from 0.20 to 0.25 and well-kept's from 0.40 to 0.45.

    poor ends at 0.24 and modest at 0.44, so 0.245 lies in a gap (it is ``poor``).
    """
    edit(
        worlds_dir,
        "thresholds.yaml",
        "poor: { min: 0.0, max: 0.19 }",
        "poor: { min: 0.0, max: 0.24 }",
    )
    edit(
        worlds_dir,
        "thresholds.yaml",
        "modest: { min: 0.20, max: 0.39 }",
        "modest: { min: 0.25, max: 0.44 }",
    )
    edit(worlds_dir, "thresholds.yaml", "well-kept: { min: 0.40", "well-kept: { min: 0.45")


def rename_poor(worlds_dir: Path, new: str = "broke") -> None:
    """Rename wealth's lowest label ``poor`` to ``new`` in both files."""
    edit(worlds_dir, "axes.yaml", "[poor, modest", f"[{new}, modest")  # values and ordering
    edit(worlds_dir, "thresholds.yaml", "poor: { min", f"{new}: {{ min")


def add_charm_retire_luck(worlds_dir: Path) -> None:
    """Add the ordinal axis ``charm`` (default 0.65) and drop ``luck`` from the files."""
    axes = policies(worlds_dir) / "axes.yaml"
    axes.write_text(axes.read_text().split("  luck:\n")[0] + CHARM_AXIS)
    thresholds = policies(worlds_dir) / "thresholds.yaml"
    thresholds.write_text(thresholds.read_text() + CHARM_BANDS)


def drop_luck(worlds_dir: Path) -> str:
    """Drop ``luck`` from the axes file; return the file's text before."""
    axes = policies(worlds_dir) / "axes.yaml"
    original = axes.read_text()
    axes.write_text(original.split("  luck:\n")[0])
    return original


def set_drift(worlds_dir: Path, axis: str, rule: str | None) -> None:
    """Give ``axis`` the drift ``rule`` (a YAML flow mapping), replacing its own; None
    removes it. The rule is the first line of the axis's entry."""
    axes = policies(worlds_dir) / "axes.yaml"
    head, tail = axes.read_text().split(f"  {axis}:\n")
    if tail.startswith("    drift:"):
        tail = tail.split("\n", 1)[1]
    rule_line = "" if rule is None else f"    drift: {rule}\n"
    axes.write_text(f"{head}  {axis}:\n{rule_line}{tail}")
