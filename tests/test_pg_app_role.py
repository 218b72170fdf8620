"""On PostgreSQL the application runs as a role that owns nothing (docs/security.md).

A private cluster (``tests/pgcluster.py``; roles are cluster-wide, so never the suite's
server) gets an owner role, which runs ``migrate``, ``sync_policies`` and
``grant_app_role app --execute``, and an application role ``app``. As ``app``, the
product runs for real under gunicorn (a game master logs in and posts an event), and
PostgreSQL's permission system, not the ledger's trigger, refuses every way around the
append-only guard: disabling, dropping or replacing its triggers, updating, deleting,
truncating the ledger. Runs in the PostgreSQL pass of the suite (the ``postgres`` marker)
and needs PostgreSQL's server binaries; ``REQUIRE_POSTGRES=1`` turns their absence into a
failure.
"""

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.live import LIVE_SECRET_KEY, ROOT, Gunicorn
from tests.pgcluster import pg_cluster  # noqa: F401 (the fixture)

pytestmark = pytest.mark.postgres

FIXTURE_WORLDS = Path(__file__).parent / "fixtures" / "worlds"
DATABASE = "pipeworks"
PASSWORD = "gm-password-for-this-test-only"  # noqa: S105
PERMISSION_DENIED = "42501"  # insufficient_privilege; the guard's trigger raises 23001


def manage(url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "DEBUG": "0",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or LIVE_SECRET_KEY,
            "PIPEWORKS_WORLDS_DIR": str(FIXTURE_WORLDS),
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def deployed(pg_cluster):  # noqa: F811
    """The product deployed as docs/security.md says: migrated by the owner, run as app."""
    pg_cluster.psql("CREATE ROLE owner LOGIN")
    pg_cluster.psql("CREATE ROLE app LOGIN")
    pg_cluster.psql(f"CREATE DATABASE {DATABASE} OWNER owner")
    owner = pg_cluster.url("owner", DATABASE)
    manage(owner, "migrate", "-v0")
    manage(owner, "sync_policies", "alpha", "-v0")
    manage(owner, "grant_app_role", "app", "--execute")
    return pg_cluster, owner, pg_cluster.url("app", DATABASE)


def test_the_product_runs_as_a_role_that_owns_nothing(deployed, tmp_path):
    cluster, owner, app = deployed
    owned = cluster.psql(
        "SELECT count(*) FROM pg_class WHERE relowner = 'app'::regrole", db=DATABASE
    )
    assert owned == [(0,)]

    created = manage(
        app,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "from django.contrib.auth.models import Group; "
        "from worlds.services import create_character; "
        f"user = get_user_model().objects.create_user('gm', password='{PASSWORD}', "
        "is_staff=True); "
        "user.groups.add(Group.objects.get(name='Game masters')); "
        "print('character', create_character(world_id='alpha', name='Ada').pk)",
    )
    character = int(re.search(r"character (\d+)", created.stdout).group(1))

    server = Gunicorn({"DATABASE_URL": app}, workers=1, log_path=tmp_path / "gunicorn.log")
    try:
        client = logged_in(server.url)
        status, body = client.send(
            f"/admin/characters/{character}/axis-events",
            {"event_type": "loot_found", "deltas": {"wealth": 0.1}, "idempotency_key": "k1"},
        )
        assert status == 201, body
        status, state = client.send(f"/admin/characters/{character}/axis-state")
        assert status == 200, state
        # The change feed reads the event id sequence: USAGE is enough (found in review:
        # SELECT on it was a 500 for this role).
        status, feed = client.send("/admin/worlds/alpha/events")
        assert status == 200, feed
        assert len(feed["events"]) == 2
    finally:
        server.stop()

    # The character's genesis event and the posted one, each with its deltas.
    assert cluster.psql("SELECT count(*) FROM event", db=DATABASE) == [(2,)]
    assert "clean" in manage(app, "verify_ledger").stdout


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE event DISABLE TRIGGER USER",
        "ALTER TABLE event_metadata DISABLE TRIGGER event_metadata_append_only",
        "DROP TRIGGER event_append_only ON event",
        "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger "
        "AS $$ BEGIN RETURN OLD; END $$ LANGUAGE plpgsql",
        "SET session_replication_role = replica",
        "UPDATE event SET actor_name = 'someone else'",
        "UPDATE event_entity_axis_delta SET delta = 1",
        "DELETE FROM event",
        "DELETE FROM event_metadata",
        "TRUNCATE event CASCADE",
        "DROP TABLE event CASCADE",
        "ALTER TABLE event OWNER TO app",
    ],
)
def test_postgresql_refuses_the_app_role_every_way_around_the_guard(deployed, statement):
    cluster, _, _ = deployed

    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        cluster.psql(statement, user="app", db=DATABASE)

    assert refused.value.sqlstate == PERMISSION_DENIED
    assert trigger_states(cluster) == {"O"}  # every guard trigger still enabled


