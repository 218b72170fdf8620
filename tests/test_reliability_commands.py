"""Every bad argument to a management command: its exit code and message, nothing written.

Commands run through ``run_from_argv``, as ``manage.py`` runs them, so each test sees what
a person at the terminal sees: exit 2 with the usage for an argument argparse refuses,
exit 1 with ``CommandError: <message>`` for one the command refuses. ``docs/reliability.md``
lists these cases.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import get_commands, load_command_class
from django.db import connections

from ledger.services import apply_event
from tests.conftest import table_state
from tests.factories import CharacterFactory
from worlds.models import Character
from worlds.policies import POLICY_BOUND_OUT_OF_RANGE, POLICY_HIGHEST_BAND_END


@pytest.fixture
def run(capsys, monkeypatch, settings):
    """Run ``manage.py <argv>`` in process; return (exit code, stdout, stderr)."""
    # As a developer runs them: the test runner turns DEBUG off, which the demo and bench
    # commands refuse (tests/test_security.py tests that refusal).
    settings.DEBUG = True
    # run_from_argv closes every connection when it ends; in a test that would throw away
    # the test's transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)

    def run(*argv: str) -> tuple[int, str, str]:
        name = argv[0]
        command = load_command_class(get_commands()[name], name)
        try:
            command.run_from_argv(["manage.py", *argv])
            code = 0
        except SystemExit as exc:
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def history(synced):
    """A small ledger, so that a refused command has something it could have changed."""
    hero = CharacterFactory(name="hero")
    apply_event(world_id="alpha", event_type="tick", deltas={hero.pk: {"wealth": 0.1}})
    return hero


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# Arguments the command refuses: exit 1, "CommandError: <message>" on stderr. ---------------

REFUSED = [
    (
        "sync_policies unknown world",
        ["sync_policies", "gamma"],
        "unknown world(s) gamma: no policies directory under {worlds_dir}",
    ),
    (
        "verify_ledger unknown world",
        ["verify_ledger", "gamma"],
        "unknown world(s): gamma",
    ),
    (
        "verify_ledger unknown character",
        ["verify_ledger", "--character", "999999"],
        "unknown character 999999",
    ),
    (
        "verify_ledger negative character",
        ["verify_ledger", "--character", "-1"],
        "unknown character -1",
    ),
    (
        "rebuild_scores unknown world",
        ["rebuild_scores", "gamma"],
        "unknown world(s): gamma",
    ),
    (
        "rebuild_scores unknown character",
        ["rebuild_scores", "--character", "999999"],
        "unknown character 999999",
    ),
    (
        "refresh_snapshots unknown world",
        ["refresh_snapshots", "alpha", "gamma"],
        "unknown world(s): gamma",
    ),
    (
        "generate_ledger unsynced world",
        ["generate_ledger", "--world", "gamma", "--characters", "1", "--events", "1"],
        "world 'gamma' is not synced",
    ),
    (
        "generate_ledger zero characters",
        ["generate_ledger", "--world", "alpha", "--characters", "0"],
        "--characters and --events must be positive",
    ),
    (
        "generate_ledger zero events",
        ["generate_ledger", "--world", "alpha", "--characters", "1", "--events", "0"],
        "--characters and --events must be positive",
    ),
    (
        "generate_ledger negative events",
        ["generate_ledger", "--world", "alpha", "--characters", "1", "--events", "-5"],
        "--characters and --events must be positive",
    ),
    (
        "generate_ledger fewer events than characters",
        ["generate_ledger", "--world", "alpha", "--characters", "10", "--events", "5"],
        "events must be at least characters (one genesis event each)",
    ),
    (
        "generate_ledger existing with characters",
        ["generate_ledger", "--world", "alpha", "--existing", "--characters", "2"],
        "--existing adds events to existing characters; omit --characters",
    ),
    (
        "generate_ledger existing in a world without characters",
        ["generate_ledger", "--world", "beta", "--existing", "--events", "5"],
        "world 'beta' has no characters to add events to",
    ),
]


@pytest.mark.parametrize(
    "argv, message", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_refused_arguments_exit_1_with_a_command_error_and_write_nothing(
    run, history, worlds_dir, argv, message
):
    before = table_state()

    code, out, err = run(*argv)

    assert code == 1
    assert last_line(err) == "CommandError: " + message.format(worlds_dir=worlds_dir)
    assert table_state() == before


def test_sync_policies_without_any_world_exits_1(run, settings, tmp_path):
    settings.PIPEWORKS_WORLDS_DIR = tmp_path / "missing"

    code, out, err = run("sync_policies")

    assert code == 1
    assert last_line(err) == f"CommandError: no worlds found under {tmp_path / 'missing'}"


def test_sync_policies_with_invalid_files_exits_1_with_each_error_and_writes_nothing(
    run, history, worlds_dir
):
    path = worlds_dir / "alpha" / "policies" / "thresholds.yaml"
    path.write_text(path.read_text().replace("max: 1.0 }", "max: 1.5 }", 1))
    before = table_state()

    code, out, err = run("sync_policies")

    assert code == 1
    where = f"{path}:9: axes.wealth.values.decadent.max"
    assert err.splitlines()[-4:] == [
        "Errors:",
        f"  {where}: " + POLICY_BOUND_OUT_OF_RANGE.format(bound="max", value=1.5),
        f"  {where}: " + POLICY_HIGHEST_BAND_END.format(label="decadent", max=1.5),
        "CommandError: policy errors in alpha; nothing was written",
    ]
    assert table_state() == before


def test_verify_ledger_exits_1_when_the_ledger_does_not_verify(run, history):
    Character.objects.filter(pk=history.pk).update(current_state_json={})

    code, out, err = run("verify_ledger")

    assert code == 1
    assert out.startswith(f"snapshot: current state, character {history.pk}: expected {{")
    assert re.fullmatch(
        re.escape("replayed 4 deltas in 2 events for 1 characters and 3 scores: 1 discrepancies")
        + r" \(\d+\.\d s\)",
        last_line(out),
    )
    assert last_line(err) == "CommandError: the ledger does not verify"


# Arguments argparse refuses: exit 2, the usage and the error on stderr. -----------------

MALFORMED = [
    (
        "sync_policies --format xml",
        ["sync_policies", "--format", "xml"],
        "argument --format: invalid choice: 'xml' (choose from 'text', 'json')",
    ),
    (
        "sync_policies unknown option",
        ["sync_policies", "--prune"],
        "unrecognized arguments: --prune",
    ),
    (
        "verify_ledger --format xml",
        ["verify_ledger", "--format", "xml"],
        "argument --format: invalid choice: 'xml' (choose from 'text', 'json')",
    ),
    (
        "verify_ledger --character abc",
        ["verify_ledger", "--character", "abc"],
        "argument --character: invalid int value: 'abc'",
    ),
    (
        "rebuild_scores --character abc",
        ["rebuild_scores", "--character", "abc"],
        "argument --character: invalid int value: 'abc'",
    ),
    (
        "rebuild_scores unknown option",
        ["rebuild_scores", "--repair"],
        "unrecognized arguments: --repair",
    ),
    (
        "refresh_snapshots unknown option",
        ["refresh_snapshots", "--all"],
        "unrecognized arguments: --all",
    ),
    (
        "generate_ledger --events abc",
        ["generate_ledger", "--events", "abc"],
        "argument --events: invalid int value: 'abc'",
    ),
    (
        "generate_ledger --characters 1.5",
        ["generate_ledger", "--characters", "1.5"],
        "argument --characters: invalid int value: '1.5'",
    ),
    (
        "generate_ledger --seed abc",
        ["generate_ledger", "--seed", "abc"],
        "argument --seed: invalid int value: 'abc'",
    ),
    (
        "load_demo unknown option",
        ["load_demo", "--bogus"],
        "unrecognized arguments: --bogus",
    ),
    (
        "load_demo --username without a value",
        ["load_demo", "--username"],
        "argument --username: expected one argument",
    ),
]


@pytest.mark.parametrize(
    "argv, message", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED]
)
def test_malformed_arguments_exit_2_with_the_usage_and_write_nothing(run, history, argv, message):
    before = table_state()

    code, out, err = run(*argv)

    assert code == 2
    assert err.startswith("usage: manage.py " + argv[0])
    assert last_line(err) == f"manage.py {argv[0]}: error: {message}"
    assert table_state() == before


# load_demo ------------------------------------------------------------------------------


def test_load_demo_before_sync_policies_fails_cleanly_and_writes_nothing(run, db):
    before = table_state()

    code, out, err = run("load_demo")

    assert code == 1
    assert last_line(err) == (
        "CommandError: unknown world 'pipeworks_web': run `manage.py sync_policies` first"
    )
    assert table_state() == before
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    "username, message",
    [
        ("", "This field cannot be blank."),
        ("x" * 151, "Ensure this value has at most 150 characters (it has 151)."),
    ],
    ids=["empty", "too long"],
)
def test_load_demo_refuses_a_bad_username_and_writes_nothing(run, db, username, message):
    before = table_state()

    code, out, err = run("load_demo", "--username", username)

    assert code == 1
    assert last_line(err) == f"CommandError: --username {username!r}: {message}"
    assert table_state() == before
    assert not get_user_model().objects.exists()
