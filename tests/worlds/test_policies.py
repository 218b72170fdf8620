"""Tests for the pure world policy loader: validation, hashing and label resolution."""

import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from worlds.policies import (
    AXES_FILE,
    DEFAULT_AXIS_SCORE,
    POLICY_BAND_GAP,
    POLICY_BOUND_OUT_OF_RANGE,
    POLICY_DESCENDING_BANDS,
    POLICY_DUPLICATE_KEY,
    POLICY_DUPLICATE_LABEL,
    POLICY_EMPTY_FILE,
    POLICY_FILE_MISSING,
    POLICY_FILE_UNREADABLE,
    POLICY_HIGHEST_BAND_END,
    POLICY_INVALID_AXIS_NAME,
    POLICY_INVALID_BOUND,
    POLICY_INVALID_DEFAULT,
    POLICY_INVALID_DESCRIPTION,
    POLICY_INVALID_LABEL,
    POLICY_INVALID_LABELS,
    POLICY_INVALID_VERSION,
    POLICY_INVERTED_BAND,
    POLICY_LOWEST_BAND_START,
    POLICY_MALFORMED_YAML,
    POLICY_MISSING_BAND,
    POLICY_MISSING_KEY,
    POLICY_MISSING_ORDERING,
    POLICY_MISSING_THRESHOLDS,
    POLICY_NO_AXES,
    POLICY_NOT_A_MAPPING,
    POLICY_NUMERIC_WITH_THRESHOLDS,
    POLICY_NUMERIC_WITH_VALUES,
    POLICY_ORDERING_MISMATCH,
    POLICY_OVERLAPPING_BANDS,
    POLICY_RECURSIVE_ALIAS,
    POLICY_THRESHOLDS_FOR_UNKNOWN_AXIS,
    POLICY_UNKNOWN_KEY,
    POLICY_UNKNOWN_LABEL,
    POLICY_UNKNOWN_ORDERING_TYPE,
    POLICY_VERSION_MISMATCH,
    POLICY_YAML_TOO_DEEP,
    THRESHOLDS_FILE,
    AxisPolicy,
    Band,
    PolicyIssue,
    discover_worlds,
    load_world_policy,
    loader,
    policy_content_hash,
    yaml_source,
)

LABELS = ["poor", "modest", "well-kept", "wealthy", "decadent"]
LABEL_LIST = "poor, modest, well-kept, wealthy, decadent"

# Line numbers in the assertions below refer to these two texts.
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


# Valid policies.


def test_seed_policy_is_valid_without_warnings(tmp_path):
    report = load(tmp_path)

    assert report.errors == ()
    assert report.warnings == ()
    assert report.is_valid
    assert report.world_id == "demo"
    assert report.directory == str(tmp_path / "demo")
    assert report.axes == ("wealth",)
    assert report.ordering == {"wealth": {"type": "ordinal", "values": LABELS}}
    assert report.thresholds["wealth"]["modest"] == {"min": 0.2, "max": 0.39}
    assert list(report.thresholds["wealth"]) == LABELS
    assert report.missing == ()
    assert report.version == "0.1.0"
    assert report.thresholds_version == "0.1.0"
    assert report.policy_hash == policy_content_hash(
        yaml.safe_load(AXES), yaml.safe_load(THRESHOLDS)
    )
    assert len(report.policy_hash) == 64


def test_seed_policy_builds_bands_in_ordering_order_with_the_default_score(tmp_path):
    policy = load(tmp_path).policy

    assert policy.world_id == "demo"
    assert policy.version == "0.1.0"
    assert policy.axis_names == ("wealth",)
    wealth = policy.axis("wealth")
    assert wealth.ordering_type == "ordinal"
    assert wealth.labels == tuple(LABELS)
    assert wealth.bands == SEED_BANDS
    assert wealth.default_score == DEFAULT_AXIS_SCORE == 0.5
    assert wealth.description == ""
    assert wealth.ordering_json() == {"type": "ordinal", "values": LABELS}


def test_explicit_default_and_description_are_kept(tmp_path):
    axes = edit(AXES, "  wealth:\n", "  wealth:\n    default: 0\n    description: Coin\n")

    wealth = load(tmp_path, axes).policy.axis("wealth")

    assert wealth.default_score == 0.0
    assert wealth.description == "Coin"


def test_numeric_axis_needs_no_thresholds_and_has_no_labels(tmp_path):
    report = load(tmp_path, AXES + NUMERIC_AXIS)

    assert report.errors == ()
    assert report.axes == ("age", "wealth")
    assert report.ordering["age"] == {"type": "numeric", "values": []}
    age = report.policy.axis("age")
    assert (age.labels, age.bands) == ((), ())
    assert age.label_for(0.5) is None
    assert age.ordering_json() == {"type": "numeric", "values": []}
    assert report.policy.axis_names == ("age", "wealth")


