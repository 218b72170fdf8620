"""Connection pooling for real: the product behind PgBouncer in transaction pooling mode.

A private primary, its streaming replica (``tests/pgcluster.py``) and a private PgBouncer
(``tests/pgbouncer.py``, Debian's 1.18: no prepared statements across transactions) in
front of the primary, pool size ``POOL``; ``DATABASE_URL`` goes through PgBouncer,
``DATABASE_REPLICA_URL`` straight to the replica, ``PIPEWORKS_PGBOUNCER=transaction``.
Proved here:

- the write path (apply_event many times past psycopg's prepare threshold, keyed and
  not), ``verify_ledger``'s streams while another client takes server connections, and
  ``manage.py check`` through transaction pooling; and what breaks without the product's
  configuration (statements prepared by name, a cursor outliving its transaction), with
  the check that catches it;
- under gunicorn (4 workers): reads of the API and the admin pages from the replica
  (replay paused: a read lacking the newest event came from it), writes on the primary,
  a writer reading its write at once;
- PgBouncer restarted under 16 concurrent clients posting keyed and unkeyed events: only
  honest answers (2xx, or 503 with a documented code), every acknowledged event in the
  ledger exactly once, ``verify_ledger`` clean, keyed writes cut by the restart retried
  by the server (its log line), and the primary's connections bounded by the pool size.

Runs in the PostgreSQL pass (``postgres`` marker); ``REQUIRE_POSTGRES=1`` makes missing
PostgreSQL or PgBouncer binaries a failure.
"""

import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from itertools import count
from pathlib import Path

import pytest

from ledger.services.events import WRITE_RETRIED
from tests.live import LIVE_SECRET_KEY, ROOT, Gunicorn, manage
from tests.pgbouncer import fail_without_pgbouncer, private_pgbouncer
from tests.pgcluster import fail_without_binaries, private_cluster, private_replica
from tests.test_pg_app_role import PASSWORD, logged_in
from tests.test_replicas_live import (
    WINDOW,
    assert_reads_from_replica,
    events_seen,
    page,
    replica_behind,
    server_env,
)

pytestmark = pytest.mark.postgres

FIXTURE_WORLDS = Path(__file__).parent / "fixtures" / "worlds"
DATABASE = "pipeworks"
POOL = 4
CLIENTS = 16
HONEST_503 = {"database_error", "outcome_unknown", "database_unavailable"}
_serial = count()


@pytest.fixture(scope="module")
def deployed():
    """Primary, caught-up replica, PgBouncer to the primary; product migrated through it."""
    fail_without_binaries()
    fail_without_pgbouncer()
    with private_cluster() as primary:
        primary.psql(f"CREATE DATABASE {DATABASE}")
        with (
            private_replica(primary) as replica,
            private_pgbouncer(primary, pool_size=POOL) as bouncer,
        ):
            env = {
                "DATABASE_URL": bouncer.url(dbname=DATABASE),
                "DATABASE_REPLICA_URL": replica.url(dbname=DATABASE),
                "PIPEWORKS_PGBOUNCER": "transaction",
                "PIPEWORKS_WORLDS_DIR": str(FIXTURE_WORLDS),
                "SECRET_KEY": os.environ.get("SECRET_KEY") or LIVE_SECRET_KEY,
                "DEBUG": "0",
            }
            manage(env, "migrate", "-v0")
            # One process for the rest (each start of Django costs seconds on a busy machine).
            created = manage(
                env,
                "shell",
                "-c",
                "import io; "
                "from django.core.management import call_command; "
                "from django.contrib.auth import get_user_model; "
                "from django.contrib.auth.models import Group; "
                "from worlds.services import create_character; "
                "call_command('sync_policies', 'alpha', verbosity=0); "
                f"user = get_user_model().objects.create_user('gm', password='{PASSWORD}', "
                "is_staff=True); "
                "user.groups.add(Group.objects.get(name='Game masters')); "
                "print(create_character(world_id='alpha', name='Ada').pk); "
                "print(create_character(world_id='alpha', name='Bo').pk); "
                "out = io.StringIO(); "
                "call_command('create_api_key', owner='gm', name='writer', apply=True, "
                "stdout=out); "
                "print(out.getvalue().strip().splitlines()[-1]); "
                "out = io.StringIO(); "
                "call_command('create_api_key', owner='gm', name='reader', stdout=out); "
                "print(out.getvalue().strip().splitlines()[-1])",
            )
            *_, ada, bo, writer, reader = created.strip().splitlines()
            characters = [int(ada), int(bo)]
            keys = {"writer": writer, "reader": reader}
            yield primary, replica, bouncer, env, characters, keys


