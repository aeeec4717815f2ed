"""In a real browser: an informant opens the demo's link, types the code, fills in the IQCODE, and the link dies."""

from __future__ import annotations

from pathlib import Path

import pytest

from rom_portal.demo import demo_informant
from tests.browser.conftest import DemoServer

pytestmark = pytest.mark.browser


def test_informant_fills_in_the_iqcode_through_a_link(
    page: object, demo_server: DemoServer, screenshot_dir: Path
) -> None:
    informant = demo_informant()
    page.goto(demo_server.base_url + informant.path)  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Een vragenlijst invullen"  # type: ignore[attr-defined]
    page.get_by_label("Code", exact=True).fill(informant.code.lower())  # type: ignore[attr-defined]
    page.get_by_role("button", name="Vragenlijst openen").click()  # type: ignore[attr-defined]
    assert "Deze vragenlijst gaat over Sanne." in page.locator("main").inner_text()  # type: ignore[attr-defined]
    page.screenshot(path=str(screenshot_dir / "informant-form.png"), full_page=True)  # type: ignore[attr-defined]
    for _ in range(2):  # two pages of questions: answer each with "Niet veranderd" (autosaved on change)
        questions = page.locator(".question:not([hidden]) fieldset")  # type: ignore[attr-defined]
        for index in range(questions.count()):
            questions.nth(index).get_by_label("Niet veranderd").check()
        page.locator(".save-status--ok").last.wait_for()  # type: ignore[attr-defined]
        page.locator("button[name=go][value=next], button[name=go][value=review]").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Controleer uw antwoorden"  # type: ignore[attr-defined]
    assert "Nog niet beantwoord" not in page.locator("main").inner_text()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Mijn antwoorden versturen").click()  # type: ignore[attr-defined]
    assert "verstuurd" in page.locator("h1").inner_text()  # type: ignore[attr-defined]
    # The informant can read nothing back: the link is dead, the form pages say so.
    page.goto(demo_server.base_url + "/i/form/review")  # type: ignore[attr-defined]
    assert page.url.endswith("/i/closed")  # type: ignore[attr-defined]
    page.goto(demo_server.base_url + informant.path)  # type: ignore[attr-defined]
    page.get_by_label("Code", exact=True).fill(informant.code)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Vragenlijst openen").click()  # type: ignore[attr-defined]
    assert "Sanne" not in page.locator("main").inner_text()  # type: ignore[attr-defined]
