"""The inspector in a real browser, against the server `make serve` runs.

The test prepares a throwaway SQLite database with the same commands as `make serve`
(migrate, sync_policies, load_demo), starts `manage.py runserver` on a free port, logs in
through the admin login form with the printed staff login and opens a demo character in
headless Chromium. It uses no test database of its own.
"""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from playwright.sync_api import expect, sync_playwright

PROJECT = Path(settings.BASE_DIR)
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
STARTUP_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def _wait_for_port(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        assert server.poll() is None, "runserver exited early"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"runserver did not listen on port {port} within {STARTUP_TIMEOUT}s")


def test_inspector_shows_state_events_and_chart_of_a_demo_character(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEBUG": "1",
        "PIPEWORKS_WORLDS_DIR": str(PROJECT / "data" / "worlds"),
        "PYTHONUNBUFFERED": "1",
    }
    _manage(env, "migrate", "--no-input")
    _manage(env, "sync_policies")
    login = re.search(r"staff login: (\S+) / (\S+)", _manage(env, "load_demo"))
    assert login, "load_demo printed no staff login"
    username, password = login.groups()

    port = _free_port()
    log = (tmp_path / "runserver.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, server)
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base}/admin/login/?next=/admin/")
                page.fill("#id_username", username)
                page.fill("#id_password", password)
                page.click("input[type=submit]")
                expect(page.locator("#pipeworks-intro")).to_be_visible()

                page.goto(f"{base}/admin/worlds/character/?q=Ada+Brass")
                page.get_by_role("link", name="Ada Brass").click()

                state = page.locator("#axis-state")
                expect(state).to_be_visible()
                expect(state.locator("tr.pw-axis")).to_have_count(6)
                expect(state.locator(".pw-marker").first).to_be_visible()
                events = page.locator("#axis-events")
                expect(events).to_be_visible()
                expect(events.locator("tr.pw-event").first).to_be_visible()
                chart = page.locator("#score-history svg").first
                expect(chart).to_be_visible()
                assert chart.bounding_box()["height"] > 20

                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=ARTIFACTS / "inspector.png", full_page=True)
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
