"""PostgreSQL fails under write load: the API's answers stay honest.

Real processes: a private PostgreSQL cluster (``tests/pgcluster.py``; never the machine's
server), the product under gunicorn with four workers on it, and four client processes
posting keyed one-delta events (on a shared character and on one of their own), each
attempt with its own ``X-Request-ID``, retrying any non-2xx with the same key and body
until a 2xx. Two ways to fail the database:

- the postmaster is SIGKILLed mid-run and started again (crash recovery), at several
  moments of the run;
- a fault-injecting proxy (``tests/pgproxy.py``) between the product and the server breaks
  chosen event transactions exactly before COMMIT, at COMMIT (not committed) and just
  after COMMIT (committed, the answer lost), so both the before-COMMIT and the
  during-COMMIT paths are exercised whatever the timing.

Afterwards, from every attempt's answer and the ledger: no 500 (no 5xx but 503), every key
has a final 2xx, every acknowledged event is in the ledger exactly once, no answer that
said "nothing was written" (``database_error``) or made no claim (``database_unavailable``)
belongs to an attempt whose request id is on an event row, the attempt that wrote each
event answered 201, 200 (the server's own retry found its first COMMIT had landed) or
``outcome_unknown``, ``verify_ledger`` is clean and gunicorn logged no 500. The proxy test
under load runs with the server's retry of keyed writes off, so that each fault reaches
its client as the answer a write gets when the server cannot retry; a test of its own
proves the retry, one request at a time. A first test checks the proxy's faults from a
plain psycopg client. Migrated and prepared once per module into a template database;
each test gets a copy. Runs in the PostgreSQL pass and fails (never skips) without
PostgreSQL's binaries.
"""

import json
import multiprocessing
import random
import re
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest

from tests.live import Gunicorn, manage, prepare
from tests.pgcluster import PgCluster, fail_without_binaries, private_cluster
from tests.pgproxy import PgProxy

pytestmark = pytest.mark.postgres

FIXTURE_WORLDS = Path(__file__).resolve().parent.parent / "fixtures" / "worlds"
TEMPLATE = "ledger_template"
CLIENTS = 4
WORKERS = 4
CHANGES = [0.07, -0.05, 0.3, -0.4, 0.01]
RETRY_FOR = 60  # seconds a client keeps retrying one key
RETRY_PAUSE = 0.05
MAX_EVENTS_PER_CLIENT = 5000  # a runaway guard; a run posts a few hundred
DOWN_FOR = 0.5  # seconds between the SIGKILL and the restart
LOAD_AFTER = 1.0  # seconds of load after the database is back, or after the last fault
EVENT_INSERT = b"INSERT INTO event ("  # the statement that writes an event's row
REQUEST_ID = re.compile(rb"rid:[a-z0-9-]+:[0-9]+")
NOTHING_WRITTEN = "database_error"
NO_CLAIM = "database_unavailable"
UNKNOWN = "outcome_unknown"
FAILURE_CODES = {NOTHING_WRITTEN, NO_CLAIM, UNKNOWN}


class Attempt(NamedTuple):
    """One HTTP attempt of a client: what it sent and what it was answered."""

    key: str
    request_id: str
    status: int  # 0: no HTTP answer
    code: str | None  # the error's code
    event_id: int | None
    echoed: str | None  # the X-Request-ID header of the answer
    at: float  # time.time() of the answer


# -- clients (run in spawned processes: module-level, no Django) -------------------------


def post(url: str, token: str, path: str, body: dict, request_id: str):
    """POST JSON; return (status, body, echoed request id); status 0 without an answer."""
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Api-Key {token}",
            "X-Request-ID": request_id,
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read()), response.headers["X-Request-ID"]
    except urllib.error.HTTPError as error:
        try:
            answer = json.loads(error.read() or b"null")
        except json.JSONDecodeError:
            answer = None
        return error.code, answer, error.headers.get("X-Request-ID")
    except (OSError, json.JSONDecodeError):
        return 0, None, None


