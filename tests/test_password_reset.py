"""A new password with a one-time reset code (no e-mail), as a person or an attacker notices it."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx2
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.models import AuditEvent, AuthSession, ResetCode, User
from rom_portal.models.base import utcnow
from rom_portal.security.passwords import verify_password
from rom_portal.services import reset_codes
from rom_portal.web.session_middleware import cookie_name
from tests.conftest import BASE_URL, PERSONA_PASSWORD, People, csrf_of, login_as

NEW_PASSWORD = "zeven blauwe bergen zingen"
BAD_RESET_NL = "De gebruikersnaam of de code klopt niet"


def issue(db: Database, user: User, hours: int = 72) -> str:
    with db.session(write=True) as session:
        assert user.id is not None
        return reset_codes.issue(session, user_id=user.id, valid_for=timedelta(hours=hours))


def reset(client: TestClient, username: str, code: str, **fields: str) -> httpx2.Response:
    form = {
        "csrf_token": csrf_of(client, "/reset"),
        "username": username,
        "code": code,
        "password": NEW_PASSWORD,
        "password_again": NEW_PASSWORD,
    }
    form.update(fields)
    return client.post("/reset", data=form, follow_redirects=False)


def error_of(page_text: str, field: str) -> str | None:
    match = re.search(rf'<span class="error-message" id="{field}-error">(.*?)</span>', page_text, re.DOTALL)
    return html.unescape(match.group(1)).strip() if match else None


def stored_user(db: Database, user_id: int | None) -> User:
    with db.session() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def test_reset_code_sets_a_new_password_and_ends_every_session(
    client: TestClient, db: Database, people: People
) -> None:
    old_token = login_as(client, db, people.carol)
    assert client.get("/client", follow_redirects=False).status_code == 200
    before = utcnow()
    code = issue(db, people.carol)
    client.cookies.clear()
    answer = reset(client, "Carol", code.lower().replace("-", " "))
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?m=password_set"
    carol = stored_user(db, people.carol.id)
    assert verify_password(carol.password_hash, NEW_PASSWORD).ok
    assert not verify_password(carol.password_hash, PERSONA_PASSWORD).ok
    assert carol.password_changed_at >= before
    # The old cookie no longer reaches the client's area.
    client.cookies.set(cookie_name(client.app.state.settings), old_token)
    assert client.get("/client", follow_redirects=False).status_code == 303
    with db.session() as session:
        assert session.exec(select(AuthSession).where(AuthSession.user_id == people.carol.id)).first() is None
        assert session.exec(select(ResetCode).where(col(ResetCode.used_at).is_(None))).first() is None


def test_reset_code_works_once(client: TestClient, db: Database, people: People) -> None:
    code = issue(db, people.carol)
    assert reset(client, "carol", code).status_code == 303
    other = "een heel ander wachtwoord"
    again = reset(client, "carol", code, password=other, password_again=other)
    assert again.status_code == 400
    assert BAD_RESET_NL in (error_of(again.text, "code") or "")
    assert verify_password(stored_user(db, people.carol.id).password_hash, NEW_PASSWORD).ok


def test_unknown_user_wrong_used_and_expired_codes_get_the_same_message(
    client: TestClient, db: Database, people: People
) -> None:
    used = issue(db, people.carol)
    assert reset(client, "carol", used).status_code == 303
    expired = issue(db, people.dave)
    with db.session(write=True) as session:
        for row in session.exec(select(ResetCode).where(ResetCode.user_id == people.dave.id)):
            row.expires_at = utcnow() - timedelta(minutes=1)
    carols_code = issue(db, people.carol)
    attempts = [
        ("nobody", carols_code),  # unknown username
        ("dave", carols_code),  # someone else's code
        ("carol", "AAAA-BBBB-CCCC-DDDD"),  # wrong code
        ("carol", used),  # used code
        ("dave", expired),  # expired code
    ]
    messages = set()
    for username, code in attempts:
        page = reset(client, username, code)
        assert page.status_code == 400
        messages.add(error_of(page.text, "code"))
    assert len(messages) == 1
    assert BAD_RESET_NL in (messages.pop() or "")
    assert not verify_password(stored_user(db, people.dave.id).password_hash, NEW_PASSWORD).ok


def test_ten_wrong_codes_lock_even_an_unknown_username(app: Portal, client: TestClient) -> None:
    for attempt in range(10):
        assert reset(client, "nobody", f"AAAA-BBBB-CCCC-{attempt:04d}").status_code == 400
    locked = reset(client, "nobody", "AAAA-BBBB-CCCC-DDDD")
    assert locked.status_code == 429
    assert "Te veel verkeerde pogingen. Wacht" in (error_of(locked.text, "code") or "")
    # The username stays locked when the guesses move to another address.
    with TestClient(app, base_url=BASE_URL, client=("192.0.2.7", 40000)) as elsewhere:
        assert reset(elsewhere, "nobody", "AAAA-BBBB-CCCC-EEEE").status_code == 429
        assert reset(elsewhere, "someone", "AAAA-BBBB-CCCC-EEEE").status_code == 400


def test_locked_username_refuses_even_the_right_code(client: TestClient, db: Database, people: People) -> None:
    code = issue(db, people.carol)
    for attempt in range(10):
        reset(client, "carol", f"AAAA-BBBB-CCCC-{attempt:04d}")
    assert reset(client, "carol", code).status_code == 429
    assert verify_password(stored_user(db, people.carol.id).password_hash, PERSONA_PASSWORD).ok


def test_nothing_typed_is_lost_on_a_validation_error(client: TestClient, db: Database, people: People) -> None:
    code = issue(db, people.carol)
    page = reset(client, "carol", code, password_again="iets anders dan het eerste")
    assert page.status_code == 400
    assert 'value="carol"' in page.text
    assert f'value="{code}"' in page.text
    assert NEW_PASSWORD not in page.text
    assert error_of(page.text, "password_again") == "De twee wachtwoorden zijn niet hetzelfde."
    # Nothing was checked or used: the code still works.
    assert reset(client, "carol", code).status_code == 303


def test_staff_can_use_a_code_from_their_admin(client: TestClient, db: Database, people: People) -> None:
    code = issue(db, people.rita)
    assert reset(client, "rita", code).status_code == 303
    assert verify_password(stored_user(db, people.rita.id).password_hash, NEW_PASSWORD).ok


def test_disabled_account_cannot_be_reset(client: TestClient, db: Database, people: People) -> None:
    code = issue(db, people.carol)
    with db.session(write=True) as session:
        carol = session.get(User, people.carol.id)
        assert carol is not None
        carol.disabled_at = utcnow()
    page = reset(client, "carol", code)
    assert page.status_code == 400
    assert BAD_RESET_NL in (error_of(page.text, "code") or "")


def test_reset_is_audited_without_codes_or_passwords(client: TestClient, db: Database, people: People) -> None:
    code = issue(db, people.carol)
    reset(client, "carol", "AAAA-BBBB-CCCC-DDDD")
    assert reset(client, "carol", code).status_code == 303
    with db.session() as session:
        events = list(session.exec(select(AuditEvent).where(AuditEvent.object_type == "reset_code")))
    assert [(e.action, e.outcome) for e in events] == [("use", "failure"), ("use", "success")]
    assert events[1].actor_user_id == people.carol.id
    assert events[1].registration_id == people.carol_registration.id
    assert all(code not in e.object_id and NEW_PASSWORD not in e.object_id for e in events)


def test_reset_page_speaks_dutch_and_english(client: TestClient) -> None:
    dutch = client.get("/reset")
    assert "Nieuw wachtwoord instellen" in dutch.text
    assert 'autocomplete="username"' in dutch.text
    assert "Set a new password" in client.get("/reset?lang=en").text
