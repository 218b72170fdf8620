"""The measured capacity model: what one PostgreSQL core carries, and what the ledger weighs.

Run by ``bench/run.py`` (section ``capacity``, PostgreSQL only) or alone; prints one JSON
document on stdout (progress on stderr). Everything runs on servers of its own: a private
primary (``tests/pgcluster.py``; fsync off, ``shared_buffers`` 128MB) with the product
migrated, the fixture world ``alpha`` synced, 1,000 characters and a ledger grown by
``generate_ledger``, a streaming replica of it, gunicorn with 4 sync workers, and (for the
writes) a PgBouncer in transaction mode (``tests/pgbouncer.py``; without the ``pgbouncer``
binary the writes are measured direct only). Figures:

- **ledger growth**: per table and per index, bytes (``pg_relation_size``,
  ``pg_indexes_size``, ``pg_total_relation_size``) over rows, on the generated ledger and
  again on the increment the HTTP writers add (events with provenance and 2 metadata
  keys); the B-tree depth of the character-history indexes (``pageinspect``); the time of
  ``VACUUM (ANALYZE)`` after the bulk load and of ``VACUUM (FREEZE)``;
- **reads**: N client processes, each on one persistent ``http.client`` connection,
  GET the inspector endpoints (``axis-state``, ``axis-events?limit=50`` with a read-only
  API key, the admin character page with a logged-in session) for a fixed time, once with
  ``DATABASE_REPLICA_URL`` unset and once set to the replica; the replica's share is
  proved by ``pg_stat_database`` (transactions, rows returned) of both servers;
- **writes**: 16 client processes POST one-delta events (2 metadata keys) on characters of
  their own for a fixed time, gunicorn straight to the primary and through PgBouncer,
  each with the product's setting for it (``PIPEWORKS_PGBOUNCER`` off or
  ``transaction``); the primary's ``xact_commit`` and PgBouncer's ``SHOW STATS`` count
  the transactions;
- **CPU**: the CPU seconds of each PostgreSQL server's processes, of gunicorn's and of
  PgBouncer's (``/proc``: utime + stime of the parent, of its children, and of its
  reaped children), so the figures are work per PostgreSQL CPU-second and application
  CPU per request: what sizes hosts, whatever else shares this machine.
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.http_writers import percentile  # noqa: E402
from tests.live import Gunicorn, manage, prepare  # noqa: E402
from tests.pgbouncer import find_binary as find_pgbouncer  # noqa: E402
from tests.pgbouncer import private_pgbouncer  # noqa: E402
from tests.pgcluster import PgCluster, private_replica  # noqa: E402
from tests.test_pg_app_role import PASSWORD, logged_in  # noqa: E402

WORLDS_DIR = ROOT / "tests" / "fixtures" / "worlds"
DATABASE = "cap"
WORKERS = 4
LEDGER_TABLES = ("event", "event_entity_axis_delta", "event_metadata")
HISTORY_INDEXES = ("delta_character_event_idx", "delta_character_axis_event_idx")
READS = {
    "axis-state": ("key", "/admin/characters/{c}/axis-state"),
    "axis-events": ("key", "/admin/characters/{c}/axis-events?limit=50"),
    "admin character page": ("session", "/admin/worlds/character/{c}/change/"),
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Run alone without SECRET_KEY in the environment: a public bench-only key (DEBUG is off).
BENCH_SECRET_KEY = "pipeworks-bench-only-not-a-secret-capacity-7c1e9a3f5b2d8e4a6c0f"  # noqa: S105


def log(message):
    print(f"[capacity] {message}", file=sys.stderr, flush=True)


# -- CPU of a process tree ------------------------------------------------------------------


def _cpu_ticks(pid, *, reaped):
    """utime + stime of ``pid`` (and with ``reaped``, of its children it has waited for)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return 0
    # Fields 14-17 of proc(5) (utime, stime, cutime, cstime) are 11-14 after the name.
    return sum(int(value) for value in fields[11 : 15 if reaped else 13])


