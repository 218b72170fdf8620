"""The ``drift:`` of an axis in axes.yaml: what is valid, and each error's file, key and line."""

import pytest

from tests.worlds.policy_texts import AXES, NUMERIC_AXIS, THRESHOLDS, axes_file, edit, load
from worlds.policies import (
    MAX_DRIFT_PERIOD_DAYS,
    POLICY_INVALID_DRIFT_PERIOD,
    POLICY_INVALID_DRIFT_RATE,
    POLICY_INVALID_DRIFT_TOWARD,
    POLICY_MISSING_KEY,
    POLICY_NOT_A_MAPPING,
    POLICY_UNKNOWN_KEY,
    Drift,
    PolicyIssue,
    parse_period,
)


def with_drift(drift: str, axes: str = AXES) -> str:
    """axes.yaml with ``drift: <drift>`` on the wealth axis (line 4)."""
    return edit(axes, "  wealth:\n", f"  wealth:\n    drift: {drift}\n")


@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ("{ rate: 0.01, every: 1d }", Drift(0.01, 86_400)),
        ("{ rate: -0.005, every: 30s }", Drift(-0.005, 30)),
        ("{ rate: 0.02, every: 1d, toward: 0.5 }", Drift(0.02, 86_400, 0.5)),
        ("{ rate: 0.000001, every: PT1H, toward: 0 }", Drift(0.000001, 3_600, 0.0)),
        ("{ rate: 1, every: P1W }", Drift(1.0, 604_800)),
        ("{ rate: 0, every: 15m }", Drift(0.0, 900)),
    ],
)
def test_a_valid_drift_is_in_the_policy(tmp_path, drift, expected):
    report = load(tmp_path, with_drift(drift))

    assert report.errors == ()
    assert report.policy.axis("wealth").drift == expected


def test_a_numeric_axis_may_drift_and_the_hash_covers_drift(tmp_path):
    numeric = AXES + edit(
        NUMERIC_AXIS, "  age:\n", "  age:\n    drift: { rate: 0.01, every: 1d }\n"
    )
    plain = load(tmp_path, AXES + NUMERIC_AXIS).policy_hash

    report = load(tmp_path, numeric)

    assert report.errors == ()
    assert report.policy.axis("age").drift == Drift(0.01, 86_400)
    assert report.policy_hash != plain


@pytest.mark.parametrize(
    ("drift", "key", "message"),
    [
        ("{ rate: abc, every: 1d }", "rate", POLICY_INVALID_DRIFT_RATE.format(value="abc")),
        ("{ rate: .nan, every: 1d }", "rate", None),
        ("{ rate: true, every: 1d }", "rate", POLICY_INVALID_DRIFT_RATE.format(value=True)),
        ("{ rate: 1.5, every: 1d }", "rate", POLICY_INVALID_DRIFT_RATE.format(value=1.5)),
        (
            "{ rate: 0.0000001, every: 1d }",
            "rate",
            POLICY_INVALID_DRIFT_RATE.format(value=0.0000001),
        ),
        ("{ every: 1d }", "rate", POLICY_MISSING_KEY.format(key="rate")),
        ("{ rate: 0.01 }", "every", POLICY_MISSING_KEY.format(key="every")),
        ("{ rate: 0.01, every: 0s }", "every", None),
        ("{ rate: 0.01, every: -1d }", "every", None),
        ("{ rate: 0.01, every: 1.5h }", "every", None),
        ("{ rate: 0.01, every: 60 }", "every", None),
        ("{ rate: 0.01, every: P1M }", "every", None),
        ("{ rate: 0.01, every: 3651d }", "every", None),
        ("{ rate: 0.01, every: 1d, toward: 1.5 }", "toward", None),
        ("{ rate: 0.01, every: 1d, toward: -0.1 }", "toward", None),
        ("{ rate: 0.01, every: 1d, toward: high }", "toward", None),
    ],
)
def test_a_bad_drift_is_an_error_naming_file_key_and_line(tmp_path, drift, key, message):
    report = load(tmp_path, with_drift(drift))

    assert [(e.file, e.key_path, e.line) for e in report.errors] == [
        (axes_file(tmp_path), f"axes.wealth.drift.{key}", 4)
    ]
    templates = {
        "rate": POLICY_INVALID_DRIFT_RATE.split("{")[0],
        "every": POLICY_INVALID_DRIFT_PERIOD.split("{")[0],
        "toward": POLICY_INVALID_DRIFT_TOWARD.split("{")[0],
    }
    error = report.errors[0].message
    assert error == message if message else error.startswith(templates[key])
    assert report.policy is None


def test_a_period_error_names_the_limits(tmp_path):
    report = load(tmp_path, with_drift("{ rate: 0.01, every: 0s }"))

    assert report.errors[0].message == POLICY_INVALID_DRIFT_PERIOD.format(
        value="0s", max_days=MAX_DRIFT_PERIOD_DAYS
    )


def test_drift_that_is_not_a_mapping_is_an_error(tmp_path):
    report = load(tmp_path, with_drift("fast"))

    assert report.errors == (
        PolicyIssue(
            axes_file(tmp_path), "axes.wealth.drift", POLICY_NOT_A_MAPPING.format(kind="str"), 4
        ),
    )


def test_an_unknown_drift_key_is_a_warning(tmp_path):
    report = load(tmp_path, with_drift("{ rate: 0.01, every: 1d, jitter: 2 }"), THRESHOLDS)

    assert report.errors == ()
    assert report.warnings == (
        PolicyIssue(
            axes_file(tmp_path),
            "axes.wealth.drift.jitter",
            POLICY_UNKNOWN_KEY.format(key="jitter", expected="rate, every, toward"),
            4,
        ),
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("1h", 3_600),
        ("1d", 86_400),
        ("7d", 604_800),
        ("2w", 1_209_600),
        ("PT1H", 3_600),
        ("P1DT12H", 129_600),
        ("PT90S", 90),
        ("P1W", 604_800),
        ("0s", None),
        ("P", None),
        ("PT", None),
        ("P1DT", None),
        ("P1Y", None),
        ("1 d", None),
        (3600, None),
    ],
)
def test_periods_are_whole_seconds_of_short_or_iso_8601_form(text, seconds):
    assert parse_period(text) == seconds


def test_a_drift_describes_itself():
    assert Drift(0.01, 86_400).describe() == "+0.01 every 1d"
    assert Drift(-0.02, 5_400, 0.5).describe() == "-0.02 every 90m toward 0.5"
