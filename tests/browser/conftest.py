"""Browser tests: Debian's Chromium driven by Playwright against a real ``rom-portal demo`` process.

Every page records each network request and console message; a request to anywhere but this machine, or a
console error (a CSP violation shows up as one), fails the test. Without Chromium these tests skip, unless
``ROM_PORTAL_TEST_REQUIRE_BROWSER=1`` (as in CI), when they fail.

Accessibility: the ``axe`` fixture runs axe-core (installed from npm into .ci/node/ by .ci/test) on the page
shown and fails on serious or critical violations. Without axe-core these checks are skipped with a warning,
except in CI (``CI=true``), where they fail.

Tests that need data of their own use ``portal_server``: the portal with a fresh SQLite file, served by uvicorn
in a thread of the test process, with its database at hand for making accounts and checking what was stored.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from rom_portal.db import Database
from rom_portal.models import Registration, Role, User
from rom_portal.questionnaires import Catalogue
from rom_portal.schema import migrate
from rom_portal.security.passwords import hash_password
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor

REQUIRE_BROWSER = os.environ.get("ROM_PORTAL_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _skip_or_fail(message: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(message.replace("skipped", "required"))
    pytest.skip(message)


# Module scope: Playwright's sync API keeps an event loop running in this thread while it is open, which
# would break the anyio.run() of other test modules.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        _skip_or_fail("browser tests skipped: install Debian's chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("browser tests skipped: pip install playwright")
    playwright = sync_playwright().start()
    try:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:
        playwright.stop()
        _skip_or_fail(f"browser tests skipped: Chromium did not start ({exc})")
    yield instance
    instance.close()
    playwright.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DemoServer:
    base_url: str
    startup_seconds: float
    workdir: Path


# One demo per module: a demo account's current TOTP code can be used only once, so modules must not share.
@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """``rom-portal demo`` as a newcomer starts it: its own SQLite file in an empty folder."""
    workdir = tmp_path_factory.mktemp("demo")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ROM_PORTAL_")}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "rom_portal", "demo", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"rom-portal demo exited: {process.stdout.read() if process.stdout else ''}")
            try:
                with urllib.request.urlopen(base_url + "/healthz", timeout=1) as answer:  # noqa: S310 (local)
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - started > 60:
                raise RuntimeError("rom-portal demo did not answer within 60 s")
            time.sleep(0.05)
        yield DemoServer(base_url, time.monotonic() - started, workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Recorder:
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [
            url
            for url in self.requests
            if urlparse(url).scheme in {"http", "https", "ws", "wss"}
            and urlparse(url).hostname not in {h.strip("[]") for h in LOCAL_HOSTS}
        ]


def _note_console(recorder: Recorder, kind: str, text: str) -> None:
    # Errors (CSP violations among them) and warnings about our own headers count. "Failed to load resource"
    # is also logged for a page answered with 400 on purpose (a form with a mistake); failing sub-resources
    # are caught by _note_response instead.
    if text.startswith("Failed to load resource"):
        return
    if kind == "error" or (kind == "warning" and ("Permissions-Policy" in text or "Content Security Policy" in text)):
        recorder.console_errors.append(text)


def _note_response(recorder: Recorder, response: object) -> None:
    request = response.request  # type: ignore[attr-defined]
    # Assets only: a refused autosave (422) is an answer the page shows, not a broken page.
    if request.resource_type in ("stylesheet", "script", "image", "font", "media") and response.status >= 400:  # type: ignore[attr-defined]
        recorder.console_errors.append(f"{response.status} for {request.url}")  # type: ignore[attr-defined]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def recorded_page(browser: object, recorder: Recorder) -> object:
    """A page in a new browser context (nothing shared with other contexts), recording into ``recorder``."""
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    new_page = context.new_page()
    new_page.on("request", lambda request: recorder.requests.append(request.url))
    new_page.on("console", lambda message: _note_console(recorder, message.type, message.text))
    new_page.on("pageerror", lambda error: recorder.console_errors.append(str(error)))
    new_page.on("response", lambda response: _note_response(recorder, response))
    return new_page


@pytest.fixture
def page(browser: object, recorder: Recorder) -> Iterator[object]:
    new_page = recorded_page(browser, recorder)
    yield new_page
    new_page.context.close()  # type: ignore[attr-defined]
    assert recorder.foreign_requests() == [], "the page loaded something from another origin"
    assert recorder.console_errors == [], "the browser reported errors (CSP violations show up here)"


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Screenshots go to ROM_PORTAL_TEST_SCREENSHOTS when set (to look at them), else a temp folder."""
    target = Path(os.environ.get("ROM_PORTAL_TEST_SCREENSHOTS", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    return target


# --- A portal of the test's own ----------------------------------------------------------------------------


@dataclass
class PortalServer:
    base_url: str
    database: Database
    catalogue: Catalogue
    therapist_id: int

    def add_client(self, username: str, password: str, display_name: str, questionnaire: str = "phq9") -> str:
        """A client of this portal's therapist with one questionnaire to fill in; returns its public id."""
        with self.database.session(write=True) as session:
            user = User(
                username=username, password_hash=hash_password(password), role=Role.client, display_name=display_name
            )
            session.add(user)
            session.flush()
            assert user.id is not None
            registration = Registration(user_id=user.id, therapist_id=self.therapist_id)
            session.add(registration)
            session.flush()
            actor = Actor(self.therapist_id, Role.therapist.value, "test")
            return assign(session, self.catalogue, actor, registration, questionnaire).public_id


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalServer]:
    """The portal on a fresh SQLite file, served by uvicorn in a thread (plain HTTP: cookie ``rom_session``)."""
    import uvicorn

    from rom_portal.app import create_app
    from rom_portal.settings import load_settings

    url = f"sqlite:///{tmp_path_factory.mktemp('portal') / 'portal.db'}"
    database = Database(url, threads=2)
    migrate(database.engine)
    settings = load_settings({}, database_url=url, secret_key=secrets.token_urlsafe(32), insecure_http=True)
    app = create_app(settings)
    with database.session(write=True) as session:
        therapist = User(
            username="behandelaar",
            password_hash=hash_password(secrets.token_urlsafe(16)),
            role=Role.therapist,
            display_name="Behandelaar",
        )
        session.add(therapist)
        session.flush()
        assert therapist.id is not None
        therapist_id = therapist.id
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="portal-server", daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the portal server stopped while starting")
        if time.monotonic() - started > 30:
            raise RuntimeError("the portal server did not start within 30 s")
        time.sleep(0.02)
    try:
        yield PortalServer(f"http://127.0.0.1:{port}", database, app.state.catalogue, therapist_id)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        database.dispose()


def log_in(page: object, base_url: str, username: str, password: str) -> None:
    """Through the login form, as a person would."""
    page.goto(base_url + "/login")  # type: ignore[attr-defined]
    page.get_by_label("Gebruikersnaam").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Wachtwoord").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Inloggen").click()  # type: ignore[attr-defined]


