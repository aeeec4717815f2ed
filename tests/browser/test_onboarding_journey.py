"""In a real browser: the demo therapist invites a client, who makes an account and lands in their area."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import DemoServer, therapist_logs_in_to_demo

pytestmark = pytest.mark.browser


def test_invited_client_registers_and_lands_in_their_area(
    browser: object, page: object, demo_server: DemoServer, screenshot_dir: Path
) -> None:
    therapist_logs_in_to_demo(page, demo_server.base_url)
    page.goto(demo_server.base_url + "/therapist/invitations")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Uitnodigingscode maken").click()  # type: ignore[attr-defined]
    code = page.locator(".letter .code-display").inner_text().strip()  # type: ignore[attr-defined]
    assert len(code.replace("-", "")) == 16
    page.get_by_role("button", name="Brief printen").wait_for(state="visible", timeout=5000)  # type: ignore[attr-defined]
    page.screenshot(path=str(screenshot_dir / "invitation-letter.png"), full_page=True)  # type: ignore[attr-defined]

    newcomer = browser.new_context(locale="nl-NL").new_page()  # type: ignore[attr-defined]
    newcomer.goto(demo_server.base_url + "/login")
    newcomer.get_by_role("link", name="Ik heb een uitnodigingscode").click()
    newcomer.get_by_label("Uitnodigingscode").fill(code.lower().replace("-", " "))
    newcomer.get_by_label("Gebruikersnaam").fill("nieuwe-client")
    newcomer.get_by_label("Roepnaam", exact=False).fill("Noor")
    newcomer.get_by_label("Wachtwoord", exact=True).fill("kort")
    newcomer.get_by_label("Wachtwoord nog een keer").fill("kort")
    newcomer.get_by_label("Ik heb de privacyverklaring gelezen", exact=False).check()
    newcomer.get_by_role("button", name="Mijn account aanmaken").click()
    # A clear message tied to the field; nothing else typed is lost.
    assert newcomer.locator("#password-error").inner_text() == "Gebruik minstens 12 tekens."
    assert newcomer.get_by_label("Gebruikersnaam").input_value() == "nieuwe-client"
    newcomer.screenshot(path=str(screenshot_dir / "register-error.png"), full_page=True)
    newcomer.get_by_label("Wachtwoord", exact=True).fill("zachte regen op het dak")
    newcomer.get_by_label("Wachtwoord nog een keer").fill("zachte regen op het dak")
    newcomer.get_by_role("button", name="Mijn account aanmaken").click()
    assert newcomer.locator("h1").inner_text() == "Welkom, Noor"
    newcomer.context.close()

    page.goto(demo_server.base_url + "/therapist")  # type: ignore[attr-defined]
    assert "nieuwe-client" in page.locator("main").inner_text()  # type: ignore[attr-defined]