def post_until_stopped(
    url: str, token: str, run: str, client: int, shared: int, own: int, flags: str
) -> list[Attempt]:
    """Post keyed events, alternately on ``shared`` and ``own``, until told to stop.

    Each key is retried (same key, same body, a new request id per attempt) until a 2xx
    or ``RETRY_FOR`` seconds. ``flags/started-<client>`` says the first key is done;
    ``flags/stop`` ends the run after the current key.
    """
    rng = random.Random(f"{run}-{client}")
    flags = Path(flags)
    attempts = []
    for n in range(MAX_EVENTS_PER_CLIENT):
        if (flags / "stop").exists():
            break
        key = f"{run}-c{client}-e{n}"
        character = shared if n % 2 == 0 else own
        path = f"/admin/characters/{character}/axis-events"
        body = {
            "event_type": "crash_load",
            "deltas": {"wealth": rng.choice(CHANGES)},
            "idempotency_key": key,
        }
        deadline = time.monotonic() + RETRY_FOR
        for attempt in range(1_000_000):
            request_id = f"rid:{key}:{attempt}"
            status, answer, echoed = post(url, token, path, body, request_id)
            answer = answer if isinstance(answer, dict) else {}
            attempts.append(
                Attempt(
                    key,
                    request_id,
                    status,
                    answer.get("code"),
                    answer.get("event_id"),
                    echoed,
                    time.time(),
                )
            )
            if 200 <= status < 300 or time.monotonic() > deadline:
                break
            time.sleep(RETRY_PAUSE)
        if n == 0:
            (flags / f"started-{client}").touch()
    return attempts


# -- the deployment ----------------------------------------------------------------------


@dataclass
class Deployment:
    cluster: PgCluster
    token: str
    characters: list[int]

    def database(self, name: str) -> str:
        """Create database ``name`` as a copy of the prepared template."""
        self.cluster.psql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def env(self, url: str) -> dict:
        # No TLS or GSS negotiation: the proxy answers "N" to it, the cluster has neither.
        return {
            "DATABASE_URL": url,
            "PIPEWORKS_WORLDS_DIR": str(FIXTURE_WORLDS),
            "PGSSLMODE": "disable",
            "PGGSSENCMODE": "disable",
        }

    def query(self, database: str, sql: str):
        return self.cluster.psql(sql, db=database)


@pytest.fixture(scope="module")
def deployment():
    """A private cluster with the product migrated and prepared in a template database."""
    fail_without_binaries()
    with private_cluster() as cluster:
        cluster.psql(f"CREATE DATABASE {TEMPLATE}")
        env = {
            "DATABASE_URL": cluster.url(dbname=TEMPLATE),
            "PIPEWORKS_WORLDS_DIR": str(FIXTURE_WORLDS),
        }
        token = prepare(env, characters=CLIENTS + 1)
        characters = [row[0] for row in cluster.psql("SELECT id FROM characters", db=TEMPLATE)]
        yield Deployment(cluster, token, sorted(characters))


def run_clients(deployment: Deployment, server: Gunicorn, run: str, flags: Path, during):
    """Run the clients; call ``during()`` once all have begun; stop them when it returns."""
    flags.mkdir()
    shared, *own = deployment.characters
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(CLIENTS, mp_context=context) as pool:
        futures = [
            pool.submit(
                post_until_stopped,
                server.url,
                deployment.token,
                run,
                client,
                shared,
                own[client],
                str(flags),
            )
            for client in range(CLIENTS)
        ]
        try:
            deadline = time.monotonic() + 60
            while not all((flags / f"started-{c}").exists() for c in range(CLIENTS)):
                for future in futures:
                    if future.done():
                        future.result()  # a client failed: raise its error
                assert time.monotonic() < deadline, "the clients did not start"
                time.sleep(0.02)
            during()
        finally:
            (flags / "stop").touch()
        return [attempt for future in futures for attempt in future.result()]


class Ledger(NamedTuple):
    by_key: dict[str, list[int]]  # idempotency key -> event ids
    by_request_id: dict[str, tuple[int, str]]  # request id -> (event id, key)


def read_ledger(deployment: Deployment, database: str, run: str) -> Ledger:
    rows = deployment.query(
        database,
        f"SELECT id, idempotency_key, request_id FROM event "
        f"WHERE idempotency_key LIKE '{run}-%' ORDER BY id",
    )
    by_key: dict[str, list[int]] = {}
    by_request_id = {}
    for event_id, key, request_id in rows:
        by_key.setdefault(key, []).append(event_id)
        by_request_id[request_id] = (event_id, key)
    return Ledger(by_key, by_request_id)


# -- the invariants ----------------------------------------------------------------------


