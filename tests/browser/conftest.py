"""Browser tests: Debian's Chromium driven by Playwright against a real ``rom-portal demo`` process.

Every page records each network request and console message; a request to anywhere but this machine, or a
console error (a CSP violation shows up as one), fails the test. Without Chromium these tests skip, unless
``ROM_PORTAL_TEST_REQUIRE_BROWSER=1`` (as in CI), when they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

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
    if request.resource_type != "document" and response.status >= 400:  # type: ignore[attr-defined]
        recorder.console_errors.append(f"{response.status} for {request.url}")  # type: ignore[attr-defined]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def page(browser: object, recorder: Recorder) -> Iterator[object]:
    context = browser.new_context(locale="nl-NL")  # type: ignore[attr-defined]
    new_page = context.new_page()
    new_page.on("request", lambda request: recorder.requests.append(request.url))
    new_page.on("console", lambda message: _note_console(recorder, message.type, message.text))
    new_page.on("pageerror", lambda error: recorder.console_errors.append(str(error)))
    new_page.on("response", lambda response: _note_response(recorder, response))
    yield new_page
    context.close()
    assert recorder.foreign_requests() == [], "the page loaded something from another origin"
    assert recorder.console_errors == [], "the browser reported errors (CSP violations show up here)"


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Screenshots go to ROM_PORTAL_TEST_SCREENSHOTS when set (to look at them), else a temp folder."""
    target = Path(os.environ.get("ROM_PORTAL_TEST_SCREENSHOTS", tmp_path))
    target.mkdir(parents=True, exist_ok=True)
    return target