def tree_cpu_seconds(pid):
    """CPU seconds of a server process and its children, the exited ones included.

    A PostgreSQL backend or a gunicorn worker that exits is reaped by its parent, whose
    cutime and cstime then carry its CPU; the living children are read one by one.
    """
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    ticks = _cpu_ticks(pid, reaped=True) + sum(_cpu_ticks(c, reaped=True) for c in children)
    return ticks / CLOCK_TICKS


class CpuMeter:
    """CPU seconds that named process trees spend between ``start()`` and ``stop()``."""

    def __init__(self, **pids):
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}

    def start(self):
        self.before = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self):
        return {name: tree_cpu_seconds(pid) - self.before[name] for name, pid in self.pids.items()}


def database_stats(cluster):
    """This database's counters in ``pg_stat_database`` on one server."""
    row = cluster.psql(
        "SELECT xact_commit, tup_returned, tup_fetched, blks_hit + blks_read "
        "FROM pg_stat_database WHERE datname = %s",
        db=DATABASE,
        params=[DATABASE],
    )[0]
    return dict(zip(("xact_commit", "tup_returned", "tup_fetched", "blocks"), row, strict=True))


# -- clients (module level: they run in spawned processes) --------------------------------


class Connection:
    """One persistent HTTP/1.1 connection; reopened when the server closed it.

    gunicorn's sync workers answer each request with ``Connection: close``, so against
    them every request opens a new TCP connection on loopback (``http.client`` reopens
    it), as a keep-alive client of a production proxy would not; both configurations
    compared in a run pay it alike.
    """

    def __init__(self, port):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def send(self, method, path, headers, body=None):
        """Return the answer's status, or 0 when none came; only a GET is sent again."""
        for _ in range(2 if method == "GET" else 1):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):
                self.connection.close()
        return 0


def read_client(port, key, session, character_ids, start_at, stop_at, seed):
    """GET the inspector endpoints in turn, random characters, until ``stop_at``.

    Returns {endpoint: [latency ms of each 200]}, {status: count}, the time of the last answer.
    """
    rng = random.Random(seed)
    connection = Connection(port)
    headers = {
        "key": {"Authorization": f"Api-Key {key}", "Host": "127.0.0.1"},
        "session": {"Cookie": f"sessionid={session}", "Host": "127.0.0.1"},
    }
    names = list(READS)
    latencies = {name: [] for name in names}
    statuses = {}
    time.sleep(max(0.0, start_at - time.time()))
    turn = seed
    end = time.time()
    while time.time() < stop_at:
        name = names[turn % len(names)]
        turn += 1
        auth, path = READS[name]
        started = time.perf_counter()
        status = connection.send("GET", path.format(c=rng.choice(character_ids)), headers[auth])
        elapsed = (time.perf_counter() - started) * 1000
        end = time.time()
        statuses[status] = statuses.get(status, 0) + 1
        if status == 200:
            latencies[name].append(elapsed)
    return latencies, statuses, end


def write_client(port, token, character_ids, start_at, stop_at, seed):
    """POST one-delta events (2 metadata keys) on this client's characters until ``stop_at``.

    Returns ([latency ms of each 201], {status: count}, the time of the last answer).
    """
    rng = random.Random(seed)
    connection = Connection(port)
    headers = {
        "Authorization": f"Api-Key {token}",
        "Content-Type": "application/json",
        "Host": "127.0.0.1",
    }
    latencies, statuses = [], {}
    time.sleep(max(0.0, start_at - time.time()))
    sent = 0
    end = time.time()
    while time.time() < stop_at:
        sent += 1
        body = json.dumps(
            {
                "event_type": "capacity",
                "deltas": {"wealth": round(rng.uniform(-0.05, 0.05), 4)},
                "metadata": {"source": "bench/capacity.py", "tick": str(sent)},
            }
        )
        character = rng.choice(character_ids)
        started = time.perf_counter()
        status = connection.send(
            "POST", f"/admin/characters/{character}/axis-events", headers, body
        )
        elapsed = (time.perf_counter() - started) * 1000
        end = time.time()
        statuses[status] = statuses.get(status, 0) + 1
        if status == 201:
            latencies.append(elapsed)
    return latencies, statuses, end