def assert_answers_are_honest(
    attempts: list[Attempt], deployment: Deployment, database: str, run: str, log: Path
) -> Ledger:
    """Assert every invariant of an honest API over the run; return the ledger read."""
    assert attempts, "no attempt was made"
    unexpected = [a for a in attempts if a.status not in (200, 201, 503)]
    assert not unexpected, f"answers other than 200, 201, 503: {unexpected[:5]}"
    uncoded = [a for a in attempts if a.status == 503 and a.code not in FAILURE_CODES]
    assert not uncoded, f"503 answers without a known code: {uncoded[:5]}"
    unechoed = [a for a in attempts if a.echoed != a.request_id]
    assert not unechoed, f"answers without the request's X-Request-ID: {unechoed[:5]}"

    by_key: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_key.setdefault(attempt.key, []).append(attempt)
    acknowledged = {}
    for key, tries in by_key.items():
        assert 200 <= tries[-1].status < 300, f"{key} never got a 2xx: {tries[-5:]}"
        event_ids = {a.event_id for a in tries if 200 <= a.status < 300}
        assert len(event_ids) == 1, f"{key} was acknowledged as several events: {tries}"
        acknowledged[key] = event_ids.pop()

    ledger = read_ledger(deployment, database, run)
    for key, event_id in acknowledged.items():
        assert ledger.by_key.get(key) == [event_id], (
            f"{key} was acknowledged as event {event_id}; the ledger has {ledger.by_key.get(key)}"
        )
    phantoms = set(ledger.by_key) - set(acknowledged)
    assert not phantoms, f"events in the ledger that no client posted: {sorted(phantoms)[:5]}"

    answered = {attempt.request_id: attempt for attempt in attempts}
    for request_id, (event_id, key) in ledger.by_request_id.items():
        writer = answered.get(request_id)
        assert writer is not None, f"event {event_id} ({key}) has an unknown request id"
        assert writer.code != NOTHING_WRITTEN, (
            f"event {event_id} ({key}) was written by {request_id}, whose answer said "
            f"nothing was written: {writer}"
        )
        assert writer.code != NO_CLAIM, (
            f"event {event_id} ({key}) was written by {request_id}, whose answer said the "
            f"database was unavailable: {writer}"
        )
        # 200: the server's own retry of the keyed write found its first COMMIT landed.
        assert (writer.status, writer.event_id) in {(201, event_id), (200, event_id)} or (
            writer.code == UNKNOWN
        ), f"event {event_id} ({key}) was written by {request_id}, answered {writer}"

    empty = deployment.query(
        database,
        "SELECT COUNT(*) FROM event e WHERE NOT EXISTS "
        "(SELECT 1 FROM event_entity_axis_delta d WHERE d.event_id = e.id)",
    )[0][0]
    assert empty == 0, "an event without deltas: a partial write"
    direct = deployment.env(deployment.cluster.url(dbname=database))
    assert "clean" in manage(direct, "verify_ledger", "-v0")
    assert_no_500_logged(log.read_text(errors="replace"))
    return ledger


def assert_no_500_logged(log: str) -> None:
    """No 500 nor crashed request in gunicorn's log.

    Django logs a 500 as ``Internal Server Error`` with its traceback, gunicorn a request
    that crashed its worker as ``Error handling request``. The product's own loggers
    (``pipeworks.*``) may log a handled failure with its traceback (the write throttle
    failing open, an event written but not read back): each traceback must follow one.
    """
    assert "Internal Server Error" not in log
    assert "Error handling request" not in log
    lines = ["", "", *log.splitlines()]
    chained = ("During handling of the above exception", "The above exception was the direct")
    for index, line in enumerate(lines):
        if not line.startswith("Traceback (most recent call last)"):
            continue
        previous = lines[index - 1]
        if not previous.strip() and lines[index - 2].startswith(chained):
            continue  # a chained exception's: the first traceback's head was checked
        assert " ERROR pipeworks." in previous, f"a traceback after {previous!r}"


def sent_request_ids(fault) -> set[str]:
    """The request ids an injected fault's transaction carried (on the event's row)."""
    return {match.decode() for match in REQUEST_ID.findall(fault.sent)}


def outcome_summary(attempts: list[Attempt]) -> Counter:
    return Counter(
        (attempt.status, attempt.code) for attempt in attempts if attempt.status != 201
    ) + Counter({"201": sum(attempt.status == 201 for attempt in attempts)})


# -- the tests ---------------------------------------------------------------------------