def run_python(env: dict, script: str) -> subprocess.CompletedProcess:
    """Run ``script`` in ``manage.py shell`` with ``env``; return the finished process."""
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def check_output(env: dict) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


# Through PgBouncer: 40 events (keyed and not) on one connection, far past psycopg's
# prepare threshold (5), then verify_ledger with a chunk of one row, while a second
# client holds a server connection from the first chunk on (the one a cursor declared
# outside a transaction would have been left on), then a raw .iterator() outside a
# transaction, for contrast.
WRITE_AND_VERIFY = """
import os, psycopg
from django.db import connection
from ledger.models import Event
from ledger.services import apply_event
from ledger.verification import verify_ledger
character = int(os.environ["POOL_CHARACTER"])
for n in range(40):
    apply_event(world_id="alpha", event_type="pooled", deltas={character: {"wealth": 0.001}},
                idempotency_key=f"pooled-{os.environ['POOL_RUN']}-{n}" if n % 2 else None)
print("applied", Event.objects.filter(event_type__name="pooled").count(),
      "prepare_threshold", connection.connection.prepare_threshold)
other = psycopg.connect(os.environ["POOL_URL"])
def hold(done, total):
    if other.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        other.execute("SELECT 1")  # opens a transaction: a server connection is held
result = verify_ledger(chunk_size=1, progress=hold)
other.rollback()
print("verified", result.clean, result.deltas)
rows = Event.objects.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=1)
next(rows)
other.execute("SELECT 1")
try:
    next(rows)
    print("outside a transaction: ok")
except Exception as exc:
    print("outside a transaction:", type(exc).__name__)
other.close()
"""


def test_writes_and_verify_ledger_work_through_transaction_pooling(deployed):
    primary, _, bouncer, env, characters, _ = deployed
    run = str(next(_serial))
    extra = {
        "POOL_CHARACTER": str(characters[0]),
        "POOL_URL": bouncer.url(dbname=DATABASE),
        "POOL_RUN": run,
    }
    before = primary.psql(
        "SELECT count(*) FROM event e JOIN event_type t ON t.id = e.event_type_id "
        "WHERE t.name = 'pooled'",
        db=DATABASE,
    )[0][0]

    result = run_python({**env, **extra}, WRITE_AND_VERIFY)

    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert f"applied {before + 40} prepare_threshold None" in lines, lines
    verified = next(line for line in lines if line.startswith("verified"))
    assert verified.startswith("verified True"), lines
    assert int(verified.split()[-1]) >= 40
    # Django's cursor outside a transaction did not survive: what verify_ledger avoids.
    assert "outside a transaction: InvalidCursorName" in lines, lines
    assert [row["pool_mode"] for row in bouncer.show("POOLS") if row["database"] == DATABASE] == [
        "transaction"
    ]
    assert primary.psql(
        "SELECT count(*) FROM event WHERE idempotency_key LIKE %s",
        db=DATABASE,
        params=[f"pooled-{run}-%"],
    ) == [(20,)]


