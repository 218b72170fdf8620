"""Policy files that cannot be read or parsed, and a top level of the wrong shape."""

import pytest
import yaml

from tests.worlds.policy_texts import (
    AXES,
    SEED_BANDS,
    THRESHOLDS,
    axes_file,
    edit,
    load,
    thresholds_file,
    write_world,
)
from worlds.policies import (
    AXES_FILE,
    POLICY_DUPLICATE_KEY,
    POLICY_EMPTY_FILE,
    POLICY_FILE_MISSING,
    POLICY_FILE_UNREADABLE,
    POLICY_INVALID_VERSION,
    POLICY_MALFORMED_YAML,
    POLICY_MISSING_KEY,
    POLICY_NO_AXES,
    POLICY_NOT_A_MAPPING,
    POLICY_YAML_TOO_DEEP,
    THRESHOLDS_FILE,
    PolicyIssue,
    load_world_policy,
    policy_content_hash,
)

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
    # Anchors and aliases are refused (test_policy_yaml_limits.py); an inline merge is not.
    thresholds = edit(THRESHOLDS, "modest: {", "modest: { <<: { min: 0.0, max: 0.19 },")

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
