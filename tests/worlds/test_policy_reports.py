"""How a policy report orders and formats its issues: as text, as a dict, as JSON."""

import json

from tests.worlds.policy_texts import (
    AXES,
    LABEL_LIST,
    NUMERIC_AXIS,
    THRESHOLDS,
    axes_file,
    band_line,
    edit,
    load,
    thresholds_file,
)
from worlds.policies import (
    POLICY_BOUND_OUT_OF_RANGE,
    POLICY_INVALID_DEFAULT,
    POLICY_MALFORMED_YAML,
    POLICY_MISSING_KEY,
    POLICY_MISSING_ORDERING,
    POLICY_OVERLAPPING_BANDS,
    POLICY_UNKNOWN_ORDERING_TYPE,
    POLICY_VERSION_MISMATCH,
    PolicyIssue,
)


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