def test_prepared_statements_break_behind_transaction_pooling_and_check_says_so(deployed):
    _, _, bouncer, env, characters, _ = deployed
    # psycopg prepares a statement by name on its 1st execution (prepare_threshold=0):
    # the next transaction may run on another server connection, which never saw it.
    prepared = {**env, "DATABASE_URL": bouncer.url(dbname=DATABASE) + "?prepare_threshold=0"}
    script = (
        "import psycopg\n"
        "from django.db import connection\n"
        "other = psycopg.connect(" + repr(bouncer.url(dbname=DATABASE)) + ")\n"
        "failures = []\n"
        "for n in range(20):\n"
        "    try:\n"
        "        with connection.cursor() as cursor:\n"
        "            cursor.execute('SELECT count(*) FROM event WHERE id > %s', [n])\n"
        "    except Exception as exc:\n"
        "        failures.append(type(exc).__name__)\n"
        "    if n % 2 == 0:\n"
        "        other.execute('SELECT 1')\n"
        "    else:\n"
        "        other.rollback()\n"
        "print('failures', sorted(set(failures)))\n"
    )

    broken = run_python(prepared, script)
    sound = run_python(env, script)

    assert "failures []" in sound.stdout, sound.stdout + sound.stderr[-2000:]
    assert "failures [" in broken.stdout and "failures []" not in broken.stdout, (
        broken.stdout + broken.stderr[-2000:]
    )
    assert "pipeworks.W004" in check_output(prepared)
    assert "pipeworks.W00" not in check_output(env)
    # Not told about PgBouncer: the check sees the server answer on another port.
    undeclared = check_output({**env, "PIPEWORKS_PGBOUNCER": ""})
    assert "pipeworks.W005" in undeclared and str(bouncer.port) in undeclared
    # (Straight to a server, nothing to say: tests/test_pooling_checks.py.)


def test_reads_from_the_replica_writes_through_pgbouncer_to_the_primary(deployed, tmp_path):
    primary, replica, _, env, characters, keys = deployed
    character = characters[0]
    server = Gunicorn(server_env(env), workers=4, log_path=tmp_path / "gunicorn.log")
    try:
        session = logged_in(server.url)
        # Logging in is a write: the session reads the primary for WINDOW seconds.
        time.sleep(WINDOW + 0.2)
        replayed, fresh, _ = replica_behind(primary, replica, server, keys, character)
        # The writer reads its write at once (the primary, through PgBouncer) ...
        assert fresh in events_seen(server, keys["writer"], character)
        # ... everyone else reads the replica, which lacks the newest event.
        assert_reads_from_replica(server, keys, character, replayed, fresh)
        inspector = page(session, f"/admin/worlds/character/{character}/change/")
        assert f'data-event="{replayed}"' in inspector
        assert f'data-event="{fresh}"' not in inspector
        assert 'class="replica-replica1"' in page(session, "/admin/")
    finally:
        replica.resume_replay()
        replica.wait_caught_up()
        server.stop()
    log = (tmp_path / "gunicorn.log").read_text()
    assert "Internal Server Error" not in log and "Traceback" not in log, log[-3000:]


