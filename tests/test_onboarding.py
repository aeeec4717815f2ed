"""A new client redeems an invitation code: registers, accepts the privacy statement and lands in their area."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx2
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.db import Database
from rom_portal.models import AuditEvent, Consent, ConsentKind, Invitation, Registration, Role, User
from rom_portal.models.base import utcnow
from rom_portal.security.passwords import verify_password
from rom_portal.services.consent import PRIVACY_STATEMENT_VERSION
from tests.conftest import People, csrf_of, login_as

NEW_PASSWORD = "paarse olifant danst zacht"
BAD_CODE_NL = "Deze code werkt niet."


def invite(client: TestClient, db: Database, therapist: User, label: str = "") -> str:
    """Make an invitation as ``therapist`` through the page, and return the code shown once."""
    login_as(client, db, therapist)
    token = csrf_of(client, "/therapist/invitations")
    page = client.post("/therapist/invitations", data={"csrf_token": token, "label": label})
    assert page.status_code == 200
    code = re.search(r'class="letter__value code-display">([A-Z0-9-]+)<', page.text)
    assert code, "no code on the invitation page"
    client.cookies.clear()
    return code.group(1)


def register(client: TestClient, code: str, **fields: str) -> httpx2.Response:
    form = {
        "csrf_token": csrf_of(client, "/register"),
        "code": code,
        "username": "sanne",
        "display_name": "Sanne",
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
        "privacy": "yes",
    }
    form.update(fields)
    return client.post("/register", data=form, follow_redirects=False)


def error_of(page_text: str, field: str) -> str | None:
    match = re.search(rf'<span class="error-message" id="{field}-error">(.*?)</span>', page_text, re.DOTALL)
    return html.unescape(match.group(1)).strip() if match else None


def test_new_client_lands_in_their_area_logged_in_and_linked_to_the_inviting_therapist(
    client: TestClient, db: Database, people: People
) -> None:
    code = invite(client, db, people.alice)
    answer = register(client, code, username="Sanne.V", display_name="  Sanne  ")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/client"
    home = client.get("/client", follow_redirects=False)
    assert home.status_code == 200
    assert "Sanne" in home.text
    with db.session() as session:
        user = session.exec(select(User).where(User.username == "sanne.v")).one()
        registration = session.exec(select(Registration).where(Registration.user_id == user.id)).one()
    assert user.role is Role.client
    assert user.display_name == "Sanne"
    assert verify_password(user.password_hash, NEW_PASSWORD).ok
    assert registration.therapist_id == people.alice.id


def test_consent_records_the_privacy_statement_version_and_time(
    client: TestClient, db: Database, people: People
) -> None:
    before = utcnow()
    assert register(client, invite(client, db, people.alice)).status_code == 303
    with db.session() as session:
        user = session.exec(select(User).where(User.username == "sanne")).one()
        registration = session.exec(select(Registration).where(Registration.user_id == user.id)).one()
        consent = session.exec(select(Consent).where(Consent.registration_id == registration.id)).one()
    assert consent.kind is ConsentKind.privacy_statement
    assert consent.statement_version == PRIVACY_STATEMENT_VERSION
    assert consent.given_at >= before - timedelta(seconds=1)


def test_code_works_once(client: TestClient, db: Database, people: People) -> None:
    code = invite(client, db, people.alice)
    assert register(client, code).status_code == 303
    client.cookies.clear()
    again = register(client, code, username="someone-else")
    assert again.status_code == 400
    assert BAD_CODE_NL in (error_of(again.text, "code") or "")
    with db.session() as session:
        assert session.exec(select(User).where(User.username == "someone-else")).first() is None


def test_used_wrong_and_expired_codes_get_the_same_message(client: TestClient, db: Database, people: People) -> None:
    used = invite(client, db, people.alice)
    assert register(client, used).status_code == 303
    client.cookies.clear()
    expired = invite(client, db, people.alice)
    with db.session(write=True) as session:
        for invitation in session.exec(select(Invitation).where(col(Invitation.used_at).is_(None))):
            invitation.expires_at = utcnow() - timedelta(minutes=1)
    messages = set()
    for code in (used, expired, "AAAA-BBBB-CCCC-DDDD"):
        page = register(client, code, username="nieuw")
        assert page.status_code == 400
        messages.add(error_of(page.text, "code"))
    assert len(messages) == 1
    assert BAD_CODE_NL in messages.pop()  # type: ignore[operator]


def test_code_may_be_typed_in_lower_case_without_dashes(client: TestClient, db: Database, people: People) -> None:
    code = invite(client, db, people.alice)
    answer = register(client, " " + code.replace("-", "").lower() + " ")
    assert answer.status_code == 303


def test_taken_username_is_told_only_after_the_code_is_accepted(
    client: TestClient, db: Database, people: People
) -> None:
    wrong = register(client, "AAAA-BBBB-CCCC-DDDD", username="carol")
    assert error_of(wrong.text, "username") is None
    code = invite(client, db, people.alice)
    taken = register(client, code, username="Carol")
    assert taken.status_code == 400
    assert error_of(taken.text, "username") == "Deze gebruikersnaam is al in gebruik. Kies een andere."
    # The code was not used up by the refused attempt.
    assert register(client, code, username="carol2").status_code == 303


def test_nothing_typed_is_lost_on_a_validation_error(client: TestClient, db: Database, people: People) -> None:
    code = invite(client, db, people.alice)
    page = register(client, code, username="sanne", display_name="Sanne", password="kort", password_again="kort")
    assert page.status_code == 400
    assert f'value="{code}"' in page.text
    assert 'value="sanne"' in page.text
    assert 'value="Sanne"' in page.text
    assert 'value="kort"' not in page.text  # passwords are never sent back
    assert re.search(r'id="privacy"[^>]*checked', page.text)
    assert error_of(page.text, "password") == "Gebruik minstens 12 tekens."
    assert 'href="#password"' in page.text  # the summary links to the field
    assert re.search(
        r'id="password"[^>]*aria-invalid="true"[^>]*aria-describedby="password-hint password-error"', page.text
    )


def test_username_must_follow_the_rules(client: TestClient, db: Database, people: People) -> None:
    code = invite(client, db, people.alice)
    for bad in ("ab", "met spatie", "émile", "x" * 65):
        page = register(client, code, username=bad)
        assert page.status_code == 400
        assert error_of(page.text, "username"), bad


def test_privacy_statement_must_be_accepted(client: TestClient, db: Database, people: People) -> None:
    code = invite(client, db, people.alice)
    page = register(client, code, privacy="")
    assert page.status_code == 400
    assert "privacyverklaring" in (error_of(page.text, "privacy") or "")
    with db.session() as session:
        assert session.exec(select(User).where(User.username == "sanne")).first() is None


def test_ten_wrong_codes_lock_the_address_with_a_clear_message(
    client: TestClient, db: Database, people: People
) -> None:
    code = invite(client, db, people.alice)
    for attempt in range(10):
        page = register(client, f"AAAA-BBBB-CCCC-{attempt:04d}")
        assert page.status_code == 400
    locked = register(client, code)  # even the right code waits now
    assert locked.status_code == 429
    assert "Te veel verkeerde pogingen. Wacht" in (error_of(locked.text, "code") or "")
    with db.session() as session:
        assert session.exec(select(User).where(User.username == "sanne")).first() is None


def test_registration_is_audited_without_codes_or_passwords(client: TestClient, db: Database, people: People) -> None:
    code = invite(client, db, people.alice)
    register(client, "AAAA-BBBB-CCCC-DDDD")
    assert register(client, code).status_code == 303
    with db.session() as session:
        events = list(session.exec(select(AuditEvent)))
    actions = {(event.action, event.object_type, event.outcome) for event in events}
    assert ("create", "invitation", "success") in actions
    assert ("redeem", "invitation", "failure") in actions
    assert ("redeem", "invitation", "success") in actions
    assert ("create", "registration", "success") in actions
    flat = " ".join(f"{e.object_id} {e.access_point}" for e in events)
    assert code not in flat and NEW_PASSWORD not in flat


def test_register_page_speaks_dutch_and_english(client: TestClient) -> None:
    dutch = client.get("/register")
    assert "Uitnodigingscode" in dutch.text
    assert 'autocomplete="one-time-code"' in dutch.text
    assert 'autocomplete="new-password"' in dutch.text
    english = client.get("/register?lang=en")
    assert "Invitation code" in english.text


def test_privacy_statement_renders_in_dutch_and_english_with_its_version(client: TestClient) -> None:
    dutch = client.get("/privacy")
    assert dutch.status_code == 200
    assert "<h1>Privacyverklaring</h1>" in dutch.text
    assert f"Versie {PRIVACY_STATEMENT_VERSION}" in dutch.text
    assert "Via Mijn gegevens" in dutch.text
    english = client.get("/privacy?lang=en")
    assert "<h1>Privacy statement</h1>" in english.text
    assert f"Version {PRIVACY_STATEMENT_VERSION}" in english.text
    assert "no analytics" in english.text


def test_one_code_cannot_be_used_to_probe_usernames(client: TestClient, db: Database, people: People) -> None:
    """With the rest of the form unfinished the username is not looked up; 'taken' answers are counted."""
    code = invite(client, db, people.alice)
    unfinished = register(client, code, username="alice", password="", password_again="")
    assert error_of(unfinished.text, "username") is None
    for _ in range(10):
        taken = register(client, code, username="alice")
        assert taken.status_code == 400
        assert error_of(taken.text, "username")
    locked = register(client, code, username="alice")
    assert locked.status_code == 429
    assert register(client, code, username="someone-new").status_code == 429


def test_a_valid_code_does_not_clear_the_count_of_wrong_codes(client: TestClient, db: Database, people: People) -> None:
    code = invite(client, db, people.alice)
    for _ in range(9):
        register(client, "WRONG-WRONG-WRONG-WRONG")
    register(client, code, username="alice")  # right code, but no account made
    assert register(client, "WRONG-WRONG-WRONG-WRONG").status_code == 400  # the 10th failure in a row
    assert register(client, "WRONG-WRONG-WRONG-WRONG").status_code == 429


def test_the_letter_prints_the_configured_address(migrated_url: str) -> None:
    from rom_portal.app import create_app
    from tests.conftest import BASE_URL, make_settings

    app = create_app(make_settings(migrated_url, public_url="https://rom.praktijk.example"))
    with TestClient(app, base_url=BASE_URL) as client:
        with app.state.db.session(write=True) as session:
            alice = User(username="alice", password_hash="x", role=Role.therapist, totp_secret="A" * 32)
            session.add(alice)
        login_as(client, app.state.db, alice)
        page = client.post(
            "/therapist/invitations",
            data={"csrf_token": csrf_of(client, "/therapist/invitations")},
            headers={"Host": "evil.example"},
        )
    app.state.db.dispose()
    assert "https://rom.praktijk.example" in page.text
    assert "evil.example" not in page.text
