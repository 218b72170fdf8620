"""The policy loader on valid worlds: the report, the policy, label resolution, discovery."""

import pytest
import yaml

from tests.worlds.policy_texts import (
    AXES,
    LABELS,
    NUMERIC_AXIS,
    SEED_BANDS,
    THRESHOLDS,
    band_line,
    edit,
    load,
    write_world,
)
from worlds.policies import (
    AXES_FILE,
    DEFAULT_AXIS_SCORE,
    AxisPolicy,
    Band,
    discover_worlds,
    load_world_policy,
    loader,
    policy_content_hash,
    yaml_source,
)

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


# Discovery.


def test_discover_worlds_lists_directories_with_policies_sorted(tmp_path):
    for name in ("zeta", "alpha"):
        (tmp_path / name / "policies").mkdir(parents=True)
    (tmp_path / "no_policies").mkdir()
    (tmp_path / "notes.txt").write_text("not a world", encoding="utf-8")

    assert discover_worlds(tmp_path) == ["alpha", "zeta"]


def test_discover_worlds_returns_empty_list_for_missing_directory(tmp_path):
    assert discover_worlds(tmp_path / "absent") == []


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