class Load:
    """``CLIENTS`` threads posting one-delta events, alternately keyed and unkeyed."""

    def __init__(self, server_url: str, token: str, characters: list[int], run: str):
        self.port = int(server_url.rsplit(":", 1)[1])
        self.token = token
        self.characters = characters
        self.run = run
        self.stop = threading.Event()
        # (request id, idempotency key or None, status, error code, event id)
        self.answers: list[tuple[str, str | None, int, str | None, int | None]] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]

    def client(self, n: int) -> None:
        for i in count():
            if self.stop.is_set():
                return
            key = f"{self.run}-{n}-{i}" if i % 2 == 0 else None
            body = {"event_type": "pooled_load", "deltas": {"wealth": 0.001}}
            if key:
                body["idempotency_key"] = key
            character = self.characters[n % len(self.characters)]
            request_id = f"rid:{self.run}:{n}:{i}"
            status, answer = self.post(
                f"/admin/characters/{character}/axis-events", body, request_id
            )
            with self.lock:
                self.answers.append(
                    (request_id, key, status, answer.get("code"), answer.get("event_id"))
                )

    def post(self, path: str, body: dict, request_id: str) -> tuple[int, dict]:
        """One request on its own connection; status 0 when no whole answer came back."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(
                "POST",
                path,
                json.dumps(body),
                {
                    "Content-Type": "application/json",
                    "Authorization": f"Api-Key {self.token}",
                    "X-Request-ID": request_id,
                },
            )
            response = connection.getresponse()
            raw = response.read()
            try:
                answer = json.loads(raw)
            except json.JSONDecodeError:
                answer = {"unparsed": raw[:200].decode(errors="replace")}
            return response.status, answer if isinstance(answer, dict) else {}
        except (OSError, http.client.HTTPException):
            return 0, {}
        finally:
            connection.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def count(self) -> int:
        with self.lock:
            return len(self.answers)

    def wait_for_answers(self, more: int, *, timeout: float = 60) -> None:
        target = self.count() + more
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert time.monotonic() < deadline, f"the load stalled at {self.count()} answers"
            time.sleep(0.02)


def test_a_pgbouncer_restart_under_16_clients_leaves_honest_answers(deployed, tmp_path):
    primary, _, bouncer, env, characters, keys = deployed
    run = f"restart{next(_serial)}"
    log_path = tmp_path / "gunicorn.log"
    server = Gunicorn(server_env(env), workers=4, log_path=log_path)
    samples: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        # Client backends on the product's database, through PgBouncer only (the test's
        # own connections go to the "postgres" database).
        with primary.connect() as watcher:
            while not sampling.is_set():
                (busy,) = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                    "AND backend_type = 'client backend'",
                    [DATABASE],
                ).fetchone()
                samples.append(busy)
                time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    restarts = 0
    marker = WRITE_RETRIED.split(" (")[0]
    try:
        with Load(server.url, keys["writer"], characters, run) as load:
            load.wait_for_answers(120)
            # The pool's bound is sampled before the restarts: right after one, the old
            # PgBouncer's server connections may still be ending as the new one opens its own.
            sampling.set()
            sampler.join()
            # Restart until a keyed write was cut mid-transaction and retried by the server
            # (which request a restart cuts is timing's choice), at most 15 times.
            while marker not in log_path.read_text(errors="replace") and restarts < 15:
                bouncer.restart()
                restarts += 1
                load.wait_for_answers(60)
            load.wait_for_answers(60)
    finally:
        sampling.set()
        sampler.join()
        server.stop()

    answers = load.answers
    log = log_path.read_text(errors="replace")
    outcomes = Counter((status, code) for _, _, status, code, _ in answers)
    print(f"\n{len(answers)} answers, {restarts} restarts: {outcomes}")
    assert marker in log, f"no keyed write was retried in {restarts} restarts"
    dishonest = [
        answer
        for answer in answers
        if not (200 <= answer[2] < 300 or (answer[2] == 503 and answer[3] in HONEST_503))
    ]
    assert not dishonest, dishonest[:10]
    assert any(answer[2] == 503 for answer in answers), "no request felt the restarts"
    # Every event row belongs to a request answered 2xx with its id, or told the outcome
    # was unknown; every 2xx is one row; no key twice.
    rows = primary.psql(
        "SELECT e.id, e.idempotency_key, e.request_id FROM event e "
        "JOIN event_type t ON t.id = e.event_type_id WHERE t.name = 'pooled_load'",
        db=DATABASE,
    )
    by_request = {request_id: (event_id, key) for event_id, key, request_id in rows}
    assert len(by_request) == len(rows), "two events of one request"
    keys_written = Counter(key for _, key, _ in rows if key is not None)
    assert not keys_written or max(keys_written.values()) == 1
    answered = {answer[0]: answer for answer in answers}
    for request_id, (event_id, key) in by_request.items():
        _, sent_key, status, code, acknowledged = answered[request_id]
        assert sent_key == key
        assert (200 <= status < 300 and acknowledged == event_id) or code == "outcome_unknown", (
            request_id,
            event_id,
            answered[request_id],
        )
    for request_id, _, status, _, event_id in answers:
        if 200 <= status < 300:
            assert by_request[request_id][0] == event_id, request_id
    assert "clean" in manage(env, "verify_ledger", "-v0")
    # The primary served the product through PgBouncer's pool only.
    assert samples and max(samples) <= POOL, Counter(samples)
    assert max(samples) >= 2, "the load never used the pool: the bound proves nothing"
    assert "Internal Server Error" not in log and "Error handling request" not in log
