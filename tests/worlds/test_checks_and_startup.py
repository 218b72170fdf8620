import getpass
import logging
import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from ledger.models import Event
from worlds.models import Character, World
from worlds.policies.validation import POLICY_LOWEST_BAND_START
from worlds.selectors import list_policy_reports
from worlds.startup import log_policy_reports

NO_ISSUES = "System check identified no issues (0 silenced).\n"


def break_alpha(worlds_dir) -> str:
    """Make alpha's lowest wealth band start above 0; return the issue the report names."""
    path = worlds_dir / "alpha/policies/thresholds.yaml"
    path.write_text(path.read_text().replace("poor: { min: 0.0,", "poor: { min: 0.05,"))
    band = POLICY_LOWEST_BAND_START.format(label="poor", min=0.05)
    return f"{path}:5: axes.wealth.values.poor.min: {band}"


def policy_error(issue: str) -> str:
    return f"(worlds.E001) world 'alpha': policy has 1 error(s): {issue}\n"


@pytest.mark.django_db
def test_check_fails_when_a_world_policy_has_errors(worlds_dir):
    issue = break_alpha(worlds_dir)

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")

    assert policy_error(issue) in str(excinfo.value)
    assert str(excinfo.value).endswith("System check identified 1 issue (0 silenced).")


@pytest.mark.django_db
def test_check_warns_when_the_registry_is_out_of_date(synced, worlds_dir, capsys):
    path = worlds_dir / "beta/policies/axes.yaml"
    path.write_text(path.read_text().replace("default: 0.1", "default: 0.2"))

    call_command("check", "--database", "default")

    err = capsys.readouterr().err
    assert err == (
        "System check identified some issues:\n\n"
        "WARNINGS:\n"
        "?: (worlds.W001) world 'beta': the axis registry is out of date "
        "(its policy hash differs from the files)\n"
        "\tHINT: Run `manage.py sync_policies beta`.\n\n"
        "System check identified 1 issue (0 silenced).\n"
    )


@pytest.mark.django_db
def test_check_is_clean_when_registry_mirrors_the_files(synced, capsys):
    call_command("check", "--database", "default")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (NO_ISSUES, "")


@pytest.mark.django_db
def test_startup_logs_each_world_report_once(synced, caplog):
    with caplog.at_level(logging.INFO, logger="pipeworks.policy"):
        log_policy_reports()

    hashes = dict(World.objects.values_list("world_id", "policy_hash"))
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "INFO",
            "world alpha ready: 3 axes (health, luck, wealth), version 1.0.0, "
            f"hash {hashes['alpha'][:12]}, 0 warning(s); registry in sync",
        ),
        (
            "INFO",
            "world beta ready: 2 axes (morale, wealth), version 2.0.0, "
            f"hash {hashes['beta'][:12]}, 0 warning(s); registry in sync",
        ),
    ]


@pytest.mark.django_db
def test_startup_logs_an_invalid_world_as_not_ready(worlds_dir, caplog):
    issue = break_alpha(worlds_dir)
    with caplog.at_level(logging.INFO, logger="pipeworks.policy"):
        log_policy_reports()

    assert [r.levelname for r in caplog.records] == ["ERROR", "INFO"]
    alpha, beta = (r.getMessage() for r in caplog.records)
    # The full report follows, as `sync_policies` prints it.
    assert alpha.splitlines()[0] == "world alpha is NOT ready:"
    assert alpha.splitlines()[-2:] == ["Errors:", f"  {issue}"]
    beta_hash = {r.world_id: r.policy_hash for r in list_policy_reports()}["beta"]
    assert beta == (
        f"world beta ready: 2 axes (morale, wealth), version 2.0.0, hash {beta_hash[:12]}, "
        "0 warning(s); registry OUT OF DATE: run `manage.py sync_policies beta`"
    )


@pytest.mark.django_db
def test_shipped_worlds_are_valid_and_load_demo_creates_history_once(settings):
    settings.PIPEWORKS_WORLDS_DIR = settings.BASE_DIR / "data" / "worlds"
    settings.DEBUG = True  # as `make serve` runs load_demo
    call_command("sync_policies", stdout=StringIO())
    out = StringIO()

    call_command("load_demo", stdout=out)

    events = Event.objects.count()
    assert re.fullmatch(
        r"demo data: 7 character\(s\) created\nstaff login: admin / [A-Za-z0-9_-]{16}\n"
        r"inspector login: inspector / \S+\ngame master login: gamemaster / \S+\n",
        out.getvalue(),
    )
    assert set(Character.objects.values_list("world_id", flat=True)) == {
        "pipeworks_web",
        "daily_undertaking",
    }
    assert events == 7 * (1 + 25)  # a genesis event and 25 demo events each
    # Provenance: the command (and the OS user that ran it) wrote the history, the system
    # the creations.
    by_source = dict(
        Event.objects.values_list("source").annotate(n=Count("id")).values_list("source", "n")
    )
    assert by_source == {"system": 7, "command": 7 * 25}
    actors = set(Event.objects.filter(source="command").values_list("actor_name", flat=True))
    assert actors == {f"manage.py load_demo (os user {getpass.getuser()})"}
    assert get_user_model().objects.get(username="admin").is_staff

    out = StringIO()
    call_command("load_demo", stdout=out)
    assert out.getvalue().splitlines()[0] == "demo data: 0 character(s) created"
    assert Event.objects.count() == events


@pytest.mark.django_db
def test_a_plain_check_reads_no_database_and_still_fails_on_a_broken_policy(
    synced, worlds_dir, capsys
):
    path = worlds_dir / "beta/policies/axes.yaml"
    path.write_text(path.read_text().replace("default: 0.1", "default: 0.2"))

    with CaptureQueriesContext(connection) as ctx:
        call_command("check")
    assert ctx.captured_queries == []
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (NO_ISSUES, "")  # the registry needs --database

    issue = break_alpha(worlds_dir)
    with pytest.raises(SystemCheckError, match=re.escape(policy_error(issue))):
        call_command("check")
