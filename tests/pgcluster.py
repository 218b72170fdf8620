"""A private PostgreSQL cluster for tests that need a server of their own.

Some tests cannot use the suite's database: they need roles (which are cluster-wide), a
postmaster to kill, a replica, a connection pooler in front. Each such test starts a
throw-away cluster with this harness instead of touching the machine's cluster:

- ``initdb`` in a temporary directory (trust authentication, superuser ``postgres``,
  no fsync), then ``pg_ctl start`` of ``postgres`` on a free loopback port with its unix
  socket in that directory; ready in one or two seconds;
- as root (PostgreSQL refuses to run as root) every server binary runs as the
  ``postgres`` OS user through ``runuser`` (or ``su``), and the directory is handed to that user;
- the cluster is always stopped and its directory removed at the end, test failure or not.

Use it as a context manager, or through the ``pg_cluster`` fixture (import it into the
test module)::

    from tests.pgcluster import private_cluster

    with private_cluster() as cluster:
        cluster.psql("CREATE ROLE owner LOGIN")
        url = cluster.url("owner", "pipeworks")     # for DATABASE_URL
        cluster.kill()                              # SIGKILL the postmaster (a crash)
        cluster.start()                             # crash recovery, same port and data

This is the harness the database-role test (``tests/test_pg_app_role.py``) uses, and the
one the crash, replica and PgBouncer tests of other issues are meant to reuse: ``port``,
``data_dir``, ``socket_dir`` and ``bin_dir`` are public for them, and ``configure()``
appends settings to ``postgresql.conf`` before the next start.

A streaming replica of a running private cluster (``pg_basebackup -R`` into a second
``PgCluster``, on a port of its own; the read-replica tests, ``tests/test_replicas_live.py``)::

    with private_cluster() as primary, private_replica(primary) as replica:
        replica.pause_replay()      # writes reach the primary only, until
        replica.resume_replay()
        replica.wait_caught_up()
        replica.stop(); replica.start()

The binaries are found through ``PG_BIN`` (a directory), ``pg_config --bindir`` or the
newest ``/usr/lib/postgresql/*/bin``; ``available()`` says whether there are any.
"""

import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

SUPERUSER = "postgres"
SERVICE_USER = "postgres"  # the OS user the server runs as when the tests run as root