def test_the_owner_could_switch_the_guard_off_which_is_why_the_server_must_not_be_it(deployed):
    cluster, _, _ = deployed

    with cluster.connect("owner", DATABASE, autocommit=False) as connection:
        connection.execute("ALTER TABLE event DISABLE TRIGGER USER")
        assert "D" in {row[0] for row in connection.execute(TRIGGERS).fetchall()}
        connection.rollback()

    assert trigger_states(cluster) == {"O"}


def test_grant_app_role_refuses_a_role_that_could_still_change_the_ledger(deployed):
    cluster, owner, _ = deployed
    cluster.psql("CREATE ROLE member LOGIN IN ROLE owner")
    cluster.psql("CREATE ROLE boss LOGIN SUPERUSER")

    for role, message in [
        ("member", 'role "member" owns table '),
        ("boss", 'role "boss" is a superuser'),
        ("ghost", 'role "ghost" does not exist'),
        ("owner", 'role "owner" is the role running this command'),
    ]:
        result = manage(owner, "grant_app_role", role, "--execute", check=False)
        assert result.returncode == 1
        assert message in result.stderr

    cluster.psql("GRANT UPDATE ON event TO PUBLIC", user="owner", db=DATABASE)
    try:
        result = manage(owner, "grant_app_role", "app", "--execute", check=False)
        assert result.returncode == 1
        assert 'role "app" may still UPDATE event (through PUBLIC' in result.stderr
    finally:
        cluster.psql("REVOKE UPDATE ON event FROM PUBLIC", user="owner", db=DATABASE)
    # Refused as a whole: the grants of the run that failed were rolled back, app's stand.
    assert cluster.psql(
        "SELECT has_table_privilege('app', 'event', 'INSERT'), "
        "has_table_privilege('app', 'event', 'UPDATE')",
        db=DATABASE,
    ) == [(True, False)]


TRIGGERS = (
    "SELECT tgenabled FROM pg_trigger WHERE NOT tgisinternal "
    "AND tgrelid = ANY('{event,event_entity_axis_delta,event_metadata}'::regclass[])"
)


def trigger_states(cluster) -> set[str]:
    rows = cluster.psql(TRIGGERS, db=DATABASE)
    assert len(rows) == 6
    return {row[0] for row in rows}


class Client:
    """A browser-like client: the session cookie and the CSRF token of a staff login."""

    def __init__(self, url: str):
        self.url = url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def cookie(self, name: str) -> str:
        return next(cookie.value for cookie in self.cookies if cookie.name == name)

    def send(self, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": self.cookie("csrftoken")},
            method="GET" if body is None else "POST",
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


def logged_in(url: str) -> Client:
    """Log the game master in through the admin's login form, as a person would."""
    client = Client(url)
    client.opener.open(f"{url}/admin/login/", timeout=30).read()
    form = urllib.parse.urlencode(
        {
            "username": "gm",
            "password": PASSWORD,
            "csrfmiddlewaretoken": client.cookie("csrftoken"),
            "next": "/admin/",
        }
    ).encode()
    with client.opener.open(f"{url}/admin/login/", data=form, timeout=30) as response:
        assert response.url.endswith("/admin/"), "the login failed"
    assert any(cookie.name == "sessionid" for cookie in client.cookies)
    return client
