"""The inspector in a real browser, against the server `make serve` runs.

One server for the module: a throwaway SQLite database prepared with the same commands as
`make serve` (migrate, sync_policies, load_demo), `manage.py runserver` on a free port,
and headless Chromium. Each test logs in through the admin login form with one of the
logins load_demo printed (staff, inspector, game master), in a browser context of its
own. It uses no test database of its own.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
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
# The logins load_demo prints: "<role> login: <username> / <password>".
LOGIN_LINE = re.compile(r"^(staff|inspector|game master) login: (\S+) / (\S+)$", re.MULTILINE)


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


@pytest.fixture(scope="module")
def demo_worlds(tmp_path_factory) -> Path:
    """A copy of the project's world files for the server, which a test may edit."""
    target = tmp_path_factory.mktemp("worlds") / "worlds"
    shutil.copytree(PROJECT / "data" / "worlds", target)
    return target


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, demo_worlds):
    """Serve the demo data as `make serve` does; yield its URL and the printed logins."""
    tmp_path = tmp_path_factory.mktemp("serve")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEBUG": "1",
        "PIPEWORKS_WORLDS_DIR": str(demo_worlds),
        "PYTHONUNBUFFERED": "1",
    }
    _manage(env, "migrate", "--no-input")
    _manage(env, "sync_policies")
    logins = {
        role: (username, password)
        for role, username, password in LOGIN_LINE.findall(_manage(env, "load_demo"))
    }
    assert "staff" in logins, "load_demo printed no staff login"

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
        yield f"http://127.0.0.1:{port}", logins
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def log_in(demo_server, browser):
    """Return a function that opens a page signed in with one of the demo logins."""
    base, logins = demo_server
    contexts = []

    def open_page(role: str):
        assert role in logins, f"load_demo printed no {role} login"
        username, password = logins[role]
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{base}/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        expect(page.locator("#pipeworks-intro")).to_be_visible()
        return page

    yield open_page
    for context in contexts:
        context.close()


def _open_character(page, base: str, name: str) -> None:
    page.goto(f"{base}/admin/worlds/character/?q={name.replace(' ', '+')}")
    page.get_by_role("link", name=name).click()
    expect(page.locator("#axis-state")).to_be_visible()


def _open_latest_event_of(page, base: str, name: str) -> str:
    """Open the newest event of a character from the ledger list; return its id."""
    page.goto(f"{base}/admin/ledger/event/?q={name.replace(' ', '+')}")
    link = page.locator("#result_list tbody th.field-id a").first
    event_id = link.inner_text()
    link.click()
    expect(page.locator("h1")).to_contain_text("View event")
    return event_id


def test_inspector_shows_state_events_and_chart_of_a_demo_character(demo_server, log_in):
    base, _ = demo_server
    page = log_in("staff")

    _open_character(page, base, "Ada Brass")

    state = page.locator("#axis-state")
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


def test_a_game_master_reverses_an_event_and_applies_one(demo_server, log_in):
    base, logins = demo_server
    page = log_in("game master")

    event_id = _open_latest_event_of(page, base, "Ada Brass")
    form = page.locator("#reverse-event")
    form.locator("textarea[name=reason]").fill("entered twice")
    form.locator("#reverse-submit").click()

    expect(page.locator(".messagelist")).to_contain_text("Reversed by #")
    expect(page.locator(".pw-reverses")).to_have_text(f"reverses #{event_id}")
    page.locator(".pw-reverses a").click()
    expect(page.locator(".pw-reversed-by")).to_contain_text("reversed by #")
    expect(page.locator("#reverse-event")).to_have_count(0)

    _open_character(page, base, "Ada Brass")
    form = page.locator("#apply-event")
    form.locator("input[name=event_type]").fill("gm_adjustment")
    form.locator("input[type=number]").first.fill("0.05")
    form.locator("textarea[name=reason]").fill("quest reward")
    form.locator("#apply-submit").click()

    expect(page.locator(".messagelist")).to_contain_text("Applied event #")
    newest = page.locator("#axis-events tr.pw-event").first
    expect(newest).to_contain_text("gm_adjustment")
    expect(newest.locator(".pw-actor")).to_have_text(logins["game master"][0])
    expect(newest.locator(".pw-source")).to_have_text("admin")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "game-master.png", full_page=True)


def test_an_inspector_sees_neither_the_reverse_control_nor_the_apply_form(demo_server, log_in):
    base, _ = demo_server
    page = log_in("inspector")

    _open_latest_event_of(page, base, "Edda Ledger")
    expect(page.locator(".field-actor")).to_be_visible()
    expect(page.locator("#reverse-event")).to_have_count(0)

    _open_character(page, base, "Edda Ledger")
    expect(page.locator("#axis-events tr.pw-event").first).to_be_visible()
    expect(page.locator("#apply-event")).to_have_count(0)


def test_the_world_page_charts_its_population_and_previews_a_sync(demo_server, demo_worlds, log_in):
    base, _ = demo_server
    page = log_in("staff")
    page.goto(f"{base}/admin/worlds/world/daily_undertaking/change/")

    wealth = page.locator('#distributions .pw-distribution[data-axis="wealth"]')
    bars = wealth.locator("a.pw-label-bar")
    expect(bars).to_have_count(5)  # poor, modest, well-kept, wealthy, decadent
    counts = [int(bar.get_attribute("data-count")) for bar in bars.all()]
    characters = int(re.search(r"\((\d+) character", wealth.locator("h3").inner_text())[1])
    assert characters > 0 and sum(counts) == characters
    # Each non-empty label draws a bar as wide as its share; empty ones draw none.
    for bar, count in zip(bars.all(), counts, strict=True):
        width = bar.locator("rect.pw-chart-bar").bounding_box()["width"]
        assert (width > 1) == (count > 0)
    expect(wealth.locator("a.pw-histogram-bin")).to_have_count(20)
    expect(page.locator("#event-types tbody tr").first).to_be_visible()
    expect(page.locator("#window-stats svg.pw-crossings").first).to_be_visible()

    # Move wealth's modest band down to 0.10 in the files, then preview the sync.
    thresholds = demo_worlds / "daily_undertaking" / "policies" / "thresholds.yaml"
    thresholds.write_text(
        thresholds.read_text()
        .replace("poor: { min: 0.0, max: 0.19 }", "poor: { min: 0.0, max: 0.09 }")
        .replace("modest: { min: 0.20, max: 0.39 }", "modest: { min: 0.10, max: 0.39 }")
    )
    page.locator("#sync-world").click()

    preview = page.locator("#sync-preview")
    expect(preview).to_be_visible()
    matrix = preview.locator("#impact-daily_undertaking-wealth + table.pw-impact-matrix")
    expect(matrix).to_be_visible()
    cells = [int(cell.inner_text()) for cell in matrix.locator("td").all()]
    assert sum(cells) == characters  # every wealth score, old label -> new label
    page.locator("#confirm-sync-button").click()
    expect(page.locator(".messagelist")).to_contain_text("synced from the policy files")
