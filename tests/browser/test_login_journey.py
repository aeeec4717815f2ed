"""The demo's login journeys in a real browser: a client, and a therapist with the code shown on the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import DemoServer

pytestmark = pytest.mark.browser


def _log_in(page: object, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/login")  # type: ignore[attr-defined]
    page.get_by_label("Gebruikersnaam").fill(username)  # type: ignore[attr-defined]
    page.get_by_label("Wachtwoord").fill(password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Inloggen").click()  # type: ignore[attr-defined]


def test_demo_client_logs_in_and_out(page: object, demo_server: DemoServer, screenshot_dir: Path) -> None:
    _log_in(page, demo_server.base_url, "demo-client", "demo-client-wachtwoord")
    assert page.locator("h1").inner_text() == "Welkom, Sanne"  # type: ignore[attr-defined]
    cookies = page.context.cookies()  # type: ignore[attr-defined]
    assert [c["name"] for c in cookies] == ["rom_session"]  # the one strictly-necessary cookie
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    page.screenshot(path=str(screenshot_dir / "client-home.png"), full_page=True)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Uitloggen").click()  # type: ignore[attr-defined]
    assert "U bent uitgelogd." in page.locator("main").inner_text()  # type: ignore[attr-defined]
    assert page.context.cookies() == []  # type: ignore[attr-defined]
    page.goto(demo_server.base_url + "/client")  # type: ignore[attr-defined]
    assert page.url.startswith(demo_server.base_url + "/login")  # type: ignore[attr-defined]


def test_demo_therapist_logs_in_with_the_code_from_the_login_page(
    page: object, demo_server: DemoServer, screenshot_dir: Path
) -> None:
    page.goto(demo_server.base_url + "/login")  # type: ignore[attr-defined]
    card = page.locator(".account-list li", has_text="demo-behandelaar")  # type: ignore[attr-defined]
    code = card.locator("dd code").nth(2).inner_text()
    _log_in(page, demo_server.base_url, "demo-behandelaar", "demo-behandelaar-wachtwoord")
    assert page.locator("h1").inner_text() == "Verificatiecode"  # type: ignore[attr-defined]
    page.screenshot(path=str(screenshot_dir / "second-factor.png"), full_page=True)  # type: ignore[attr-defined]
    page.get_by_label("Code", exact=True).fill(code)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Verder").click()  # type: ignore[attr-defined]
    assert page.url.endswith("/therapist")  # type: ignore[attr-defined]
    page.get_by_role("link", name="Mijn account").click()  # type: ignore[attr-defined]
    assert "Tweestapsverificatie staat aan." in page.locator("main").inner_text()  # type: ignore[attr-defined]
    page.screenshot(path=str(screenshot_dir / "account.png"), full_page=True)  # type: ignore[attr-defined]
