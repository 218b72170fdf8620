"""Validation of the axes of axes.yaml: names, orderings, labels, defaults, descriptions."""

import pytest

from tests.worlds.policy_texts import (
    AXES,
    LABEL_LIST,
    LABELS,
    NUMERIC_AXIS,
    THRESHOLDS,
    axes_file,
    edit,
    load,
    thresholds_file,
)
from worlds.policies import (
    POLICY_DUPLICATE_LABEL,
    POLICY_INVALID_AXIS_NAME,
    POLICY_INVALID_DEFAULT,
    POLICY_INVALID_DESCRIPTION,
    POLICY_INVALID_LABEL,
    POLICY_INVALID_LABELS,
    POLICY_MISSING_KEY,
    POLICY_MISSING_ORDERING,
    POLICY_MISSING_THRESHOLDS,
    POLICY_NOT_A_MAPPING,
    POLICY_NUMERIC_WITH_THRESHOLDS,
    POLICY_NUMERIC_WITH_VALUES,
    POLICY_ORDERING_MISMATCH,
    POLICY_THRESHOLDS_FOR_UNKNOWN_AXIS,
    POLICY_UNKNOWN_ORDERING_TYPE,
    PolicyIssue,
)


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
