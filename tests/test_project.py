"""The project as deployed: settings from the environment, pinned dependencies."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.core.checks.security.base import W009

ROOT = Path(__file__).resolve().parent.parent

PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "a-production-secret-" + "x7Gq2Lm9Pz4Rt8Wv1Yb6Nc3Kd5Hf0Js" * 2,
    "ALLOWED_HOSTS": "axis.example.com",
    "PIPEWORKS_HTTPS": "1",
    "PIPEWORKS_ENV": "production",
    "DATABASE_URL": "sqlite:///:memory:",
}


NEEDS_SECRET_KEY = (
    "SECRET_KEY must be set to a secret of 50+ characters (not the development key) "
    "whenever DEBUG is off; for development, set DEBUG=1 instead"
)


def manage(*args, env=None):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"


def test_check_deploy_flags_the_development_defaults():
    # With DEBUG off the development key does not even start (tests/test_security.py).
    env = {"DEBUG": "1", "SECRET_KEY": ""}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 1
    # The development SECRET_KEY; the other warnings depend on the environment's HTTPS.
    assert f"?: (security.W009) {W009.msg}" in result.stderr.splitlines()


@pytest.mark.parametrize(
    "override, message",
    [
        ({"SECRET_KEY": ""}, NEEDS_SECRET_KEY),
        ({"SECRET_KEY": "short"}, NEEDS_SECRET_KEY),
        ({"DEBUG": "1"}, "PIPEWORKS_ENV=production refuses DEBUG=1"),
        ({"PIPEWORKS_ENV": "staging"}, "PIPEWORKS_ENV must be 'development' or 'production'"),
    ],
    ids=["no secret key", "short secret key", "debug on", "unknown environment"],
)
def test_production_settings_refuse_unsafe_values(override, message):
    result = manage("check", env={**PRODUCTION_ENV, **override})

    assert result.returncode == 1
    last_line = result.stderr.splitlines()[-1]
    assert last_line == f"django.core.exceptions.ImproperlyConfigured: {message}"


def test_sqlite_is_configured_for_concurrent_writers():
    result = manage(
        "shell",
        "-c",
        "from django.db import connection as c; c.ensure_connection(); cur = c.cursor();"
        "print(cur.execute('PRAGMA journal_mode').fetchone()[0],"
        " cur.execute('PRAGMA busy_timeout').fetchone()[0],"
        " cur.execute('PRAGMA synchronous').fetchone()[0],"
        " c.settings_dict['OPTIONS']['transaction_mode'])",
        env={"DATABASE_URL": f"sqlite:///{ROOT / 'db-settings-test.sqlite3'}"},
    )
    for leftover in ROOT.glob("db-settings-test.sqlite3*"):
        leftover.unlink()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-4:] == ["wal", "20000", "2", "IMMEDIATE"]


def test_database_url_selects_postgresql():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['ENGINE'], d['NAME'], d['HOST'], d['PORT'])",
        env={"DATABASE_URL": "postgres://u:p@db.example.com:6543/ledger"},
    )
    assert result.stdout.split()[-4:] == [
        "django.db.backends.postgresql",
        "ledger",
        "db.example.com",
        "6543",
    ]


def test_the_options_of_database_url_are_kept_beside_the_projects():
    # Found by the crash test: the project's options used to replace the URL's, so
    # ?sslmode=require was silently dropped.
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; o = settings.DATABASES['default']['OPTIONS'];"
        "print(o['sslmode'], o['server_side_binding'])",
        env={"DATABASE_URL": "postgres://u:p@db.example.com:6543/ledger?sslmode=require"},
    )
    assert result.stdout.split()[-2:] == ["require", "True"], result.stderr


def test_every_declared_dependency_is_pinned_in_the_lock_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    pinned = {
        re.split(r"==", line)[0].lower().replace("_", "-")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    }
    for requirement in declared:
        name = re.split(r"[\[<>=!~ ]", requirement)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is not pinned in requirements.lock"
        if "[binary]" in requirement:
            assert f"{name}-binary" in pinned