def test_the_proxy_breaks_transactions_exactly_where_told(deployment):
    """The faults the crash test relies on, seen from a plain psycopg client."""
    database = deployment.database("proxycheck")
    deployment.query(database, "CREATE TABLE t (id serial PRIMARY KEY, v text)")
    with PgProxy(deployment.cluster.port) as proxy:

        def write(value: str, statements: int = 2, **kwargs) -> str:
            # prepare_threshold=0: the second statement is a Bind of a prepared one.
            with psycopg.connect(proxy.url(dbname=database), **kwargs) as connection:
                try:
                    for n in range(statements):
                        connection.execute("INSERT INTO t (v) VALUES (%s)", (f"{value}{n}",))
                    connection.commit()
                except psycopg.OperationalError:
                    return "lost"
                return "ok"

        for kind in ("before_commit", "commit_lost", "commit_applied"):
            proxy.fail_next(kind, match=b"INSERT INTO t ")
            assert write(kind, prepare_threshold=0) == "lost"
        proxy.fail_every("commit_lost", 2, match=b"no such statement")
        proxy.fail_every("commit_applied", 2)
        assert [write(f"every{n}-", statements=1) for n in range(4)] == ["ok", "lost"] * 2
        assert write("untouched", sslmode="prefer") == "ok"  # SSLRequest answered "N"

    rows = {v for (v,) in deployment.query(database, "SELECT v FROM t")}
    assert rows == {
        "commit_applied0",
        "commit_applied1",
        "every0-0",
        "every1-0",
        "every2-0",
        "every3-0",
        "untouched0",
        "untouched1",
    }
    assert proxy.injected == Counter(before_commit=1, commit_lost=1, commit_applied=3)
    before, lost, applied, *_ = proxy.faults
    assert before.statements[-1].startswith("(not sent) INSERT INTO t ")
    assert lost.sent.endswith(b"COMMIT\0") and applied.server_reply == "COMMIT"


@pytest.mark.parametrize("kill_after", [0.3, 1.0, 2.0], ids=lambda s: f"kill-at-{s}s")
def test_a_postmaster_killed_under_write_load_leaves_honest_answers(
    deployment, tmp_path, kill_after
):
    cluster = deployment.cluster
    run = f"kill{int(kill_after * 10)}"
    database = deployment.database(run)
    log = tmp_path / "gunicorn.log"
    server = Gunicorn(deployment.env(cluster.url(dbname=database)), workers=WORKERS, log_path=log)
    crash = {}

    def crash_and_recover():
        time.sleep(kill_after)
        crash["killed"] = time.time()
        cluster.kill()
        time.sleep(DOWN_FOR)
        cluster.start()
        crash["restarted"] = time.time()
        time.sleep(LOAD_AFTER)

    try:
        attempts = run_clients(deployment, server, run, tmp_path / "flags", crash_and_recover)
    finally:
        server.stop()
        if cluster.postmaster_pid() is None:
            cluster.start()

    print(f"\n{run}: {len(attempts)} attempts: {dict(outcome_summary(attempts))}")
    acked = [a for a in attempts if 200 <= a.status < 300]
    assert any(a.at < crash["killed"] for a in acked), "nothing was written before the crash"
    assert any(a.at > crash["restarted"] for a in acked), "nothing was written after it"
    assert any(a.status == 503 for a in attempts), "the crash was not felt by any request"
    assert_answers_are_honest(attempts, deployment, database, run, log)


