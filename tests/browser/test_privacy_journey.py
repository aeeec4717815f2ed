"""In a real browser: a client opens their privacy page, downloads their data, then erases their registration.

The client logs in through the login form, downloads the zip, mistypes the password once (nothing happens),
then erases with password and confirmation, keeps the receipt page, and can no longer log in. Both the erase page
and the receipt are checked with axe on a phone and a desktop screen; the ``page`` fixture fails on any request
to another origin and on any console error.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from sqlmodel import select

from rom_portal.models import Registration, Role, User
from rom_portal.security import sessions, totp
from rom_portal.security.passwords import hash_password
from tests.browser.conftest import Axe, PortalServer, log_in

pytestmark = pytest.mark.browser

PASSWORD = "appeltaart met slagroom graag"
USERNAME = "erin-wist"
WIDTHS = (390, 1280)
STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def _registration_of(portal_server: PortalServer, username: str) -> Registration | None:
    with portal_server.database.session() as session:
        return session.exec(
            select(Registration).join(User, User.id == Registration.user_id).where(User.username == username)  # type: ignore[arg-type]
        ).first()


def _screenshots(page: object, screenshot_dir: Path, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})  # type: ignore[attr-defined]
        page.screenshot(path=str(screenshot_dir / f"{name}-{width}.png"), full_page=True)  # type: ignore[attr-defined]


def test_a_client_downloads_their_data_then_erases_their_registration(
    page: object, portal_server: PortalServer, axe: Axe, screenshot_dir: Path
) -> None:
    base = portal_server.base_url
    portal_server.add_client(USERNAME, PASSWORD, "Erin")
    registration = _registration_of(portal_server, USERNAME)
    assert registration is not None
    log_in(page, base, USERNAME, PASSWORD)
    page.goto(base + "/client/privacy")  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Mijn gegevens"  # type: ignore[attr-defined]

    with page.expect_download() as started:  # type: ignore[attr-defined]
        page.get_by_role("link", name="Al mijn gegevens downloaden").click()  # type: ignore[attr-defined]
    archive = Path(started.value.path())
    assert zipfile.is_zipfile(archive)
    with zipfile.ZipFile(archive) as contents:
        assert any(Path(name).name.upper().startswith("README") for name in contents.namelist())

    page.get_by_role("link", name="Mijn inschrijving verwijderen").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Mijn inschrijving verwijderen"  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the erase page")
    _screenshots(page, screenshot_dir, "erase")

    # A wrong password: a clear message, and nothing is deleted.
    page.get_by_label("Uw wachtwoord").fill("dit is niet het goede wachtwoord")  # type: ignore[attr-defined]
    page.get_by_label("Ik begrijp dat alles wordt verwijderd").check()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Mijn inschrijving definitief verwijderen").click()  # type: ignore[attr-defined]
    assert "Uw wachtwoord klopt niet" in page.locator("#error-summary").inner_text()  # type: ignore[attr-defined]
    assert _registration_of(portal_server, USERNAME) is not None
    axe.at_both_widths(page, "the erase page with an error")

    page.get_by_label("Uw wachtwoord").fill(PASSWORD)  # type: ignore[attr-defined]
    page.get_by_label("Ik begrijp dat alles wordt verwijderd").check()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Mijn inschrijving definitief verwijderen").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Bewijs van verwijdering"  # type: ignore[attr-defined]
    receipt = page.locator(".erasure-receipt")  # type: ignore[attr-defined]
    receipt_id = receipt.locator(".erasure-receipt__id").inner_text()
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", receipt_id) and registration.public_id not in receipt.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*", receipt.locator("time").get_attribute("datetime"))
    profile = receipt.get_by_role("row", name=re.compile("^Profiel"))
    assert profile.locator("td").inner_text() == "1"
    questionnaires = receipt.get_by_role("row", name=re.compile("^Vragenlijsten die klaarstonden"))
    assert questionnaires.locator("td").inner_text() == "1"  # the PHQ-9 add_client gave her
    assert "Erin" not in page.locator("main").inner_text()  # type: ignore[attr-defined]
    assert page.get_by_role("button", name="Afdrukken of opslaan als pdf").is_visible()  # type: ignore[attr-defined]
    assert page.context.cookies() == []  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the receipt")
    _screenshots(page, screenshot_dir, "erase-receipt")
    assert _registration_of(portal_server, USERNAME) is None

    log_in(page, base, USERNAME, PASSWORD)
    assert page.url.startswith(base + "/login")  # type: ignore[attr-defined]
    assert page.locator(".notice--danger, .error-message").count() > 0  # type: ignore[attr-defined]


def _logged_in_as(page: object, portal_server: PortalServer, user_id: int) -> None:
    """Staff log in with a second factor; these pages are what is tested here, so the session is made directly.

    They get a known password and TOTP secret, which the erasure asks for again.
    """
    with portal_server.database.session(write=True) as session:
        user = session.get(User, user_id)
        assert user is not None
        user.password_hash = hash_password(PASSWORD)
        user.totp_secret = STAFF_TOTP_SECRET
        token = sessions.start(session, user, mfa_ok=True, device="browser test")
    page.context.add_cookies([{"name": "rom_session", "value": token, "url": portal_server.base_url}])  # type: ignore[attr-defined]


def _prove_staff(page: object, password: str = PASSWORD) -> None:
    """The staff member's password and current code, and the tick that the client asked for it."""
    page.get_by_label("Uw wachtwoord").fill(password)  # type: ignore[attr-defined]
    page.get_by_label("Code", exact=True).fill(totp.current_code(STAFF_TOTP_SECRET))  # type: ignore[attr-defined]
    page.get_by_label("De cliënt heeft hierom gevraagd").check()  # type: ignore[attr-defined]