def find_bin_dir() -> Path | None:
    """Return the directory of ``initdb``, ``pg_ctl`` and ``postgres``, or None."""
    candidates = []
    if os.environ.get("PG_BIN"):
        candidates.append(os.environ["PG_BIN"])
    if shutil.which("pg_config"):
        try:
            bindir = subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            candidates.append(bindir)
        except (OSError, subprocess.SubprocessError):
            pass
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda path: int(Path(path).parent.name), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).parent))
    for candidate in candidates:
        path = Path(candidate)
        if all((path / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


def available() -> bool:
    """Whether PostgreSQL's server binaries are installed (and, as root, its OS user)."""
    if find_bin_dir() is None:
        return False
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVICE_USER)
        except KeyError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    """One private cluster: ``initdb`` on construction, ``start``/``stop``/``kill``."""

    def __init__(
        self,
        *,
        bin_dir: Path | None = None,
        port: int | None = None,
        replica_of: "PgCluster | None" = None,
    ):
        self.bin_dir = bin_dir or (replica_of.bin_dir if replica_of else find_bin_dir())
        if self.bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries not found (set PG_BIN)")
        self.as_root = os.geteuid() == 0
        # Short path: the unix socket's path must fit in 107 bytes.
        self.base_dir = Path(tempfile.mkdtemp(prefix="pgc-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir
        self.log_path = self.base_dir / "server.log"
        self.port = port or free_port()
        self._started = False
        if self.as_root:
            account = pwd.getpwnam(SERVICE_USER)
            os.chown(self.base_dir, account.pw_uid, account.pw_gid)
        os.chmod(self.base_dir, 0o700)
        self.primary = replica_of
        if replica_of is not None:
            try:
                self._clone(replica_of)
            except BaseException:
                shutil.rmtree(self.base_dir, ignore_errors=True)
                raise
            return
        self._run(
            "initdb",
            "--pgdata",
            str(self.data_dir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )
        self.configure(
            # No fsync: data survives a killed server (the OS keeps it), not a power cut,
            # which no test makes. synchronous_commit stays on: a commit that was
            # acknowledged must survive kill(), or a crash test would prove nothing.
            fsync="off",
            full_page_writes="off",
            listen_addresses="'127.0.0.1'",
            unix_socket_directories=f"'{self.socket_dir}'",
            max_connections="50",
            shared_buffers="32MB",
        )

    def _clone(self, primary: "PgCluster") -> None:
        """Make this cluster a streaming replica of the running ``primary``.

        ``pg_basebackup -R`` copies the primary's data directory over the replication
        protocol (initdb's trust rules allow it on loopback) and writes
        ``standby.signal`` and ``primary_conninfo``: started, the server replays the
        primary's WAL as it streams in and answers read-only queries (hot standby).
        """
        self._run(
            "pg_basebackup",
            "--pgdata",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(primary.port),
            "--username",
            SUPERUSER,
            "--write-recovery-conf",
            "--wal-method",
            "stream",
            "--checkpoint",
            "fast",
            "--no-sync",
        )
        # The copied postgresql.conf names the primary's socket directory; later lines win.
        self.configure(unix_socket_directories=f"'{self.socket_dir}'", hot_standby="on")

    # -- the server ---------------------------------------------------------------------

    def configure(self, **settings: str) -> None:
        """Append settings (already quoted as postgresql.conf wants) for the next start."""
        lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
        conf = self.data_dir / "postgresql.conf"
        self._run("sh", "-c", f"cat >> '{conf}'", input=lines, binary=False)

    def start(self, *, timeout: float = 30) -> None:
        """Start the server (after a ``kill`` this is crash recovery) and wait until ready."""
        deadline = time.monotonic() + timeout
        while True:
            result = self._run(
                "pg_ctl",
                "start",
                "--wait",
                "--timeout",
                str(max(5, int(deadline - time.monotonic()))),
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_path),
                "--options",
                f"-p {self.port}",
                check=False,
            )
            if result.returncode == 0:
                self._started = True
                return
            if not self._started and "could not bind" in self.log_tail(10):
                self.port = free_port()  # taken since it was picked; nobody knows it yet
            # After a SIGKILL, orphaned backends may still hold the old shared memory for
            # a moment; the postmaster refuses to start until they are gone.
            if time.monotonic() > deadline:
                raise RuntimeError(f"pg_ctl start failed:\n{result.stdout}\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back open transactions, end sessions)."""
        if self.postmaster_pid() is None:
            return
        self._run(
            "pg_ctl", "stop", "--wait", "--pgdata", str(self.data_dir), "--mode", mode, check=False
        )

    def kill(self, *, wait: float = 10) -> None:
        """SIGKILL the postmaster, as a crash would, and wait for its backends to end.

        The data directory is left as a crash leaves it (a stale ``postmaster.pid``, WAL to
        replay); ``start()`` runs crash recovery.
        """
        pid = self.postmaster_pid()
        if pid is None:
            return
        children = self._children(pid)
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + wait
        for process in [pid, *children]:
            while _alive(process) and time.monotonic() < deadline:
                time.sleep(0.05)

    def postmaster_pid(self) -> int | None:
        """Return the running postmaster's pid, or None."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return None
        return pid if _alive(pid) else None

    def cleanup(self) -> None:
        """Stop the server if it runs (killing it if it will not stop), remove the files."""
        try:
            self.stop(mode="immediate")
        finally:
            pid = self.postmaster_pid()
            if pid is not None:
                self.kill()
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- clients ------------------------------------------------------------------------

    def url(self, user: str = SUPERUSER, dbname: str = "postgres") -> str:
        """Return a ``postgres://`` URL (for ``DATABASE_URL``) over TCP on loopback."""
        return f"postgres://{user}@127.0.0.1:{self.port}/{dbname}"

    def connect(self, user: str = SUPERUSER, db: str = "postgres", **kwargs) -> psycopg.Connection:
        """Return a new psycopg connection (autocommit unless told otherwise)."""
        kwargs.setdefault("autocommit", True)
        return psycopg.connect(self.url(user, db), **kwargs)

    def psql(self, sql: str, *, user: str = SUPERUSER, db: str = "postgres", params=None):
        """Run one statement on a fresh autocommit connection; return its rows, if any."""
        with self.connect(user, db) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else None

    # -- replication (a cluster made with ``replica_of``) --------------------------------

    def pause_replay(self) -> None:
        """Stop applying the primary's WAL (it still streams in): the replica falls behind."""
        self.psql("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        self.psql("SELECT pg_wal_replay_resume()")

    def wait_caught_up(self, *, timeout: float = 30) -> None:
        """Wait until this replica has replayed everything its primary has written so far."""
        target = self.primary.psql("SELECT pg_current_wal_lsn()::text")[0][0]
        deadline = time.monotonic() + timeout
        while True:
            try:
                done = self.psql("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", params=[target])[
                    0
                ][0]
            except psycopg.OperationalError:
                done = False  # still starting up
            if done:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"replica did not replay up to {target}:\n{self.log_tail()}")
            time.sleep(0.05)

    # -- plumbing -----------------------------------------------------------------------

    def _run(self, program: str, *args: str, check=True, input=None, binary=True):
        path = str(self.bin_dir / program) if binary else program
        command = [path, *args]
        if self.as_root:
            if shutil.which("runuser"):
                command = ["runuser", "-u", SERVICE_USER, "--", *command]
            else:
                command = ["su", SERVICE_USER, "-s", "/bin/sh", "-c", shlex.join(command)]
        result = subprocess.run(
            command,
            cwd=self.base_dir,  # the service user may not enter the caller's directory
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            # pg_ctl's server inherits this process group; keep it out of ours so a
            # Ctrl-C to pytest does not reach it before cleanup does.
            start_new_session=True,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}\n{self.log_tail()}"
            )
        return result

    @staticmethod
    def _children(pid: int) -> list[int]:
        try:
            return [
                int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            ]
        except OSError:
            return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (an exited child not yet reaped) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


@contextmanager
def private_replica(primary: PgCluster):
    """Yield a started streaming replica of ``primary``, caught up; stop and remove it after."""
    replica = None
    try:
        replica = PgCluster(replica_of=primary)
        replica.start()
        replica.wait_caught_up()
        yield replica
    finally:
        if replica is not None:
            replica.cleanup()


@contextmanager
def private_cluster(**kwargs):
    """Yield a started ``PgCluster``; stop it and remove its files afterwards."""
    cluster = PgCluster(**kwargs)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def fail_without_binaries() -> None:
    """Fail the test without PostgreSQL's server binaries: the PostgreSQL pass needs them."""
    if not available():
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; set PG_BIN")


@pytest.fixture(scope="module")
def pg_cluster():
    """A private cluster for the test module (skipped, or failed in CI, without binaries)."""
    fail_without_binaries()
    with private_cluster() as cluster:
        yield cluster
