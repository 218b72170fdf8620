"""A private PgBouncer in front of a private PostgreSQL cluster, for tests and benchmarks.

The connection-pooling tests need a real PgBouncer (Debian's ``pgbouncer``, 1.18 on
Debian 12) with a configuration of their own, never the machine's service (which, when
apt starts it, listens on 6432 and is left alone). ``private_pgbouncer(cluster)`` writes
a ``pgbouncer.ini`` and a user list into a temporary directory, starts ``pgbouncer`` on a
free loopback port in front of a ``PgCluster`` (``tests/pgcluster.py``), waits until it
accepts connections, and always stops it and removes the directory::

    from tests.pgbouncer import private_pgbouncer

    with private_cluster() as cluster, private_pgbouncer(cluster, pool_size=4) as bouncer:
        url = bouncer.url(dbname="pipeworks")       # for DATABASE_URL
        bouncer.show("POOLS")                       # the admin console, as dicts
        bouncer.restart()                           # clients' connections are cut

Authentication is ``trust`` (the private cluster trusts loopback too), so the user list
only names the users PgBouncer accepts. As root, PgBouncer (which refuses to run as root)
runs as the ``postgres`` OS user, as the cluster's server does. A benchmark
(``bench/pooling.py``) imports the same API.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from tests.pgcluster import SERVICE_USER, SUPERUSER, PgCluster, free_port

USERS = (SUPERUSER,)


def find_binary() -> str | None:
    """Return the path of ``pgbouncer`` (``PGBOUNCER`` overrides), or None."""
    if os.environ.get("PGBOUNCER"):
        return os.environ["PGBOUNCER"]
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").is_file() else None
    )


def version() -> tuple[int, ...]:
    """Return PgBouncer's version, e.g. ``(1, 18, 0)``."""
    binary = find_binary()
    if binary is None:
        raise RuntimeError("pgbouncer not found")
    first = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10
    ).stdout.split()
    return tuple(int(part) for part in first[1].split("."))


def fail_without_pgbouncer() -> None:
    """Skip without ``pgbouncer``; with ``REQUIRE_POSTGRES=1`` (CI) fail instead."""
    if find_binary() is not None:
        return
    message = "pgbouncer not found (apt-get install pgbouncer, or set PGBOUNCER)"
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(message)
    pytest.skip(message)


class PgBouncer:
    """One PgBouncer process with a generated configuration; ``start``/``stop``/``restart``."""

    def __init__(
        self,
        cluster: PgCluster,
        *,
        pool_mode: str = "transaction",
        pool_size: int = 4,
        max_client_conn: int = 100,
        dbname: str | None = None,
    ):
        self.binary = find_binary()
        if self.binary is None:
            raise RuntimeError("pgbouncer not found")
        self.cluster = cluster
        self.pool_mode = pool_mode
        self.pool_size = pool_size
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.base_dir = Path(tempfile.mkdtemp(prefix="pgb-"))
        self.log_path = self.base_dir / "pgbouncer.log"
        self.pid_path = self.base_dir / "pgbouncer.pid"
        self.process: subprocess.Popen | None = None
        # One entry per database, or "*" for any name (the same name on the server).
        target = f"host=127.0.0.1 port={cluster.port}"
        databases = f"{dbname} = {target} dbname={dbname}" if dbname else f"* = {target}"
        (self.base_dir / "userlist.txt").write_text("".join(f'"{user}" ""\n' for user in USERS))
        (self.base_dir / "pgbouncer.ini").write_text(
            f"""[databases]
{databases}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {self.base_dir}/userlist.txt
admin_users = {SUPERUSER}
stats_users = {SUPERUSER}
pool_mode = {pool_mode}
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {max_client_conn}
max_db_connections = {pool_size}
server_check_delay = 0
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {self.log_path}
pidfile = {self.pid_path}
log_connections = 0
log_disconnections = 0
"""
        )
        if self.as_root:
            account = pwd.getpwnam(SERVICE_USER)
            for path in [self.base_dir, *self.base_dir.iterdir()]:
                os.chown(path, account.pw_uid, account.pw_gid)

    def url(self, user: str = SUPERUSER, dbname: str = "postgres") -> str:
        """Return a ``postgres://`` URL through PgBouncer (for ``DATABASE_URL``)."""
        return f"postgres://{user}@127.0.0.1:{self.port}/{dbname}"

    def start(self, *, timeout: float = 30) -> None:
        """Start PgBouncer on its port and wait until it accepts a client's query."""
        command = [self.binary, str(self.base_dir / "pgbouncer.ini")]
        if self.as_root:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        deadline = time.monotonic() + timeout
        self.process = subprocess.Popen(
            command,
            cwd=self.base_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            # Out of pytest's process group: a Ctrl-C reaches cleanup, not PgBouncer first.
            start_new_session=True,
        )
        while True:
            try:
                self.show("VERSION")
                return
            except psycopg.Error:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start:\n{self.log_tail()}") from None
                time.sleep(0.05)

    def stop(self, *, timeout: float = 10) -> None:
        """Stop PgBouncer at once: SIGTERM, its immediate shutdown (SIGINT would first wait
        for transactions in flight); clients' and servers' connections are cut."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=timeout)

    def restart(self) -> None:
        """Stop and start again on the same port: every client connection is cut."""
        self.stop()
        self.start()

    def show(self, what: str) -> list[dict]:
        """Run ``SHOW <what>`` on the admin console; return its rows as dicts."""
        with psycopg.connect(
            self.url(dbname="pgbouncer"), autocommit=True, connect_timeout=2
        ) as console:
            # The console speaks only the simple query protocol.
            cursor = console.cursor()
            cursor.execute(f"SHOW {what}".encode(), prepare=False)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)


@contextmanager
def private_pgbouncer(
    cluster: PgCluster,
    *,
    pool_mode: str = "transaction",
    pool_size: int = 4,
    max_client_conn: int = 100,
    dbname: str | None = None,
):
    """Yield a started ``PgBouncer`` in front of ``cluster``; stop it and remove its files."""
    bouncer = PgBouncer(
        cluster,
        pool_mode=pool_mode,
        pool_size=pool_size,
        max_client_conn=max_client_conn,
        dbname=dbname,
    )
    try:
        bouncer.start()
        yield bouncer
    finally:
        bouncer.cleanup()