def test_staff_erase_a_registration_on_request(
    page: object, portal_server: PortalServer, axe: Axe, screenshot_dir: Path
) -> None:
    base = portal_server.base_url
    portal_server.add_client("fenna-wist", PASSWORD, "Fenna")
    portal_server.add_client("gijs-wist", PASSWORD, "Gijs")
    fenna = _registration_of(portal_server, "fenna-wist")
    gijs = _registration_of(portal_server, "gijs-wist")
    assert fenna is not None and gijs is not None

    # The therapist, from the bottom of the client's page.
    _logged_in_as(page, portal_server, portal_server.therapist_id)
    page.goto(f"{base}/therapist/clients/{fenna.public_id}")  # type: ignore[attr-defined]
    _screenshots(page, screenshot_dir, "erase-therapist-client-page")
    page.get_by_role("link", name="Inschrijving verwijderen…").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "De inschrijving van Fenna verwijderen?"  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the therapist's confirmation")
    _screenshots(page, screenshot_dir, "erase-therapist-confirm")
    page.get_by_role("button", name="De inschrijving definitief verwijderen").click()  # type: ignore[attr-defined]
    assert "Zet een vinkje" in page.locator("main").inner_text()  # type: ignore[attr-defined]
    assert _registration_of(portal_server, "fenna-wist") is not None
    # A wrong password: a clear message, nothing deleted.
    _prove_staff(page, password="dit is niet het goede wachtwoord")
    page.get_by_role("button", name="De inschrijving definitief verwijderen").click()  # type: ignore[attr-defined]
    assert "Uw wachtwoord klopt niet" in page.locator("#error-summary").inner_text()  # type: ignore[attr-defined]
    assert _registration_of(portal_server, "fenna-wist") is not None
    _prove_staff(page)
    page.get_by_role("button", name="De inschrijving definitief verwijderen").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "Bewijs van verwijdering"  # type: ignore[attr-defined]
    assert fenna.public_id not in page.locator(".erasure-receipt").inner_text()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the receipt for the therapist")
    _screenshots(page, screenshot_dir, "erase-therapist-receipt")
    assert _registration_of(portal_server, "fenna-wist") is None

    # An admin, by username.
    with portal_server.database.session(write=True) as session:
        admin = User(username="beheerder-wist", password_hash="!", role=Role.admin, display_name="Beheerder")
        session.add(admin)
        session.flush()
        admin_id = admin.id
    assert admin_id is not None
    page.context.clear_cookies()  # type: ignore[attr-defined]
    _logged_in_as(page, portal_server, admin_id)
    page.goto(base + "/admin")  # type: ignore[attr-defined]
    _screenshots(page, screenshot_dir, "erase-admin-home")
    page.get_by_role("link", name="De inschrijving van een cliënt verwijderen…").click()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the admin's search")
    _screenshots(page, screenshot_dir, "erase-admin-find")
    page.get_by_label("Gebruikersnaam van de cliënt").fill("gijs-wist")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Cliënt zoeken").click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text() == "De inschrijving van Gijs verwijderen?"  # type: ignore[attr-defined]
    assert "Behandelaar" in page.locator("main").inner_text()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the admin's confirmation")
    _screenshots(page, screenshot_dir, "erase-admin-confirm")
    _prove_staff(page)
    page.get_by_role("button", name="De inschrijving definitief verwijderen").click()  # type: ignore[attr-defined]
    assert gijs.public_id not in page.locator(".erasure-receipt").inner_text()  # type: ignore[attr-defined]
    assert _registration_of(portal_server, "gijs-wist") is None
