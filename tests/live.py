"""Real processes for the load and fault tests: a scratch database, gunicorn, clients.

The test database of pytest-django lives in a transaction the server cannot see, so
these tests prepare a database of their own through `manage.py` and talk to the product
only over HTTP, as a game server would.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
LIVE_SECRET_KEY = "pipeworks-live-test-only-not-a-secret-8e2d4a6c0b1f3e5d7a9c2b4d6f8e0a1c"  # noqa: S105


# Settings read from the environment at import that a child must not inherit from the suite.
INHERITED_SETTINGS = (
    "DATABASE_REPLICA_URL",
    "PIPEWORKS_PGBOUNCER",
    "PIPEWORKS_PG_PREPARE_THRESHOLD",
)


def settings_in_child(expression: str, **env: str) -> subprocess.CompletedProcess:
    """Print ``expression`` (Python over ``settings``) as JSON from a child process whose
    settings come from ``env``: settings are read from the environment once, at import."""
    environment = {k: v for k, v in os.environ.items() if k not in INHERITED_SETTINGS}
    environment.update(env, DJANGO_SETTINGS_MODULE="pipeworks.settings")
    script = (
        "import django, json; django.setup(); from django.conf import settings; "
        f"print(json.dumps({expression}))"
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stderr}"
    return result.stdout


@contextmanager
def scratch_postgres(settings_dict: dict, name: str):
    """Yield the URL of a new, empty PostgreSQL database; drop it afterwards."""
    base = f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def prepare(env: dict, *, characters: int) -> str:
    """Migrate, sync, create characters and a game master's token; return the token."""
    manage(env, "migrate", "-v0")
    manage(env, "sync_policies", "alpha", "-v0")
    manage(
        env,
        "generate_ledger",
        "--i-know-this-is-not-production",  # a scratch database; DEBUG may be off
        "--world",
        "alpha",
        "--characters",
        str(characters),
        "--events",
        str(characters),
        "-v0",
    )
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; "
        "from django.contrib.auth.models import Group; "
        "user = get_user_model().objects.create_user('load', is_staff=True); "
        "user.groups.add(Group.objects.get(name='Game masters'))",
    )
    return manage(
        env, "create_api_key", "--owner", "load", "--name", "load test", "--apply"
    ).strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """The product under gunicorn with several worker processes."""

    def __init__(self, env: dict, *, workers: int, log_path: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "pipeworks.wsgi:application",
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--graceful-timeout",
                "5",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env={
                **os.environ,
                **env,
                "DEBUG": "0",
                # DEBUG off needs a real key; pytest run with DEBUG=1 may have none.
                "SECRET_KEY": os.environ.get("SECRET_KEY") or LIVE_SECRET_KEY,
                "ALLOWED_HOSTS": "127.0.0.1",
            },
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/admin/login/", timeout=2)
                return
            except OSError:
                assert self.process.poll() is None, "gunicorn exited"
                time.sleep(0.2)
        raise TimeoutError("gunicorn did not answer")

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]

    def kill_worker(self) -> int:
        pid = self.worker_pids()[0]
        os.kill(pid, signal.SIGKILL)
        return pid

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def post(url: str, token: str, path: str, body: dict) -> tuple[int, dict | None]:
    """POST JSON; return (status, body); status 0 when no answer came back."""
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Api-Key {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except (OSError, http.client.HTTPException, json.JSONDecodeError):
        # A worker killed mid-answer: no answer (IncompleteRead is not an OSError).
        return 0, None


def fire(url: str, token: str, jobs: list[tuple[str, dict]]) -> list[tuple[str, int, int | None]]:
    """Send jobs in order from this process; return (idempotency key, status, event id)."""
    results = []
    for path, body in jobs:
        status, answer = post(url, token, path, body)
        event_id = answer.get("event_id") if isinstance(answer, dict) else None
        results.append((body["idempotency_key"], status, event_id))
    return results