def test_numeric_version_is_reported_as_a_string(tmp_path):
    report = load(
        tmp_path, edit(AXES, "0.1.0", "1"), edit(THRESHOLDS, "version: 0.1.0", "version: 1")
    )

    assert report.errors == ()
    assert report.warnings == ()
    assert report.version == report.policy.version == "1"


def test_world_id_argument_overrides_the_directory_name(tmp_path):
    report = load_world_policy(write_world(tmp_path), world_id="elsewhere")

    assert report.world_id == report.policy.world_id == "elsewhere"


def test_unknown_axis_lookup_raises_key_error(tmp_path):
    policy = load(tmp_path).policy

    with pytest.raises(KeyError) as excinfo:
        policy.axis("health")
    assert excinfo.value.args == ("health",)


def test_band_starting_at_the_previous_max_is_contiguous_not_overlapping(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("modest", "0.20", "0.39"), band_line("modest", "0.19", "0.39")
    )

    report = load(tmp_path, thresholds=thresholds)

    assert report.errors == ()
    assert report.warnings == ()
    assert report.policy.axis("wealth").label_for(0.19) == "modest"


# Label resolution.


@pytest.mark.parametrize(
    ("score", "label"),
    [
        (0.0, "poor"),
        (0.19, "poor"),
        (0.2, "modest"),
        (0.39, "modest"),
        (0.4, "well-kept"),
        (0.59, "well-kept"),
        (0.6, "wealthy"),
        (0.7999, "wealthy"),
        (0.8, "decadent"),
        (1.0, "decadent"),
    ],
)
def test_label_resolution_at_band_edges(tmp_path, score, label):
    assert load(tmp_path).policy.axis("wealth").label_for(score) == label


@pytest.mark.parametrize(
    ("score", "label"),
    [(0.195, "poor"), (0.395, "modest"), (0.595, "well-kept"), (0.795, "wealthy")],
)
def test_label_resolution_is_total_in_gaps_between_bands(tmp_path, score, label):
    assert load(tmp_path).policy.axis("wealth").label_for(score) == label


def test_label_resolution_below_the_lowest_band_returns_the_lowest_label():
    axis = AxisPolicy(
        name="mood",
        ordering_type="ordinal",
        labels=("calm", "angry"),
        bands=(Band("calm", 0, 0.1, 0.5), Band("angry", 1, 0.5, 1.0)),
        default_score=0.5,
    )

    assert axis.label_for(0.05) == "calm"
    assert axis.label_for(0.5) == "angry"


# Hashing.


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


# File and YAML errors.


def test_missing_axes_file_is_an_error_and_a_missing_component(tmp_path):
    report = load(tmp_path, axes=None)

    assert report.errors == (PolicyIssue(axes_file(tmp_path), "", POLICY_FILE_MISSING),)
    assert report.missing == ("axes.yaml",)
    assert report.policy_hash is None
    assert report.policy is None
    assert not report.is_valid


def test_missing_thresholds_file_is_reported_once_not_per_axis(tmp_path):
    report = load(tmp_path, thresholds=None)

    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), "", POLICY_FILE_MISSING),)
    assert report.missing == ("thresholds.yaml",)
    assert report.axes == ("wealth",)
    assert report.version == "0.1.0"
    assert report.thresholds_version is None


def test_undecodable_file_is_reported_unreadable(tmp_path):
    world = write_world(tmp_path)
    path = world / "policies" / THRESHOLDS_FILE
    path.write_bytes(b"version: \xff\xfe\n")
    with pytest.raises(UnicodeDecodeError) as exc_info:
        path.read_text(encoding="utf-8")

    report = load_world_policy(world)

    message = POLICY_FILE_UNREADABLE.format(error=exc_info.value)
    assert report.errors == (PolicyIssue(str(path), "", message),)
    assert report.missing == ("thresholds.yaml",)
    assert report.policy_hash is None


def test_directory_in_place_of_a_file_is_reported_unreadable(tmp_path):
    world = write_world(tmp_path, axes=None)
    path = world / "policies" / AXES_FILE
    path.mkdir()
    with pytest.raises(OSError) as exc_info:
        path.read_text(encoding="utf-8")

    report = load_world_policy(world)

    message = POLICY_FILE_UNREADABLE.format(error=exc_info.value)
    assert report.errors == (PolicyIssue(str(path), "", message),)
    assert report.missing == ("axes.yaml",)


def test_malformed_yaml_reports_the_problem_and_its_line(tmp_path):
    axes = edit(
        AXES, "    values: [poor, modest, well-kept, wealthy, decadent]\n", "    values: [poor\n"
    )

    report = load(tmp_path, axes)

    message = POLICY_MALFORMED_YAML.format(problem="expected ',' or ']', but got ':'")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "", message, 5),)
    assert str(report.errors[0]) == f"{axes_file(tmp_path)}:5: {message}"
    assert report.policy_hash is None


