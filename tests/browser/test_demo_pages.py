"""A newcomer opens the demo in a real browser: Dutch, nothing from elsewhere, works on a phone and by keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import DemoServer, Recorder

pytestmark = pytest.mark.browser


def test_demo_login_page_is_dutch_and_lists_the_demo_accounts(
    page: object, demo_server: DemoServer, recorder: Recorder, screenshot_dir: Path
) -> None:
    page.goto(demo_server.base_url + "/")  # type: ignore[attr-defined]
    assert page.url.endswith("/login")  # type: ignore[attr-defined]
    assert page.locator("html").get_attribute("lang") == "nl"  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Inloggen"  # type: ignore[attr-defined]
    assert page.get_by_role("note").inner_text().startswith("Demopraktijk.")  # type: ignore[attr-defined]
    assert "demo-behandelaar" in page.locator(".account-list").inner_text()  # type: ignore[attr-defined]
    assert page.get_by_label("Gebruikersnaam").is_visible()  # type: ignore[attr-defined]
    page.screenshot(path=str(screenshot_dir / "login-desktop.png"), full_page=True)  # type: ignore[attr-defined]
    assert page.context.cookies() == []  # type: ignore[attr-defined]
    assert any(url.endswith(".css") or ".css?" in url for url in recorder.requests)


def test_login_page_fits_a_phone_screen(page: object, demo_server: DemoServer, screenshot_dir: Path) -> None:
    page.set_viewport_size({"width": 360, "height": 740})  # type: ignore[attr-defined]
    page.goto(demo_server.base_url + "/login")  # type: ignore[attr-defined]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")  # type: ignore[attr-defined]
    page.screenshot(path=str(screenshot_dir / "login-phone.png"), full_page=True)  # type: ignore[attr-defined]
    assert overflow <= 0


def test_keyboard_user_can_skip_to_the_content(page: object, demo_server: DemoServer) -> None:
    page.goto(demo_server.base_url + "/login")  # type: ignore[attr-defined]
    page.keyboard.press("Tab")  # type: ignore[attr-defined]
    focused = page.evaluate("document.activeElement.textContent.trim()")  # type: ignore[attr-defined]
    assert focused == "Direct naar de inhoud"
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    assert page.evaluate("location.hash") == "#main"  # type: ignore[attr-defined]


def test_visitor_can_switch_to_english_and_keep_it(page: object, demo_server: DemoServer) -> None:
    page.goto(demo_server.base_url + "/login")  # type: ignore[attr-defined]
    page.get_by_role("link", name="English").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Log in"  # type: ignore[attr-defined]
    page.get_by_role("link", name="ROM portal").click()  # type: ignore[attr-defined]
    assert page.locator("html").get_attribute("lang") == "en"  # type: ignore[attr-defined]
    assert page.context.cookies() == []  # type: ignore[attr-defined]


def test_htmx_loads_with_the_safe_configuration(page: object, demo_server: DemoServer) -> None:
    page.goto(demo_server.base_url + "/login")  # type: ignore[attr-defined]
    page.wait_for_function("window.htmx !== undefined")  # type: ignore[attr-defined]
    config = page.evaluate(  # type: ignore[attr-defined]
        "({self: htmx.config.selfRequestsOnly, evalOk: htmx.config.allowEval, scripts: htmx.config.allowScriptTags,"
        " styles: htmx.config.includeIndicatorStyles, history: htmx.config.historyCacheSize})"
    )
    assert config == {"self": True, "evalOk": False, "scripts": False, "styles": False, "history": 0}
    # htmx would otherwise inject an inline <style>; the CSP forbids it and so do we.
    assert page.evaluate("document.querySelectorAll('style').length") == 0  # type: ignore[attr-defined]
