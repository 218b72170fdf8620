"""The seed policy texts the policy loader tests edit, and helpers to write and load them."""

from pathlib import Path

from worlds.policies import AXES_FILE, THRESHOLDS_FILE, Band, load_world_policy

LABELS = ["poor", "modest", "well-kept", "wealthy", "decadent"]
LABEL_LIST = "poor, modest, well-kept, wealthy, decadent"

# Line numbers in the tests' assertions refer to these two texts.
AXES = """\
version: 0.1.0
axes:
  wealth:
    values: [poor, modest, well-kept, wealthy, decadent]
    ordering:
      type: ordinal
      values: [poor, modest, well-kept, wealthy, decadent]
"""

THRESHOLDS = """\
version: 0.1.0
axes:
  wealth:
    values:
      poor: { min: 0.0, max: 0.19 }
      modest: { min: 0.20, max: 0.39 }
      well-kept: { min: 0.40, max: 0.59 }
      wealthy: { min: 0.60, max: 0.79 }
      decadent: { min: 0.80, max: 1.0 }
"""

NUMERIC_AXIS = """\
  age:
    ordering:
      type: numeric
"""

SEED_BANDS = (
    Band("poor", 0, 0.0, 0.19),
    Band("modest", 1, 0.2, 0.39),
    Band("well-kept", 2, 0.4, 0.59),
    Band("wealthy", 3, 0.6, 0.79),
    Band("decadent", 4, 0.8, 1.0),
)


def write_world(root: Path, axes: str | None = AXES, thresholds: str | None = THRESHOLDS) -> Path:
    """Write the policy texts (None leaves a file out) and return the world directory."""
    world = root / "demo"
    policies = world / "policies"
    policies.mkdir(parents=True, exist_ok=True)
    for name, text in ((AXES_FILE, axes), (THRESHOLDS_FILE, thresholds)):
        if text is not None:
            (policies / name).write_text(text, encoding="utf-8")
    return world


def load(tmp_path: Path, axes: str | None = AXES, thresholds: str | None = THRESHOLDS):
    return load_world_policy(write_world(tmp_path, axes, thresholds))


def edit(text: str, old: str, new: str) -> str:
    """Replace ``old`` in ``text``, failing loudly if a fixture edit no longer applies."""
    assert old in text
    return text.replace(old, new)


def axes_file(tmp_path: Path) -> str:
    return str(tmp_path / "demo" / "policies" / AXES_FILE)


def thresholds_file(tmp_path: Path) -> str:
    return str(tmp_path / "demo" / "policies" / THRESHOLDS_FILE)


def band_line(label: str, min_: str, max_: str) -> str:
    return f"      {label}: {{ min: {min_}, max: {max_} }}"