def test_yaml_nested_too_deeply_is_an_error_not_a_crash(tmp_path):
    thresholds = "version: 0.1.0\naxes: " + "[" * 5000 + "]" * 5000 + "\n"

    report = load(tmp_path, thresholds=thresholds)

    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), "", POLICY_YAML_TOO_DEEP),)


def test_recursive_alias_is_an_error_not_a_crash(tmp_path):
    axes = edit(AXES, "version: 0.1.0\n", "version: 0.1.0\ndescription: &loop [*loop]\n")

    report = load(tmp_path, axes)

    issue = PolicyIssue(axes_file(tmp_path), "description.0", POLICY_RECURSIVE_ALIAS, 2)
    assert report.errors == (issue,)
    assert report.policy_hash is None


@pytest.mark.parametrize("text", ["", "\n", "# nothing yet\n"])
def test_empty_file_is_an_error(tmp_path, text):
    report = load(tmp_path, thresholds=text)

    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), "", POLICY_EMPTY_FILE),)
    assert report.policy_hash == policy_content_hash(yaml.safe_load(AXES), None)


def test_top_level_that_is_not_a_mapping_is_an_error(tmp_path):
    report = load(tmp_path, axes="- wealth\n- health\n")

    message = POLICY_NOT_A_MAPPING.format(kind="list")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "", message, 1),)
    assert report.axes == ()


def test_duplicate_key_is_an_error_at_its_second_occurrence(tmp_path):
    thresholds = edit(THRESHOLDS, "poor: { min: 0.0,", "poor: { min: 0.0, min: 0.0,")

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_DUPLICATE_KEY.format(key="min")
    path = "axes.wealth.values.poor.min"
    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), path, message, 5),)


def test_merge_key_overrides_are_not_duplicates(tmp_path):
    thresholds = edit(THRESHOLDS, "poor: {", "poor: &band {")
    thresholds = edit(thresholds, "modest: {", "modest: { <<: *band,")

    report = load(tmp_path, thresholds=thresholds)

    assert report.errors == ()
    assert report.policy.axis("wealth").bands == SEED_BANDS


def test_duplicate_axis_is_an_error(tmp_path):
    report = load(tmp_path, AXES + AXES.split("axes:\n")[1])

    message = POLICY_DUPLICATE_KEY.format(key="wealth")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes.wealth", message, 8),)


# Top-level structure.


@pytest.mark.parametrize("which", ["axes", "thresholds"])
def test_missing_version_is_an_error_in_either_file(tmp_path, which):
    texts = {"axes": AXES, "thresholds": THRESHOLDS}
    texts[which] = edit(texts[which], "version: 0.1.0\n", "")

    report = load(tmp_path, texts["axes"], texts["thresholds"])

    file = axes_file(tmp_path) if which == "axes" else thresholds_file(tmp_path)
    message = POLICY_MISSING_KEY.format(key="version")
    assert report.errors == (PolicyIssue(file, "version", message, 1),)
    assert report.warnings == ()


@pytest.mark.parametrize(
    ("text", "value"), [("[1]", [1]), ("true", True), ('""', ""), (".nan", None)]
)
def test_version_that_is_not_a_string_or_number_is_an_error(tmp_path, text, value):
    report = load(tmp_path, thresholds=edit(THRESHOLDS, "version: 0.1.0", f"version: {text}"))

    issue = report.errors[0]
    assert len(report.errors) == 1
    assert (issue.file, issue.key_path, issue.line) == (thresholds_file(tmp_path), "version", 1)
    if value is None:
        assert issue.message == POLICY_INVALID_VERSION.format(value=float("nan"))
    else:
        assert issue.message == POLICY_INVALID_VERSION.format(value=value)
    assert report.thresholds_version is None


def test_missing_axes_is_an_error(tmp_path):
    report = load(tmp_path, "version: 0.1.0\n")

    message = POLICY_MISSING_KEY.format(key="axes")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes", message, 1),)
    assert report.axes == ()


def test_axes_that_is_not_a_mapping_is_an_error(tmp_path):
    report = load(tmp_path, thresholds="version: 0.1.0\naxes: [wealth]\n")

    message = POLICY_NOT_A_MAPPING.format(kind="list")
    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), "axes", message, 2),)


def test_empty_axes_is_an_error(tmp_path):
    report = load(tmp_path, "version: 0.1.0\naxes: {}\n", "version: 0.1.0\naxes: {}\n")

    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes", POLICY_NO_AXES, 2),)


# Axes.


@pytest.mark.parametrize("name", ["1wealth", "has space", "w" * 65, "_wealth"])
def test_invalid_axis_name_is_an_error(tmp_path, name):
    report = load(
        tmp_path, edit(AXES, "wealth:", f"'{name}':"), edit(THRESHOLDS, "wealth:", f"'{name}':")
    )

    message = POLICY_INVALID_AXIS_NAME.format(name=name, pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), f"axes.{name}", message, 3),)


