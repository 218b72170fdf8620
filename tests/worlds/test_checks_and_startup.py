import logging
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import Event
from worlds.models import Character
from worlds.startup import log_policy_reports


def break_alpha(worlds_dir):
    path = worlds_dir / "alpha/policies/thresholds.yaml"
    path.write_text(path.read_text().replace("poor: { min: 0.0,", "poor: { min: 0.05,"))


@pytest.mark.django_db
def test_check_fails_when_a_world_policy_has_errors(worlds_dir):
    break_alpha(worlds_dir)

    with pytest.raises(SystemCheckError) as excinfo:
        call_command("check")

    assert "worlds.E001" in str(excinfo.value)
    assert "world 'alpha'" in str(excinfo.value)
    assert "axes.wealth.values.poor.min" in str(excinfo.value)


@pytest.mark.django_db
def test_check_warns_when_the_registry_is_out_of_date(synced, worlds_dir, capsys):
    path = worlds_dir / "beta/policies/axes.yaml"
    path.write_text(path.read_text().replace("default: 0.1", "default: 0.2"))

    call_command("check", "--database", "default")

    err = capsys.readouterr().err
    assert "worlds.W001" in err
    assert "world 'beta'" in err
    assert "world 'alpha'" not in err


@pytest.mark.django_db
def test_check_is_clean_when_registry_mirrors_the_files(synced, capsys):
    call_command("check", "--database", "default")
    captured = capsys.readouterr()
    assert "worlds." not in captured.out + captured.err


@pytest.mark.django_db
def test_startup_logs_each_world_report_once(synced, caplog):
    with caplog.at_level(logging.INFO, logger="pipeworks.policy"):
        log_policy_reports()

    ready = [r.getMessage() for r in caplog.records if "ready:" in r.getMessage()]
    assert len(ready) == 2
    assert ready[0].startswith("world alpha ready: 3 axes (health, luck, wealth), version 1.0.0")
    assert ready[0].endswith("registry in sync")


@pytest.mark.django_db
def test_startup_logs_an_invalid_world_as_not_ready(worlds_dir, caplog):
    break_alpha(worlds_dir)
    with caplog.at_level(logging.INFO, logger="pipeworks.policy"):
        log_policy_reports()

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "world alpha is NOT ready" in errors[0].getMessage()
    assert "world beta ready" in caplog.text
    assert "registry OUT OF DATE" in caplog.text


@pytest.mark.django_db
def test_shipped_worlds_are_valid_and_load_demo_creates_history_once(settings):
    settings.PIPEWORKS_WORLDS_DIR = settings.BASE_DIR / "data" / "worlds"
    call_command("sync_policies", stdout=StringIO())
    out = StringIO()

    call_command("load_demo", stdout=out)

    events = Event.objects.count()
    assert "demo data: 7 character(s) created" in out.getvalue()
    assert "staff login: admin / " in out.getvalue()
    assert set(Character.objects.values_list("world_id", flat=True)) == {
        "pipeworks_web",
        "daily_undertaking",
    }
    assert events >= 7 * 25
    assert get_user_model().objects.get(username="admin").is_staff

    call_command("load_demo", stdout=out)
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
    assert "worlds.W001" not in capsys.readouterr().err  # the registry needs --database

    break_alpha(worlds_dir)
    with pytest.raises(SystemCheckError, match="worlds.E001"):
        call_command("check")