# -- the phases -----------------------------------------------------------------------------


def phase(pool, meter, clients, seconds):
    """Run ``clients`` (callables taking start_at, stop_at) for ``seconds``; gather them."""
    start_at = time.time() + 1.5  # every client process is up and imported by then
    stop_at = start_at + seconds
    futures = [pool.submit(client, start_at=start_at, stop_at=stop_at) for client in clients]
    time.sleep(max(0.0, start_at - time.time()))
    meter.start()
    load_before = os.getloadavg()[0]
    results = [future.result() for future in futures]
    cpu = meter.stop()
    elapsed = max(result[2] for result in results) - start_at
    statuses = {}
    for result in results:
        for status, n in result[1].items():
            statuses[str(status)] = statuses.get(str(status), 0) + n
    return results, statuses, elapsed, cpu, max(load_before, os.getloadavg()[0])


def summary(latencies):
    return {
        "count": len(latencies),
        "p50": percentile(latencies, 0.50) if latencies else None,
        "p99": percentile(latencies, 0.99) if latencies else None,
    }


def measure_reads(pool, env, primary, replica, people, character_ids, args, tmp, label, run):
    """One fixed-time read phase against a gunicorn with or without the replica."""
    server_env = dict(env)
    if label == "primary + replica":
        server_env["DATABASE_REPLICA_URL"] = replica.url(dbname=DATABASE)
    server = Gunicorn(server_env, workers=WORKERS, log_path=Path(tmp) / f"reads-{label}-{run}.log")
    try:
        session = logged_in(server.url).cookie("sessionid")
        meter = CpuMeter(
            primary=primary.postmaster_pid(),
            replica=replica.postmaster_pid(),
            gunicorn=server.process.pid,
        )
        clients = [
            partial(read_client, server.port, people["reader"], session, character_ids, seed=c)
            for c in range(args.read_clients)
        ]
        phase(pool, meter, clients, args.warmup)  # imports, caches, prepared plans
        time.sleep(1.5)  # the backends flush their statistics
        stats_before = {"primary": database_stats(primary), "replica": database_stats(replica)}
        results, statuses, elapsed, cpu, load = phase(pool, meter, clients, args.seconds)
        time.sleep(1.5)
        stats_after = {"primary": database_stats(primary), "replica": database_stats(replica)}
    finally:
        server.stop()
    per_endpoint = {
        name: summary([ms for result in results for ms in result[0][name]]) for name in READS
    }
    everything = [ms for result in results for values in result[0].values() for ms in values]
    reads = len(everything)
    return {
        "config": label,
        "clients": args.read_clients,
        "seconds": elapsed,
        "reads": reads,
        "rate": reads / elapsed,
        **summary(everything),
        "endpoints": per_endpoint,
        "statuses": statuses,
        "cpu": cpu,
        "load": load,
        "stats": {
            server_name: {
                counter: stats_after[server_name][counter] - stats_before[server_name][counter]
                for counter in stats_before[server_name]
            }
            for server_name in stats_before
        },
    }


def measure_writes(pool, env, primary, people, pools, args, tmp, label, run, bouncer=None):
    """One fixed-time write phase of 16 clients on characters of their own."""
    server = Gunicorn(env, workers=WORKERS, log_path=Path(tmp) / f"writes-{label}-{run}.log")
    try:
        meter = CpuMeter(
            primary=primary.postmaster_pid(),
            gunicorn=server.process.pid,
            pgbouncer=bouncer.process.pid if bouncer else None,
        )
        clients = [
            partial(write_client, server.port, people["writer"], pools[c], seed=1000 * run + c)
            for c in range(args.write_clients)
        ]
        phase(pool, meter, clients, args.warmup)
        time.sleep(1.5)  # the backends flush their statistics
        pooled, committed = bouncer_transactions(bouncer), database_stats(primary)["xact_commit"]
        results, statuses, elapsed, cpu, load = phase(pool, meter, clients, args.seconds)
        time.sleep(1.5)
        pooled = bouncer_transactions(bouncer) - pooled
        committed = database_stats(primary)["xact_commit"] - committed
    finally:
        server.stop()
    latencies = [ms for result in results for ms in result[0]]
    return {
        "config": label,
        "clients": args.write_clients,
        "seconds": elapsed,
        "events": len(latencies),
        "rate": len(latencies) / elapsed,
        **summary(latencies),
        "statuses": statuses,
        "cpu": cpu,
        "load": load,
        "pgbouncer_transactions": pooled if bouncer else None,
        "xact_commit": committed,
    }