def test_axis_name_of_64_characters_is_valid(tmp_path):
    name = "w" * 64

    report = load(
        tmp_path, edit(AXES, "wealth:", f"{name}:"), edit(THRESHOLDS, "wealth:", f"{name}:")
    )

    assert report.errors == ()


def test_axis_entry_that_is_not_a_mapping_is_an_error(tmp_path):
    report = load(tmp_path, "version: 0.1.0\naxes:\n  wealth: [poor, modest]\n")

    message = POLICY_NOT_A_MAPPING.format(kind="list")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes.wealth", message, 3),)


def test_axis_without_ordering_is_an_error_and_a_missing_component(tmp_path):
    axes = AXES.split("    ordering:")[0]

    report = load(tmp_path, axes)

    message = POLICY_MISSING_ORDERING.format(axis="wealth")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes.wealth.ordering", message, 3),)
    assert report.missing == ("ordering for axis 'wealth'",)
    assert report.ordering == {}


def test_ordinal_axis_without_thresholds_is_an_error_and_a_missing_component(tmp_path):
    report = load(tmp_path, thresholds="version: 0.1.0\naxes: {}\n")

    message = POLICY_MISSING_THRESHOLDS.format(axis="wealth")
    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), "axes.wealth", message, 2),)
    assert report.missing == ("thresholds for axis 'wealth'",)


def test_thresholds_for_an_axis_missing_from_axes_yaml_are_an_error(tmp_path):
    thresholds = THRESHOLDS + "  health:\n    values:\n      hale: {min: 0.0, max: 1.0}\n"

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_THRESHOLDS_FOR_UNKNOWN_AXIS.format(axis="health")
    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), "axes.health", message, 10),)


def test_unknown_ordering_type_is_an_error(tmp_path):
    report = load(tmp_path, edit(AXES, "type: ordinal", "type: fuzzy"))

    message = POLICY_UNKNOWN_ORDERING_TYPE.format(value="fuzzy", expected="ordinal, numeric")
    assert report.errors == (
        PolicyIssue(axes_file(tmp_path), "axes.wealth.ordering.type", message, 6),
    )


def test_missing_ordering_type_is_an_error(tmp_path):
    report = load(tmp_path, edit(AXES, "      type: ordinal\n", ""))

    message = POLICY_MISSING_KEY.format(key="type")
    assert report.errors == (
        PolicyIssue(axes_file(tmp_path), "axes.wealth.ordering.type", message, 5),
    )


def test_ordering_that_is_not_a_mapping_is_an_error(tmp_path):
    axes = AXES.split("    ordering:")[0] + "    ordering: ordinal\n"

    report = load(tmp_path, axes)

    message = POLICY_NOT_A_MAPPING.format(kind="str")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes.wealth.ordering", message, 5),)


def test_ordinal_axis_without_values_is_an_error(tmp_path):
    axes = edit(AXES, "    values: [poor, modest, well-kept, wealthy, decadent]\n", "")

    report = load(tmp_path, axes)

    message = POLICY_MISSING_KEY.format(key="values")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes.wealth.values", message, 3),)


@pytest.mark.parametrize(
    ("text", "value"), [("[]", []), ("poor", "poor"), ("{poor: 1}", {"poor": 1})]
)
def test_values_that_are_not_a_non_empty_list_are_an_error(tmp_path, text, value):
    axes = edit(
        AXES, "    values: [poor, modest, well-kept, wealthy, decadent]\n", f"    values: {text}\n"
    )

    report = load(tmp_path, axes)

    message = POLICY_INVALID_LABELS.format(value=value)
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes.wealth.values", message, 4),)


def test_every_invalid_label_is_an_error_at_its_index(tmp_path):
    long_label = "x" * 65
    axes = edit(
        AXES,
        "    values: [poor, modest, well-kept, wealthy, decadent]\n",
        f"    values: [poor, '', 3, {long_label}, '  ']\n",
    )

    report = load(tmp_path, axes)

    file = axes_file(tmp_path)
    assert report.errors == (
        PolicyIssue(file, "axes.wealth.values.1", POLICY_INVALID_LABEL.format(value=""), 4),
        PolicyIssue(file, "axes.wealth.values.2", POLICY_INVALID_LABEL.format(value=3), 4),
        PolicyIssue(file, "axes.wealth.values.3", POLICY_INVALID_LABEL.format(value=long_label), 4),
        PolicyIssue(file, "axes.wealth.values.4", POLICY_INVALID_LABEL.format(value="  "), 4),
    )
    assert POLICY_INVALID_LABEL.format(value="x") == (
        "label must be a non-empty string of at most 64 characters, got 'x'"
    )


def test_duplicate_label_is_an_error(tmp_path):
    axes = edit(
        AXES,
        "    values: [poor, modest, well-kept, wealthy, decadent]\n",
        "    values: [poor, modest, poor]\n",
    )

    report = load(tmp_path, axes)

    message = POLICY_DUPLICATE_LABEL.format(label="poor")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes.wealth.values.2", message, 4),)


