"""In a real browser: the demo researcher makes a mistake, then previews PHQ-9 by age band and downloads the zip.

The demo's research cohort gives the tables real figures. The form with an error and the preview are checked
with axe on a phone and a desktop screen, the page must not scroll sideways on a phone (the tables scroll in
their own region), and the ``page`` fixture fails on any request to another origin and on any console error.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from tests.browser.conftest import Axe, DemoServer, screenshots, staff_logs_in_to_demo

pytestmark = pytest.mark.browser


def test_the_demo_researcher_previews_phq9_by_age_and_downloads_it(
    page: object, demo_server: DemoServer, axe: Axe, screenshot_dir: Path
) -> None:
    base = demo_server.base_url
    staff_logs_in_to_demo(page, base, "demo-onderzoeker")
    assert page.url == base + "/research"  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Onderzoek"  # type: ignore[attr-defined]
    screenshots(page, screenshot_dir, "research-form")

    # Nothing chosen: the summary says what is missing and has the focus; the form keeps what was chosen.
    page.get_by_label("Leeftijdsgroep").check()  # type: ignore[attr-defined]
    page.get_by_label("Eerste meting", exact=True).uncheck()  # type: ignore[attr-defined]
    page.get_by_label("Laatste meting", exact=True).uncheck()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Voorbeeld tonen").click()  # type: ignore[attr-defined]
    summary = page.locator("#error-summary")  # type: ignore[attr-defined]
    assert "Kies ten minste één vragenlijst." in summary.inner_text()
    assert "Kies ten minste één meetmoment." in summary.inner_text()
    assert page.evaluate("document.activeElement.id") == "error-summary"  # type: ignore[attr-defined]
    assert page.get_by_label("Leeftijdsgroep").is_checked()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the research form with mistakes")
    screenshots(page, screenshot_dir, "research-errors")

    # While the figures are computed the page says so (the submit is held back here to see it).
    page.evaluate("document.getElementById('research-form').addEventListener('submit', e => e.preventDefault())")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Voorbeeld tonen").click()  # type: ignore[attr-defined]
    assert page.locator("#research-busy").inner_text() == "Bezig met berekenen…"  # type: ignore[attr-defined]
    assert page.locator("#research-form").get_attribute("aria-busy") == "true"  # type: ignore[attr-defined]
    page.reload()  # type: ignore[attr-defined]

    page.get_by_role("checkbox", name=re.compile("^PHQ-9 ")).check()  # type: ignore[attr-defined]
    page.get_by_label("Eerste meting", exact=True).check()  # type: ignore[attr-defined]
    page.get_by_label("Laatste meting", exact=True).check()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Voorbeeld tonen").click()  # type: ignore[attr-defined]
    assert page.locator("#preview").inner_text() == "Voorbeeld"  # type: ignore[attr-defined]
    table = page.get_by_role("table", name=re.compile("^PHQ-9, .*: scores per meetmoment"))  # type: ignore[attr-defined]
    assert table.is_visible()
    everyone = table.get_by_role("row", name=re.compile("^Eerste meting alle"))
    n = int(everyone.locator("td").first.inner_text())
    assert n >= 50  # the demo's cohort, those who consented
    assert table.get_by_role("rowheader", name="25–44 jaar").count() >= 1
    assert "k = 10" in page.locator(".research-facts").inner_text()  # type: ignore[attr-defined]
    region = page.get_by_role("region", name=re.compile("^PHQ-9")).first  # type: ignore[attr-defined]
    assert region.get_attribute("tabindex") == "0"
    axe.at_both_widths(page, "the research preview")
    screenshots(page, screenshot_dir, "research-preview")

    with page.expect_download() as started:  # type: ignore[attr-defined]
        page.get_by_role("link", name="CSV downloaden (zip met codeboek)").click()  # type: ignore[attr-defined]
    assert re.fullmatch(r"research-export-\d{4}-\d\d\.zip", started.value.suggested_filename)
    with zipfile.ZipFile(Path(started.value.path())) as archive:
        assert sorted(archive.namelist()) == ["codebook.txt", "figures.csv"]