def bouncer_transactions(bouncer):
    """Transactions PgBouncer has passed to the database so far (proof that it carried them)."""
    if bouncer is None:
        return 0
    rows = bouncer.show("STATS")
    return sum(int(row["total_xact_count"]) for row in rows if row["database"] == DATABASE)


# -- the ledger's size ----------------------------------------------------------------------


def ledger_sizes(cluster):
    """Rows and bytes of each ledger table and of each of its indexes."""
    sizes = {}
    for table in LEDGER_TABLES:
        rows, heap, toast, indexes, total = cluster.psql(
            f"SELECT (SELECT count(*) FROM {table}), pg_relation_size(%(t)s), "  # noqa: S608
            "coalesce(pg_total_relation_size(reltoastrelid), 0), pg_indexes_size(%(t)s), "
            "pg_total_relation_size(%(t)s) FROM pg_class WHERE oid = %(t)s::regclass",
            db=DATABASE,
            params={"t": table},
        )[0]
        index_rows = cluster.psql(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
            "WHERE indrelid = %s::regclass ORDER BY 1",
            db=DATABASE,
            params=[table],
        )
        sizes[table] = {
            "rows": rows,
            "heap": heap,
            "toast": toast,
            "indexes": indexes,
            "total": total,
            "index_bytes": dict(index_rows),
        }
    return sizes


def history_index_depth(cluster):
    """Levels of the character-history B-trees (root level + 1) and their leaf pages."""
    cluster.psql("CREATE EXTENSION IF NOT EXISTS pageinspect", db=DATABASE)
    depth = {}
    for index in HISTORY_INDEXES:
        level, pages = cluster.psql(
            "SELECT m.level, pg_relation_size(%(i)s) / current_setting('block_size')::int "
            "FROM bt_metap(%(i)s) m",
            db=DATABASE,
            params={"i": index},
        )[0]
        depth[index] = {"levels": level + 1, "pages": pages}
    return depth


def timed_vacuum(cluster, option):
    seconds = {}
    with cluster.connect(db=DATABASE) as connection:
        for table in LEDGER_TABLES:
            started = time.perf_counter()
            connection.execute(f"VACUUM ({option}) {table}")
            seconds[table] = time.perf_counter() - started
    return seconds


# -- main -------------------------------------------------------------------------------------