def test_ordering_values_that_differ_from_values_are_an_error(tmp_path):
    reordered = "[modest, poor, well-kept, wealthy, decadent]"
    axes = edit(AXES, f"      values: [{LABEL_LIST}]", f"      values: {reordered}")

    report = load(tmp_path, axes)

    message = POLICY_ORDERING_MISMATCH.format(
        ordering=["modest", "poor", "well-kept", "wealthy", "decadent"], values=LABELS
    )
    assert report.errors == (
        PolicyIssue(axes_file(tmp_path), "axes.wealth.ordering.values", message, 7),
    )


def test_ordinal_ordering_without_values_is_an_error(tmp_path):
    axes = edit(AXES, f"      values: [{LABEL_LIST}]\n", "")

    report = load(tmp_path, axes)

    message = POLICY_MISSING_KEY.format(key="values")
    assert report.errors == (
        PolicyIssue(axes_file(tmp_path), "axes.wealth.ordering.values", message, 5),
    )


@pytest.mark.parametrize(
    ("axis", "key_path", "line"),
    [
        ("  age:\n    values: [young]\n    ordering: {type: numeric}\n", "values", 9),
        ("  age:\n    ordering: {type: numeric, values: [young]}\n", "ordering.values", 9),
    ],
)
def test_numeric_axis_with_labels_is_an_error(tmp_path, axis, key_path, line):
    report = load(tmp_path, AXES + axis)

    message = POLICY_NUMERIC_WITH_VALUES.format(axis="age", key=key_path, value=["young"])
    assert report.errors == (
        PolicyIssue(axes_file(tmp_path), f"axes.age.{key_path}", message, line),
    )


def test_numeric_axis_with_empty_values_is_valid(tmp_path):
    axis = "  age:\n    values: []\n    ordering: {type: numeric, values: []}\n"

    assert load(tmp_path, AXES + axis).errors == ()


def test_numeric_axis_with_thresholds_is_an_error(tmp_path):
    thresholds = THRESHOLDS + "  age:\n    values:\n      young: {min: 0.0, max: 1.0}\n"

    report = load(tmp_path, AXES + NUMERIC_AXIS, thresholds)

    message = POLICY_NUMERIC_WITH_THRESHOLDS.format(axis="age")
    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), "axes.age", message, 10),)


@pytest.mark.parametrize(
    ("text", "value"), [("1.5", 1.5), ("-0.1", -0.1), ("true", True), ("half", "half")]
)
def test_default_outside_zero_to_one_or_not_a_number_is_an_error(tmp_path, text, value):
    axes = edit(AXES, "  wealth:\n", f"  wealth:\n    default: {text}\n")

    report = load(tmp_path, axes)

    message = POLICY_INVALID_DEFAULT.format(value=value)
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "axes.wealth.default", message, 4),)


def test_description_that_is_not_a_string_is_an_error_at_any_level(tmp_path):
    axes = edit(AXES, "  wealth:\n", "  wealth:\n    description: [rich]\n")
    axes = edit(axes, "version: 0.1.0\n", "version: 0.1.0\ndescription: 3\n")

    report = load(tmp_path, axes)

    file = axes_file(tmp_path)
    assert report.errors == (
        PolicyIssue(file, "description", POLICY_INVALID_DESCRIPTION.format(value=3), 2),
        PolicyIssue(
            file, "axes.wealth.description", POLICY_INVALID_DESCRIPTION.format(value=["rich"]), 5
        ),
    )


# Bands.


def test_label_without_a_band_is_an_error_and_a_missing_component(tmp_path):
    thresholds = edit(THRESHOLDS, band_line("decadent", "0.80", "1.0") + "\n", "")

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_MISSING_BAND.format(label="decadent", axis="wealth")
    assert report.errors == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.decadent", message, 4),
    )
    assert report.missing == ("band for label 'decadent' of axis 'wealth'",)


def test_band_for_an_unknown_label_is_an_error(tmp_path):
    thresholds = THRESHOLDS + band_line("lavish", "0.9", "1.0") + "\n"

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_UNKNOWN_LABEL.format(label="lavish", axis="wealth", labels=LABEL_LIST)
    assert report.errors == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.lavish", message, 10),
    )


def test_band_that_is_not_a_mapping_is_an_error(tmp_path):
    thresholds = edit(THRESHOLDS, band_line("poor", "0.0", "0.19"), "      poor: [0.0, 0.19]")

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_NOT_A_MAPPING.format(kind="list")
    assert report.errors == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.poor", message, 5),
    )


@pytest.mark.parametrize("bound", ["min", "max"])
def test_band_without_a_bound_is_an_error(tmp_path, bound):
    band = "      modest: { min: 0.20 }" if bound == "max" else "      modest: { max: 0.39 }"
    thresholds = edit(THRESHOLDS, band_line("modest", "0.20", "0.39"), band)

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_MISSING_KEY.format(key=bound)
    path = f"axes.wealth.values.modest.{bound}"
    assert report.errors == (PolicyIssue(thresholds_file(tmp_path), path, message, 6),)


