"""The policy hash: the same for the same content however written, changed by any change."""

from tests.worlds.policy_texts import AXES, THRESHOLDS, band_line, edit, load
from worlds.policies import policy_content_hash


def test_hash_ignores_comments_key_order_style_whitespace_and_number_spelling(tmp_path):
    reformatted_axes = """\
# Wealth of a character.
axes:

  wealth:
    ordering: {values: [poor, modest, well-kept, wealthy, decadent], type: ordinal}
    values:
      - poor
      - modest
      - well-kept   # looked after
      - wealthy
      - decadent
version: "0.1.0"
"""
    reformatted_thresholds = """\
axes:
  wealth:
    values:
      decadent: {max: 1, min: 0.8}
      wealthy: {max: 0.79, min: 0.6}
      well-kept:
        min: 0.4
        max: 0.59
      modest: {min: 0.2, max: 0.39}
      poor:    {min: 0,   max: 0.190}
version: 0.1.0   # same release
"""
    original = load(tmp_path / "original").policy_hash

    reformatted = load(tmp_path / "reformatted", reformatted_axes, reformatted_thresholds)

    assert reformatted.errors == ()
    assert reformatted.policy_hash == original


def test_hash_changes_when_a_band_bound_changes(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("poor", "0.0", "0.19"), band_line("poor", "0.0", "0.18")
    )

    changed = load(tmp_path / "changed", thresholds=thresholds).policy_hash

    assert changed != load(tmp_path / "original").policy_hash


def test_hash_changes_when_a_label_changes(tmp_path):
    axes = AXES.replace("decadent", "lavish")
    thresholds = edit(THRESHOLDS, "decadent", "lavish")

    changed = load(tmp_path / "changed", axes, thresholds)

    assert changed.errors == ()
    assert changed.policy_hash != load(tmp_path / "original").policy_hash


def test_hash_treats_ints_as_floats_but_not_bools():
    assert policy_content_hash({"a": [0, 1]}, None) == policy_content_hash({"a": [0.0, 1.0]}, None)
    assert policy_content_hash({"a": True}, None) != policy_content_hash({"a": 1}, None)