def deploy(primary, args):
    """Migrate, sync, characters, the people; grow the ledger. Return env, keys, timings."""
    primary.psql(f"CREATE DATABASE {DATABASE}")
    env = {
        "DATABASE_URL": primary.url(dbname=DATABASE),
        "PIPEWORKS_WORLDS_DIR": str(WORLDS_DIR),
        "CONN_MAX_AGE": "60",
        # One API key writes for all clients: the throttle counts (and costs) as usual
        # but must not cut them off at its default of 6000/min.
        "PIPEWORKS_API_WRITE_RATE": "1000000/min",
    }
    log(f"migrate, sync alpha, {args.characters:,} characters")
    people = {"writer": prepare(env, characters=args.characters).splitlines()[-1]}
    people["reader"] = (
        manage(env, "create_api_key", "--owner", "load", "--name", "reader")
        .strip()
        .splitlines()[-1]
    )
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "from django.contrib.auth.models import Group; "
        f"user = get_user_model().objects.create_user('gm', password='{PASSWORD}', "
        "is_staff=True); "
        "user.groups.add(Group.objects.get(name='Game masters'))",
    )
    log(f"generate_ledger --world alpha --existing --events {args.events:,}")
    started = time.perf_counter()
    manage(
        env,
        "generate_ledger",
        "--i-know-this-is-not-production",
        "--world",
        "alpha",
        "--existing",
        "--events",
        str(args.events),
        "-v0",
    )
    return env, people, time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--characters", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100_000, help="Ledger before measuring.")
    parser.add_argument("--seconds", type=float, default=20, help="Length of a measured phase.")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--runs", type=int, default=2, help="Runs of each configuration.")
    parser.add_argument("--read-clients", type=int, default=8)
    parser.add_argument("--write-clients", type=int, default=16)
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", BENCH_SECRET_KEY)
    os.environ["DEBUG"] = "0"

    figures = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "workers": WORKERS,
        "characters": args.characters,
        "runs": args.runs,
        "phase_seconds": args.seconds,
    }
    context = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        primary = PgCluster()
        stack.callback(primary.cleanup)
        # Room for the 100k ledger and its indexes; fsync stays off (the harness's).
        primary.configure(shared_buffers="128MB", max_connections="100")
        primary.start()
        figures["server"] = primary.psql("SHOW server_version")[0][0]
        env, people, generated = deploy(primary, args)
        figures["generate_seconds"] = generated
        figures["vacuum_analyze_s"] = timed_vacuum(primary, "ANALYZE")
        figures["vacuum_freeze_s"] = timed_vacuum(primary, "FREEZE")
        figures["generated"] = ledger_sizes(primary)
        figures["depth"] = history_index_depth(primary)
        log(f"ledger: {figures['generated']['event']['rows']:,} events")

        replica = stack.enter_context(private_replica(primary))
        character_ids = [
            row[0] for row in primary.psql("SELECT id FROM characters ORDER BY id", db=DATABASE)
        ]
        pool = stack.enter_context(ProcessPoolExecutor(args.write_clients, mp_context=context))

        figures["reads"] = []
        for run in range(args.runs):
            configs = ["primary", "primary + replica"]
            for label in configs if run % 2 == 0 else configs[::-1]:
                log(f"reads, {label}, run {run + 1}: {args.read_clients} clients")
                figures["reads"].append(
                    measure_reads(
                        pool, env, primary, replica, people, character_ids, args, tmp, label, run
                    )
                )

        pools = [character_ids[c :: args.write_clients] for c in range(args.write_clients)]
        # The product's settings for each: straight to PostgreSQL, and behind a PgBouncer in
        # transaction mode (PIPEWORKS_PGBOUNCER=transaction: no server-side cursors).
        configs = {"direct": {**env, "PIPEWORKS_PGBOUNCER": "off"}}
        bouncer = None
        if find_pgbouncer() is None:
            log("pgbouncer not found (apt-get install pgbouncer): writes direct only")
            figures["pgbouncer"] = None
        else:
            bouncer = stack.enter_context(private_pgbouncer(primary, dbname=DATABASE))
            configs["PgBouncer"] = {
                **env,
                "DATABASE_URL": bouncer.url(dbname=DATABASE),
                "PIPEWORKS_PGBOUNCER": "transaction",
            }
            version = bouncer.show("VERSION")[0]
            figures["pgbouncer"] = {"version": next(iter(version.values())), "pool_size": 4}
        before = ledger_sizes(primary)
        figures["writes"] = []
        for run in range(args.runs):
            order = list(configs) if run % 2 == 0 else list(configs)[::-1]
            for label in order:
                log(f"writes, {label}, run {run + 1}: {args.write_clients} clients")
                figures["writes"].append(
                    measure_writes(
                        pool,
                        configs[label],
                        primary,
                        people,
                        pools,
                        args,
                        tmp,
                        label,
                        run,
                        bouncer if label == "PgBouncer" else None,
                    )
                )
        primary.psql("CHECKPOINT")
        figures["written"] = {"before": before, "after": ledger_sizes(primary)}
        figures["verify"] = manage(env, "verify_ledger", "-v0").strip().splitlines()[-1]
    json.dump(figures, sys.stdout)


if __name__ == "__main__":
    main()
