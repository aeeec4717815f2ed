"""axe-core on the pages people meet first and the filling-in pages, on a phone and on a desktop screen.

Fails on serious or critical violations (WCAG 2 A/AA rules and axe's best practices). The pages run as they are
served, under their own CSP: axe is put in through DevTools, not a script tag.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.conftest import Axe, PortalServer, log_in

pytestmark = pytest.mark.browser

PASSWORD = "lange wandeling door het bos"


@pytest.fixture(autouse=True)
def _needs_axe(axe: Axe) -> Iterator[None]:
    if axe.source is None:
        pytest.skip("axe-core is not installed (bash .ci/test installs it into .ci/node/): accessibility skipped")
    yield


def _answer(page: object, item: str, label: str) -> None:
    """Click an answer and wait until the portal says it is saved."""
    question = page.locator(f"#question-{item}")  # type: ignore[attr-defined]
    question.get_by_label(label).check()
    question.get_by_text("Opgeslagen").wait_for()


def _fill_page_url(portal_server: PortalServer, public_id: str) -> str:
    return f"{portal_server.base_url}/client/questionnaires/{public_id}"


def test_login_page(page: object, portal_server: PortalServer, axe: Axe) -> None:
    page.goto(portal_server.base_url + "/login")  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the login page")
    page.get_by_role("button", name="Inloggen").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Inloggen"  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the login page with a mistake")


def test_register_page(page: object, portal_server: PortalServer, axe: Axe) -> None:
    page.goto(portal_server.base_url + "/register")  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the register page")
    page.get_by_role("button", name="Mijn account aanmaken").click()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the register page with mistakes")


def test_account_page(page: object, portal_server: PortalServer, axe: Axe) -> None:
    portal_server.add_client("a11y-account", PASSWORD, "Iris")
    log_in(page, portal_server.base_url, "a11y-account", PASSWORD)
    page.goto(portal_server.base_url + "/account")  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the account page")


def test_filling_in_pages(page: object, portal_server: PortalServer, axe: Axe) -> None:
    public_id = portal_server.add_client("a11y-fill", PASSWORD, "Sam")
    log_in(page, portal_server.base_url, "a11y-fill", PASSWORD)
    page.goto(_fill_page_url(portal_server, public_id))  # type: ignore[attr-defined]
    axe.at_both_widths(page, "an empty fill-in page")

    _answer(page, "1", "Meerdere dagen")
    axe.at_both_widths(page, "the fill-in page after an autosave")

    page.get_by_role("button", name="Controleren en versturen").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Controleer uw antwoorden"  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the review page")
    page.get_by_role("button", name="Mijn antwoorden versturen").click()  # type: ignore[attr-defined]
    assert page.get_by_role("alert").is_visible()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the review page, sent too early")

    page.goto(_fill_page_url(portal_server, public_id))  # type: ignore[attr-defined]
    for number in range(2, 10):
        _answer(page, str(number), "Helemaal niet")
    _answer(page, "10", "Enigszins moeilijk")
    page.get_by_role("button", name="Controleren en versturen").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Mijn antwoorden versturen").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Bedankt, uw antwoorden zijn verstuurd"  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the done page")


def test_done_page_with_the_crisis_text(page: object, portal_server: PortalServer, axe: Axe) -> None:
    public_id = portal_server.add_client("a11y-crisis", PASSWORD, "Lou")
    log_in(page, portal_server.base_url, "a11y-crisis", PASSWORD)
    page.goto(_fill_page_url(portal_server, public_id))  # type: ignore[attr-defined]
    for number in range(1, 10):
        _answer(page, str(number), "Meerdere dagen" if number == 9 else "Helemaal niet")
    _answer(page, "10", "Enigszins moeilijk")
    page.get_by_role("button", name="Controleren en versturen").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Mijn antwoorden versturen").click()  # type: ignore[attr-defined]
    assert page.get_by_role("heading", name="Hebt u het moeilijk?").is_visible()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the done page with the crisis text")
