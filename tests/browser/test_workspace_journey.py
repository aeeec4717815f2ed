"""In a real browser: the demo therapist's caseload, a client's results with chart and change, plans, an alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import Axe, DemoServer, Recorder, screenshots, therapist_logs_in_to_demo

pytestmark = pytest.mark.browser


def test_therapist_sees_the_caseload_a_clients_change_and_acknowledges_an_alert(
    page: object, demo_server: DemoServer, recorder: Recorder, axe: Axe, screenshot_dir: Path
) -> None:
    base = demo_server.base_url
    therapist_logs_in_to_demo(page, base)
    page.goto(base + "/therapist")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Uw cliënten"  # type: ignore[attr-defined]
    alerts = page.locator("#alerts-title")  # type: ignore[attr-defined]
    assert "1 open melding" in alerts.inner_text()
    axe.at_both_widths(page, "caseload")
    screenshots(page, screenshot_dir, "workspace-caseload")

    page.get_by_role("link", name="Ahmed", exact=True).first.click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Ahmed"  # type: ignore[attr-defined]
    chart = page.locator("svg[role=img]").first  # type: ignore[attr-defined]
    assert chart.is_visible()
    assert chart.locator("polyline").count() >= 1
    results = page.locator("#results-title").locator("xpath=..")  # type: ignore[attr-defined]
    assert "Betrouwbaar verslechterd" in results.inner_text()
    axe.at_both_widths(page, "client page")
    screenshots(page, screenshot_dir, "workspace-client")

    page.get_by_role("link", name="Meetplannen").first.click()  # type: ignore[attr-defined]
    assert "Meetplannen voor Ahmed" in page.locator("h1").inner_text()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "plans page")
    screenshots(page, screenshot_dir, "workspace-plans")

    page.goto(base + "/therapist")  # type: ignore[attr-defined]
    page.locator("#alerts-title").locator("xpath=..").get_by_role("link").first.click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Mark"  # type: ignore[attr-defined]
    page.get_by_role("button", name="Markeren als gezien").first.click()  # type: ignore[attr-defined]
    assert "gezien" in page.locator("#alerts").inner_text().lower()  # type: ignore[attr-defined]
    page.goto(base + "/therapist")  # type: ignore[attr-defined]
    assert page.locator("#alerts-title").count() == 0 or "0" in page.locator("#alerts-title").inner_text()  # type: ignore[attr-defined]

    assert recorder.foreign_requests() == []
    assert recorder.console_errors == [], "the browser reported errors (CSP violations show up here)"
    assert [cookie["name"] for cookie in page.context.cookies()] == ["rom_session"]  # type: ignore[attr-defined]