@pytest.mark.parametrize("text", ["true", ".nan", ".inf", "-.inf", '"0.0"', "null", "[0.0]"])
def test_bound_that_is_not_a_finite_number_is_an_error(tmp_path, text):
    thresholds = edit(
        THRESHOLDS, band_line("modest", "0.20", "0.39"), band_line("modest", text, "0.39")
    )

    report = load(tmp_path, thresholds=thresholds)

    issue = report.errors[0]
    assert len(report.errors) == 1
    assert issue.file == thresholds_file(tmp_path)
    assert (issue.key_path, issue.line) == ("axes.wealth.values.modest.min", 6)
    # repr(nan) is "nan" whichever nan it is, so formatting the parsed value is exact.
    assert issue.message == POLICY_INVALID_BOUND.format(bound="min", value=yaml.safe_load(text))


def test_min_greater_than_max_is_an_error(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("modest", "0.20", "0.39"), band_line("modest", "0.20", "0.10")
    )

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_INVERTED_BAND.format(min=0.2, max=0.1)
    assert report.errors == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.modest", message, 6),
    )


def test_bound_outside_zero_to_one_is_an_error(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("decadent", "0.80", "1.0"), band_line("decadent", "0.80", "1.5")
    )

    report = load(tmp_path, thresholds=thresholds)

    file = thresholds_file(tmp_path)
    path = "axes.wealth.values.decadent.max"
    assert report.errors == (
        PolicyIssue(file, path, POLICY_BOUND_OUT_OF_RANGE.format(bound="max", value=1.5), 9),
        PolicyIssue(file, path, POLICY_HIGHEST_BAND_END.format(label="decadent", max=1.5), 9),
    )


def test_band_starting_below_the_previous_band_is_an_error(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("wealthy", "0.60", "0.79"), band_line("wealthy", "0.30", "0.35")
    )

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_DESCENDING_BANDS.format(label="wealthy", min=0.3, prev="well-kept", pmin=0.4)
    assert report.errors == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.wealthy.min", message, 8),
    )


def test_overlapping_bands_are_an_error(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("modest", "0.20", "0.39"), band_line("modest", "0.10", "0.39")
    )

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_OVERLAPPING_BANDS.format(
        label="modest", min=0.1, max=0.39, prev="poor", pmin=0.0, pmax=0.19
    )
    assert message == "band 'modest' [0.1, 0.39] overlaps band 'poor' [0.0, 0.19]"
    assert report.errors == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.modest.min", message, 6),
    )


def test_lowest_band_not_starting_at_zero_is_an_error(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("poor", "0.0", "0.19"), band_line("poor", "0.05", "0.19")
    )

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_LOWEST_BAND_START.format(label="poor", min=0.05)
    assert report.errors == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.poor.min", message, 5),
    )


def test_highest_band_not_ending_at_one_is_an_error(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("decadent", "0.80", "1.0"), band_line("decadent", "0.80", "0.99")
    )

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_HIGHEST_BAND_END.format(label="decadent", max=0.99)
    assert report.errors == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.decadent.max", message, 9),
    )


# Warnings.


def test_gap_wider_than_one_hundredth_is_a_warning_only(tmp_path):
    thresholds = edit(
        THRESHOLDS, band_line("wealthy", "0.60", "0.79"), band_line("wealthy", "0.62", "0.79")
    )

    report = load(tmp_path, thresholds=thresholds)

    message = POLICY_BAND_GAP.format(
        gap=0.62 - 0.59, prev="well-kept", pmax=0.59, label="wealthy", min=0.62
    )
    assert report.errors == ()
    assert report.warnings == (
        PolicyIssue(thresholds_file(tmp_path), "axes.wealth.values.wealthy.min", message, 8),
    )
    assert report.policy.axis("wealth").label_for(0.61) == "well-kept"


def test_different_versions_are_a_warning_only(tmp_path):
    report = load(tmp_path, thresholds=edit(THRESHOLDS, "version: 0.1.0", "version: 0.2.0"))

    message = POLICY_VERSION_MISMATCH.format(version="0.2.0", axes_version="0.1.0")
    assert report.errors == ()
    assert report.warnings == (PolicyIssue(thresholds_file(tmp_path), "version", message, 1),)
    assert report.policy.version == "0.1.0"


