"""Validation of the bands of thresholds.yaml: bounds, order, overlaps and coverage."""

import pytest
import yaml

from tests.worlds.policy_texts import LABEL_LIST, THRESHOLDS, band_line, edit, load, thresholds_file
from worlds.policies import (
    POLICY_BOUND_OUT_OF_RANGE,
    POLICY_DESCENDING_BANDS,
    POLICY_HIGHEST_BAND_END,
    POLICY_INVALID_BOUND,
    POLICY_INVERTED_BAND,
    POLICY_LOWEST_BAND_START,
    POLICY_MISSING_BAND,
    POLICY_MISSING_KEY,
    POLICY_NOT_A_MAPPING,
    POLICY_OVERLAPPING_BANDS,
    POLICY_UNKNOWN_LABEL,
    PolicyIssue,
)


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
