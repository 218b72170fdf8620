"""What the policy validator warns of without invalidating the world."""

from tests.worlds.policy_texts import (
    AXES,
    THRESHOLDS,
    axes_file,
    band_line,
    edit,
    load,
    thresholds_file,
)
from worlds.policies import (
    POLICY_BAND_GAP,
    POLICY_UNKNOWN_KEY,
    POLICY_VERSION_MISMATCH,
    PolicyIssue,
)


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
            unknown("colour", "values, ordering, default, description, drift"),
            5,
        ),
        PolicyIssue(
            axes_path, "axes.wealth.ordering.direction", unknown("direction", "type, values"), 9
        ),
        PolicyIssue(thresholds_path, "axes.wealth.note", unknown("note", "values"), 4),
        PolicyIssue(thresholds_path, "axes.wealth.values.poor.mid", unknown("mid", "min, max"), 6),
    )