def test_unknown_keys_are_warnings_only(tmp_path):
    axes = edit(AXES, "axes:\n", "owner: guild\naxes:\n")
    axes = edit(axes, "      type: ordinal\n", "      type: ordinal\n      direction: up\n")
    axes = edit(axes, "  wealth:\n", "  wealth:\n    colour: gold\n")
    thresholds = edit(THRESHOLDS, "    values:\n", "    note: coins\n    values:\n")
    thresholds = edit(thresholds, "poor: { min: 0.0,", "poor: { mid: 0.1, min: 0.0,")

    report = load(tmp_path, axes, thresholds)

    def unknown(key, expected):
        return POLICY_UNKNOWN_KEY.format(key=key, expected=expected)

    axes_path, thresholds_path = axes_file(tmp_path), thresholds_file(tmp_path)
    assert report.errors == ()
    assert report.warnings == (
        PolicyIssue(axes_path, "owner", unknown("owner", "version, axes, description"), 2),
        PolicyIssue(
            axes_path,
            "axes.wealth.colour",
            unknown("colour", "values, ordering, default, description"),
            5,
        ),
        PolicyIssue(
            axes_path, "axes.wealth.ordering.direction", unknown("direction", "type, values"), 9
        ),
        PolicyIssue(thresholds_path, "axes.wealth.note", unknown("note", "values"), 4),
        PolicyIssue(thresholds_path, "axes.wealth.values.poor.mid", unknown("mid", "min, max"), 6),
    )


# Reporting.


def test_every_problem_is_reported_in_file_then_document_order(tmp_path):
    axes = edit(AXES, "  wealth:\n", "  wealth:\n    default: 2\n") + NUMERIC_AXIS
    axes = edit(axes, "type: numeric", "type: linear")
    thresholds = edit(THRESHOLDS, "version: 0.1.0\n", "")
    thresholds = edit(
        thresholds, band_line("modest", "0.20", "0.39"), band_line("modest", "0.10", "0.39")
    )
    thresholds = edit(thresholds, band_line("poor", "0.0", "0.19"), band_line("poor", "0.0", "2"))

    report = load(tmp_path, axes, thresholds)

    axes_path, thresholds_path = axes_file(tmp_path), thresholds_file(tmp_path)
    overlap = POLICY_OVERLAPPING_BANDS.format(
        label="modest", min=0.1, max=0.39, prev="poor", pmin=0.0, pmax=2.0
    )
    assert report.errors == (
        PolicyIssue(axes_path, "axes.wealth.default", POLICY_INVALID_DEFAULT.format(value=2), 4),
        PolicyIssue(
            axes_path,
            "axes.age.ordering.type",
            POLICY_UNKNOWN_ORDERING_TYPE.format(value="linear", expected="ordinal, numeric"),
            11,
        ),
        PolicyIssue(thresholds_path, "version", POLICY_MISSING_KEY.format(key="version"), 1),
        PolicyIssue(
            thresholds_path,
            "axes.wealth.values.poor.max",
            POLICY_BOUND_OUT_OF_RANGE.format(bound="max", value=2.0),
            4,
        ),
        PolicyIssue(thresholds_path, "axes.wealth.values.modest.min", overlap, 5),
    )
    assert report.policy is None


def test_file_errors_sort_before_errors_in_a_later_file(tmp_path):
    report = load(tmp_path, edit(AXES, "type: ordinal", "type: fuzzy"), "version: [")

    assert report.errors == (
        PolicyIssue(
            axes_file(tmp_path),
            "axes.wealth.ordering.type",
            POLICY_UNKNOWN_ORDERING_TYPE.format(value="fuzzy", expected="ordinal, numeric"),
            6,
        ),
        PolicyIssue(
            thresholds_file(tmp_path),
            "",
            POLICY_MALFORMED_YAML.format(
                problem="expected the node content, but found '<stream end>'"
            ),
            1,
        ),
    )


def test_issue_text_names_file_line_and_key_path():
    assert str(PolicyIssue("a.yaml", "axes.x", "bad", 3)) == "a.yaml:3: axes.x: bad"
    assert str(PolicyIssue("a.yaml", "axes.x", "bad")) == "a.yaml: axes.x: bad"
    assert str(PolicyIssue("a.yaml", "", "bad", 1)) == "a.yaml:1: bad"
    assert PolicyIssue("a.yaml", "", "bad").as_dict() == {
        "file": "a.yaml",
        "key_path": "",
        "line": None,
        "message": "bad",
    }


def test_report_as_dict_is_json_serialisable(tmp_path):
    valid = load(tmp_path / "valid").as_dict()
    broken = load(
        tmp_path / "broken", edit(AXES, "type: ordinal", "type: fuzzy"), "- x\n"
    ).as_dict()

    assert json.loads(json.dumps(valid))["valid"] is True
    assert set(valid) == {
        "world_id",
        "directory",
        "valid",
        "axes",
        "ordering",
        "thresholds",
        "missing",
        "errors",
        "warnings",
        "policy_hash",
        "version",
        "thresholds_version",
    }
    assert valid["thresholds"]["wealth"]["poor"] == {"min": 0.0, "max": 0.19}
    decoded = json.loads(json.dumps(broken))
    assert decoded["valid"] is False
    assert [error["key_path"] for error in decoded["errors"]] == ["axes.wealth.ordering.type", ""]