def test_faults_before_and_during_commit_leave_honest_answers(deployment, tmp_path):
    run = "proxy"
    database = deployment.database(run)
    log = tmp_path / "gunicorn.log"
    plan = ["before_commit", "commit_lost", "commit_applied"] * 2
    with PgProxy(deployment.cluster.port) as proxy:
        env = {**deployment.env(proxy.url(dbname=database)), "PIPEWORKS_WRITE_RETRY_DELAY": "-1"}
        server = Gunicorn(env, workers=WORKERS, log_path=log)

        def inject_in_turn():
            made = Counter()
            for kind in plan:
                proxy.fail_next(kind, match=EVENT_INSERT)
                made[kind] += 1
                assert proxy.wait_for(kind, made[kind], timeout=30), f"no {kind} happened"
            time.sleep(LOAD_AFTER)

        try:
            attempts = run_clients(deployment, server, run, tmp_path / "flags", inject_in_turn)
        finally:
            server.stop()
        faults = proxy.faults

    print(f"\n{run}: {len(attempts)} attempts: {dict(outcome_summary(attempts))}")
    assert Counter(fault.kind for fault in faults) == Counter(plan)
    ledger = assert_answers_are_honest(attempts, deployment, database, run, log)

    answered = {attempt.request_id: attempt for attempt in attempts}
    writer_of = {key: request_id for request_id, (_, key) in ledger.by_request_id.items()}
    for fault in faults:
        (request_id,) = sent_request_ids(fault)  # one event per transaction
        attempt = answered[request_id]
        tries = [a for a in attempts if a.key == attempt.key]
        later = [a.request_id for a in tries[tries.index(attempt) + 1 :]]
        answer = (attempt.status, attempt.code)
        writer = writer_of[attempt.key]
        # A retry may meet the next fault in turn; the key is written once in the end.
        if fault.kind == "before_commit":
            assert answer == (503, NOTHING_WRITTEN), (fault, attempt)
            assert writer in later, f"{request_id} said nothing was written; {writer} wrote it"
        elif fault.kind == "commit_lost":
            assert answer == (503, UNKNOWN), (fault, attempt)
            assert writer in later, f"{request_id}'s COMMIT never reached the server: {tries}"
        else:  # commit_applied: committed, the answer lost
            assert fault.server_reply == "COMMIT", fault
            assert answer == (503, UNKNOWN), (fault, attempt)
            assert writer == request_id, f"{request_id} was committed; {writer} wrote {tries}"
            event_id = ledger.by_request_id[request_id][0]
            assert all(a.status != 201 for a in tries), tries
            assert (tries[-1].status, tries[-1].event_id) == (200, event_id), tries


def test_the_server_retries_a_keyed_write_whose_connection_was_lost_exactly_once(
    deployment, tmp_path
):
    """Each proxy fault once on a keyed write: the server's one retry answers 2xx.

    One worker and one request at a time, so each fault hits the request it was armed for.
    ``before_commit`` and ``commit_lost``: nothing was committed, the retry writes the
    event (201); ``commit_applied``: the retry finds it and answers as its replay (200).
    A fault on the retry too (``times=2``) reaches the client: 503 with what is known (a
    replay writes no event row, so a fault matching the event's INSERT cannot follow
    ``commit_applied``). An unkeyed write is never retried.
    """
    run = "retry"
    database = deployment.database(run)
    log = tmp_path / "gunicorn.log"
    character = deployment.characters[0]
    path = f"/admin/characters/{character}/axis-events"
    cases = [  # (fault, times, keyed, expected status, code)
        ("before_commit", 1, True, 201, None),
        ("commit_lost", 1, True, 201, None),
        ("commit_applied", 1, True, 200, None),
        ("before_commit", 2, True, 503, NOTHING_WRITTEN),
        ("commit_lost", 2, True, 503, UNKNOWN),
        ("commit_lost", 1, False, 503, UNKNOWN),
        ("commit_applied", 1, False, 503, UNKNOWN),
    ]
    with PgProxy(deployment.cluster.port) as proxy:
        server = Gunicorn(deployment.env(proxy.url(dbname=database)), workers=1, log_path=log)
        try:
            answers = []
            for n, (kind, times, keyed, *_) in enumerate(cases):
                proxy.fail_next(kind, times=times, match=EVENT_INSERT)
                body = {"event_type": "crash_load", "deltas": {"wealth": 0.01}}
                if keyed:
                    body["idempotency_key"] = f"{run}-{n}"
                status, answer, _ = post(server.url, deployment.token, path, body, f"rid:{run}:{n}")
                answers.append((status, (answer or {}).get("code"), (answer or {}).get("event_id")))
                assert proxy.injected[kind] == sum(t for k, t, *_ in cases[: n + 1] if k == kind), (
                    f"case {n}: the faults armed were not all used: {proxy.injected}"
                )
        finally:
            server.stop()

    assert [answer[:2] for answer in answers] == [(status, code) for *_, status, code in cases]
    rows = deployment.query(
        database,
        "SELECT request_id, idempotency_key, id FROM event WHERE request_id LIKE 'rid:retry:%'",
    )
    written = {request_id: (key, event_id) for request_id, key, event_id in rows}
    for n, (kind, *_, status, _) in enumerate(cases):
        request_id = f"rid:{run}:{n}"
        committed = kind == "commit_applied" or status < 300
        assert (request_id in written) is committed, (n, written)
        if status < 300:
            assert written[request_id] == (f"{run}-{n}", answers[n][2])
    text = log.read_text(errors="replace")
    assert text.count("write retried on a new connection after a lost one") == 5
    direct = deployment.env(deployment.cluster.url(dbname=database))
    assert "clean" in manage(direct, "verify_ledger", "-v0")
    assert_no_500_logged(text)