def staff_logs_in_to_demo(page: object, base_url: str, username: str) -> None:
    """A demo staff member logs in with the second-factor code the demo login page shows."""
    page.goto(base_url + "/login")  # type: ignore[attr-defined]
    card = page.locator(".account-list li", has_text=username)  # type: ignore[attr-defined]
    code = card.locator("dd code").nth(2).inner_text()
    page.get_by_label("Gebruikersnaam").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Wachtwoord").fill(f"{username}-wachtwoord")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Inloggen").click()  # type: ignore[attr-defined]
    page.get_by_label("Code", exact=True).fill(code)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Verder").click()  # type: ignore[attr-defined]


def therapist_logs_in_to_demo(page: object, base_url: str) -> None:
    staff_logs_in_to_demo(page, base_url, "demo-behandelaar")


def screenshots(page: object, directory: Path, name: str) -> None:
    """At phone and desktop width, for a person to look at; the page must not scroll sideways on a phone."""
    for label, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(size)  # type: ignore[attr-defined]
        page.screenshot(path=str(directory / f"{name}-{label}.png"), full_page=True)  # type: ignore[attr-defined]
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")  # type: ignore[attr-defined]
        assert overflow <= 0, f"{name} scrolls sideways at {size['width']} px"


# --- Accessibility (axe-core) ------------------------------------------------------------------------------

AXE_SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
IN_CI = os.environ.get("CI") == "true"
FAILING_IMPACTS = ("serious", "critical")
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
# Only what a failure message needs, so the whole result never crosses over from the browser.
_AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map((rule) => ({
    id: rule.id, impact: rule.impact, help: rule.help,
    targets: rule.nodes.map((node) => node.target.join(' ')),
  }));
}"""


@dataclass
class Axe:
    """Runs axe-core on the page shown; ``source`` is None when axe-core is not installed (checks skipped)."""

    source: str | None
    findings: list[dict[str, Any]] = field(default_factory=list)  # every violation seen, also the milder ones

    def __call__(self, page: object, where: str) -> None:
        """Fail on serious or critical violations on the page as it is now."""
        if self.source is None:  # not installed: said once, by the axe_source fixture
            return
        # DevTools evaluation is not subject to the page's CSP, so axe runs without weakening it (no
        # bypass_csp, no script tag). Each new document needs it again.
        if not page.evaluate("typeof window.axe !== 'undefined'"):  # type: ignore[attr-defined]
            page.evaluate(self.source)  # type: ignore[attr-defined]
        violations = page.evaluate(_AXE_RUN)  # type: ignore[attr-defined]
        self.findings += [{**violation, "where": where} for violation in violations]
        failing = [violation for violation in violations if violation["impact"] in FAILING_IMPACTS]
        assert not failing, f"axe on {where}:\n" + "\n".join(
            f"  {v['id']} ({v['impact']}): {v['help']} at {', '.join(v['targets'])}" for v in failing
        )

    def at_both_widths(self, page: object, where: str) -> None:
        """The same page on a phone (360 px) and on a desktop (1280 px) screen; leaves it at desktop width."""
        for size in (PHONE, DESKTOP):
            page.set_viewport_size(size)  # type: ignore[attr-defined]
            self(page, f"{where} at {size['width']} px")


@pytest.fixture(scope="session")
def axe_source() -> str | None:
    if AXE_SCRIPT.is_file():
        return AXE_SCRIPT.read_text(encoding="utf-8")
    message = f"axe-core not found at {AXE_SCRIPT}: run bash .ci/test (it installs axe-core with npm)"
    if IN_CI:
        pytest.fail(message + "; accessibility checks are required in CI")
    warnings.warn(message + "; accessibility checks are skipped", stacklevel=1)
    return None


@pytest.fixture
def axe(axe_source: str | None) -> Axe:
    return Axe(axe_source)