def test_format_text_summarises_a_valid_world(tmp_path):
    report = load(tmp_path, AXES + NUMERIC_AXIS)

    text = report.format_text()

    assert text.splitlines() == [
        f"World: demo ({tmp_path / 'demo'})",
        "Status: OK",
        "Version: 0.1.0 (thresholds 0.1.0)",
        f"Hash: {report.policy_hash[:12]}",
        "Axes:",
        "  age: numeric ()",
        f"  wealth: ordinal ({LABEL_LIST})",
        "Missing: none",
    ]


def test_format_text_lists_every_error_and_warning(tmp_path):
    axes = AXES.split("    ordering:")[0]
    thresholds = edit(THRESHOLDS, "version: 0.1.0", "version: 0.2.0")
    thresholds = edit(
        thresholds, band_line("modest", "0.20", "0.39"), band_line("modest", "0.20", "1.5")
    )
    report = load(tmp_path, axes, thresholds)

    text = report.format_text()

    modest_max = POLICY_BOUND_OUT_OF_RANGE.format(bound="max", value=1.5)
    versions = POLICY_VERSION_MISMATCH.format(version="0.2.0", axes_version="0.1.0")
    assert text.splitlines() == [
        f"World: demo ({tmp_path / 'demo'})",
        "Status: 2 errors, 1 warning",
        "Version: 0.1.0 (thresholds 0.2.0)",
        f"Hash: {report.policy_hash[:12]}",
        "Axes:",
        "  wealth: no ordering",
        "Missing: ordering for axis 'wealth'",
        "Errors:",
        f"  {axes_file(tmp_path)}:3: axes.wealth.ordering: "
        + POLICY_MISSING_ORDERING.format(axis="wealth"),
        f"  {thresholds_file(tmp_path)}:6: axes.wealth.values.modest.max: {modest_max}",
        "Warnings:",
        f"  {thresholds_file(tmp_path)}:1: version: {versions}",
    ]


# Discovery.


def test_discover_worlds_lists_directories_with_policies_sorted(tmp_path):
    for name in ("zeta", "alpha"):
        (tmp_path / name / "policies").mkdir(parents=True)
    (tmp_path / "no_policies").mkdir()
    (tmp_path / "notes.txt").write_text("not a world", encoding="utf-8")

    assert discover_worlds(tmp_path) == ["alpha", "zeta"]


def test_discover_worlds_returns_empty_list_for_missing_directory(tmp_path):
    assert discover_worlds(tmp_path / "absent") == []


# Robustness.

YAML_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=6,
)


def key_paths(data: object, path: tuple = ()):
    """Yield the path of every key and list item under ``data``."""
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        yield (*path, key)
        yield from key_paths(value, (*path, key))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_random_mutations_never_raise_and_always_explain_invalidity(data):
    documents = {"axes": yaml.safe_load(AXES), "thresholds": yaml.safe_load(THRESHOLDS)}
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        document = documents[data.draw(st.sampled_from(["axes", "thresholds"]))]
        paths = list(key_paths(document))
        if not paths:
            continue
        *parents, key = data.draw(st.sampled_from(paths))
        container = document
        for parent in parents:
            container = container[parent]
        if data.draw(st.booleans()):
            container[key] = data.draw(YAML_VALUES)
        elif isinstance(container, dict):
            del container[key]

    with tempfile.TemporaryDirectory() as tmp:
        world = write_world(
            Path(tmp), yaml.safe_dump(documents["axes"]), yaml.safe_dump(documents["thresholds"])
        )
        report = load_world_policy(world)

    if report.is_valid:
        assert (report.policy.world_id, report.policy.policy_hash) == ("demo", report.policy_hash)
        assert report.policy.axis_names == report.axes
    else:
        assert report.policy is None
        assert all(issue.message for issue in report.errors)
    json.dumps(report.as_dict())
    assert report.format_text().splitlines()[0] == f"World: demo ({world})"


def test_a_world_is_parsed_once_per_content_and_an_edit_is_seen_at_once(tmp_path, monkeypatch):
    world = write_world(tmp_path)
    parses = []
    original = yaml_source._read_source
    monkeypatch.setattr(
        yaml_source, "_read_source", lambda *args: parses.append(args[0]) or original(*args)
    )
    monkeypatch.setattr(loader, "_read_source", yaml_source._read_source)

    first = load_world_policy(world)
    again = load_world_policy(world)
    assert again is first
    assert len(parses) == 2  # axes.yaml and thresholds.yaml, once

    # Same size, and possibly the same modification time: the content decides.
    path = world / "policies" / AXES_FILE
    path.write_text(path.read_text().replace("0.1.0", "0.1.1"))
    edited = load_world_policy(world)

    assert len(parses) == 4
    assert edited.version == "0.1.1"
    assert first.version == "0.1.0"
