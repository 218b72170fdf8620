"""Policy files that would cost the loader more than their size: anchors, huge files."""

import time

import pytest
from django.core.management import get_commands, load_command_class
from django.db import connections

from tests.conftest import table_state
from tests.worlds.policy_texts import AXES, THRESHOLDS, axes_file, edit, load, thresholds_file
from worlds.policies import (
    MAX_POLICY_FILE_BYTES,
    POLICY_FILE_TOO_LARGE,
    POLICY_YAML_ANCHOR,
    PolicyIssue,
)

# (file, text, key path, line, token): the first anchor or alias is refused where it is.
ANCHORED = {
    "anchor and merge alias": (
        "thresholds",
        edit(edit(THRESHOLDS, "poor: {", "poor: &band {"), "modest: {", "modest: { <<: *band,"),
        "axes.wealth.values.poor",
        5,
        "&band",
    ),
    "anchor alone": ("axes", edit(AXES, "version: 0.1.0", "version: &v 0.1.0"), "version", 1, "&v"),
    "alias that contains itself": (
        "axes",
        edit(AXES, "version: 0.1.0\n", "version: 0.1.0\ndescription: &loop [*loop]\n"),
        "description",
        2,
        "&loop",
    ),
    "undefined alias in a list": (
        "axes",
        edit(AXES, "    values: [poor, modest, well-kept, wealthy, decadent]", "    values: [*x]"),
        "axes.wealth.values.0",
        4,
        "*x",
    ),
}


def billion_laughs() -> str:
    """Return the "billion laughs": 342 bytes, 9**9 (387 million) strings once expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def exactly(size: int) -> str:
    """Return the valid axes.yaml padded with a comment to ``size`` bytes."""
    return AXES + "#" * (size - len(AXES) - 1) + "\n"


@pytest.mark.parametrize("case", ANCHORED)
def test_anchors_and_aliases_are_refused_at_their_file_key_path_and_line(tmp_path, case):
    which, text, key_path, line, token = ANCHORED[case]

    report = load(tmp_path, **{which: text})

    file = axes_file(tmp_path) if which == "axes" else thresholds_file(tmp_path)
    issue = PolicyIssue(file, key_path, POLICY_YAML_ANCHOR.format(token=token), line)
    assert report.errors == (issue,)
    assert str(issue) == f"{file}:{line}: {key_path}: {POLICY_YAML_ANCHOR.format(token=token)}"
    assert report.policy_hash is None


def test_the_billion_laughs_is_refused_at_once(tmp_path):
    text = billion_laughs()
    assert len(text.encode()) == 342

    started = time.perf_counter()
    report = load(tmp_path, axes=text)
    elapsed = time.perf_counter() - started

    message = POLICY_YAML_ANCHOR.format(token="&a")
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "a", message, 1),)
    assert elapsed < 0.5


def test_a_file_of_the_size_limit_loads(tmp_path):
    text = exactly(MAX_POLICY_FILE_BYTES)

    report = load(tmp_path, axes=text)

    assert len(text.encode()) == MAX_POLICY_FILE_BYTES
    assert report.errors == ()
    assert report.is_valid


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path):
    # One byte more, and that byte makes the YAML malformed: only the size is reported.
    text = exactly(MAX_POLICY_FILE_BYTES) + "["

    report = load(tmp_path, axes=text)

    message = POLICY_FILE_TOO_LARGE.format(limit=MAX_POLICY_FILE_BYTES)
    assert report.errors == (PolicyIssue(axes_file(tmp_path), "", message),)
    assert str(report.errors[0]) == f"{axes_file(tmp_path)}: {message}"
    assert report.policy_hash is None


@pytest.fixture
def run(capsys, monkeypatch):
    """Run ``manage.py <argv>`` in process; return (exit code, stdout, stderr)."""
    # run_from_argv closes every connection when it ends; in a test that would throw away
    # the test's transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*argv: str) -> tuple[int, str, str]:
        command = load_command_class(get_commands()[argv[0]], argv[0])
        try:
            command.run_from_argv(["manage.py", *argv])
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.mark.django_db
@pytest.mark.parametrize("refusal", ["anchor", "size"])
def test_sync_policies_exits_1_and_writes_nothing_for_a_refused_file(run, worlds_dir, refusal):
    path = worlds_dir / "alpha" / "policies" / "thresholds.yaml"
    text = path.read_text()
    if refusal == "anchor":
        path.write_text(edit(text, "poor: {", "poor: &band {"))
        expected = f"{path}:5: axes.wealth.values.poor: " + POLICY_YAML_ANCHOR.format(token="&band")
    else:
        path.write_text(text + "#" * MAX_POLICY_FILE_BYTES)
        expected = f"{path}: " + POLICY_FILE_TOO_LARGE.format(limit=MAX_POLICY_FILE_BYTES)
    before = table_state()

    code, out, err = run("sync_policies")

    assert code == 1
    assert err.splitlines()[-3:] == [
        "Errors:",
        f"  {expected}",
        "CommandError: policy errors in alpha; nothing was written",
    ]
    assert table_state() == before
