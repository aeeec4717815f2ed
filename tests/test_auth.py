"""Logging in, the second factor, sessions and CSRF, as a user or an attacker would notice them."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.models import AuditEvent, AuthSession, RecoveryCode, Throttle, User
from rom_portal.models.base import utcnow
from rom_portal.security.tokens import hash_token
from rom_portal.web.session_middleware import cookie_name
from tests.conftest import BASE_URL, PERSONA_PASSWORD, TOTP_SECRET, People, csrf_of, login_as


def _login(client: TestClient, username: str, password: str = PERSONA_PASSWORD, **extra: str) -> object:
    token = csrf_of(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, **extra},
        follow_redirects=False,
    )


def _cookie(client: TestClient) -> str | None:
    return client.cookies.get(cookie_name(client.app.state.settings))


def _code(step_offset: int = 0) -> str:
    return (
        pyotp.TOTP(TOTP_SECRET).now()
        if step_offset == 0
        else pyotp.TOTP(TOTP_SECRET).at(int(utcnow().timestamp()) + 30 * step_offset)
    )


def _give_code(client: TestClient, code: str) -> object:
    token = csrf_of(client, "/login/code")
    return client.post("/login/code", data={"code": code, "csrf_token": token}, follow_redirects=False)


def test_client_logs_in_and_lands_in_their_area(client: TestClient, people: People) -> None:
    response = _login(client, "carol")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-rom_session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in cookie
    home = client.get("/", follow_redirects=True)
    assert home.url.path == "/client"
    assert "Welkom, Carol" in home.text


def test_session_token_is_stored_only_as_a_hash(client: TestClient, people: People, db: Database) -> None:
    _login(client, "carol")
    token = _cookie(client)
    assert token and len(token) >= 43  # 256 bits, url-safe
    with db.session() as session:
        hashes = session.exec(select(AuthSession.token_hash)).all()
    assert hash_token(token) in hashes
    assert token not in hashes


def test_login_gives_a_new_token_even_with_an_existing_session(
    client: TestClient, people: People, db: Database
) -> None:
    """Session fixation: a token planted before login must not become the logged-in session."""
    planted = login_as(client, db, people.dave)
    _login(client, "carol")
    assert _cookie(client) != planted
    with db.session() as session:
        assert session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(planted))).first() is None


def test_unknown_user_and_wrong_password_get_the_same_answer(client: TestClient, people: People) -> None:
    wrong = _login(client, "carol", "not the right password")
    unknown = _login(client, "nobody-here", "not the right password")
    assert wrong.status_code == unknown.status_code == 400

    def _normalise(html: str) -> str:
        # The anonymous CSRF token is signed with the time: two pages a second apart carry different ones.
        return re.sub(r'(value="|"X-CSRF-Token": ")[^"]*"', "", html)

    assert _normalise(wrong.text) == _normalise(unknown.text)
    assert "De gebruikersnaam of het wachtwoord klopt niet." in wrong.text
    assert "set-cookie" not in wrong.headers


def test_disabled_account_cannot_log_in(client: TestClient, people: People, db: Database) -> None:
    with db.session(write=True) as session:
        user = session.get(User, people.carol.id)
        user.disabled_at = utcnow()
    assert _login(client, "carol").status_code == 400


def test_ten_failures_lock_the_account_even_with_the_right_password(client: TestClient, people: People) -> None:
    for _ in range(10):
        assert _login(client, "carol", "wrong password here").status_code == 400
    locked = _login(client, "carol")
    assert locked.status_code == 429
    assert "Te veel verkeerde pogingen" in locked.text
    assert _cookie(client) is None


def test_lockout_applies_to_unknown_usernames_too(client: TestClient, people: People) -> None:
    for _ in range(10):
        _login(client, "ghost", "wrong password here")
    assert _login(client, "ghost", "wrong password here").status_code == 429


def test_lock_grows_and_the_hourly_cap_holds(client: TestClient, people: People, db: Database) -> None:
    from rom_portal.security import throttle

    with db.session(write=True) as session:
        for _ in range(12):
            throttle.record_failure(session, "user:carol")
        row = session.get(Throttle, "user:carol")
        first_lock = row.locked_until - utcnow()
        assert timedelta(seconds=100) < first_lock <= timedelta(seconds=120)  # 30 s doubled twice
        row.locked_until = None
        row.consecutive = 0
        row.hour_count = throttle.HOURLY_LIMIT
    # Consecutive failures were forgiven, but the hour already holds 100: still locked.
    assert _login(client, "carol").status_code == 429


def test_a_success_resets_the_consecutive_count(client: TestClient, people: People) -> None:
    for _ in range(9):
        _login(client, "carol", "wrong password here")
    assert _login(client, "carol").status_code == 303
    client.cookies.clear()
    for _ in range(9):
        _login(client, "carol", "wrong password here")
    assert _login(client, "carol").status_code == 303


def test_logout_deletes_the_session_and_a_replayed_cookie_is_refused(client: TestClient, people: People) -> None:
    _login(client, "carol")
    token = _cookie(client)
    response = client.post("/logout", data={"csrf_token": csrf_of(client, "/account")}, follow_redirects=False)
    assert response.status_code == 303
    assert '"cookies"' in response.headers["clear-site-data"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    replay = TestClient(client.app, base_url=BASE_URL)
    replay.cookies.set(cookie_name(client.app.state.settings), token)
    again = replay.get("/client", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")


def test_staff_must_give_a_code_before_any_page(client: TestClient, people: People, app: Portal) -> None:
    response = _login(client, "alice")
    assert response.headers["location"] == "/login/code"
    for path in ("/therapist", "/account", "/admin", "/client", "/research"):
        page = client.get(path, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login/code", path
    refused = client.post("/account/sessions/end-others", data={"csrf_token": csrf_of(client, "/login/code")})
    assert refused.status_code == 403
    half_token = _cookie(client)
    assert _give_code(client, _code()).status_code == 303
    assert _cookie(client) != half_token  # a change of privilege gets a new token
    assert client.get("/therapist", follow_redirects=False).status_code == 200


def test_a_code_cannot_be_used_twice(client: TestClient, people: People) -> None:
    code = _code()
    _login(client, "alice")
    assert _give_code(client, code).status_code == 303
    client.cookies.clear()
    _login(client, "alice")
    assert _give_code(client, code).status_code == 400


def test_wrong_codes_lock_the_second_factor(client: TestClient, people: People) -> None:
    _login(client, "alice")
    for _ in range(10):
        assert _give_code(client, "000000").status_code == 400
    assert _give_code(client, _code()).status_code == 429


def test_recovery_code_works_once(client: TestClient, people: People, db: Database) -> None:
    from rom_portal.security.totp import recovery_hash

    with db.session(write=True) as session:
        session.add(RecoveryCode(user_id=people.alice.id, code_hash=recovery_hash("AAAA-BBBB-CCCC")))
    _login(client, "alice")
    assert _give_code(client, "aaaa bbbb cccc").status_code == 303
    client.cookies.clear()
    _login(client, "alice")
    assert _give_code(client, "AAAA-BBBB-CCCC").status_code == 400


def test_staff_without_a_second_factor_enrols_at_first_login(client: TestClient, people: People, db: Database) -> None:
    with db.session(write=True) as session:
        session.get(User, people.rita.id).totp_secret = None
    _login(client, "rita")
    assert client.get("/login/code", follow_redirects=False).headers["location"] == "/login/code/setup"
    page = client.get("/login/code/setup")
    assert "<svg" in page.text and "qr-code" in page.text
    secret = re.search(r'<code class="secret-key">([A-Z2-7 ]+)</code>', page.text).group(1).replace(" ", "")
    assert client.get("/research", follow_redirects=False).headers["location"] == "/login/code"
    done = client.post(
        "/login/code/setup", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(client, "/login/code/setup")}
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9A-Z-]{14})</code></li>", done.text)
    assert len(codes) == 10
    assert client.get("/research").status_code == 200
    with db.session() as session:
        user = session.get(User, people.rita.id)
        stored = session.exec(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == people.rita.id)).all()
    assert user.totp_secret == secret
    assert not set(codes) & set(stored)  # stored hashed


def test_password_change_ends_other_sessions(client: TestClient, people: People, db: Database, app: Portal) -> None:
    other_device = TestClient(app, base_url=BASE_URL)
    login_as(other_device, db, people.carol)
    _login(client, "carol")
    before = _cookie(client)
    response = client.post(
        "/account/password",
        data={
            "current": PERSONA_PASSWORD,
            "new": "blauwe tafel in de tuin",
            "repeat": "blauwe tafel in de tuin",
            "csrf_token": csrf_of(client, "/account/password"),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert _cookie(client) != before
    assert client.get("/client").status_code == 200
    assert other_device.get("/client", follow_redirects=False).status_code == 303
    client.cookies.clear()
    assert _login(client, "carol", "blauwe tafel in de tuin").status_code == 303


def test_password_change_keeps_the_rules(client: TestClient, people: People) -> None:
    _login(client, "carol")
    response = client.post(
        "/account/password",
        data={"current": "wrong", "new": "kort", "repeat": "kort", "csrf_token": csrf_of(client, "/account/password")},
    )
    assert response.status_code == 400
    assert "Uw huidige wachtwoord klopt niet." in response.text
    assert "Gebruik minstens 12 tekens." in response.text


def test_user_sees_their_sessions_and_can_end_the_others(
    client: TestClient, people: People, db: Database, app: Portal
) -> None:
    other_device = TestClient(app, base_url=BASE_URL)
    login_as(other_device, db, people.carol)
    _login(client, "carol")
    page = client.get("/account")
    assert "dit apparaat" in page.text
    assert page.text.count("<tr>") == 3  # header + two sessions
    client.post("/account/sessions/end-others", data={"csrf_token": csrf_of(client, "/account")})
    assert other_device.get("/client", follow_redirects=False).status_code == 303
    assert client.get("/client").status_code == 200


def test_idle_session_ends(client: TestClient, people: People, db: Database) -> None:
    token = login_as(client, db, people.carol)
    with db.session(write=True) as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(token))).one()
        row.last_seen_at = utcnow() - timedelta(minutes=31)
    response = client.get("/client", follow_redirects=False)
    assert response.status_code == 303
    assert "Max-Age=0" in response.headers["set-cookie"]


def test_staff_idle_timeout_is_shorter(client: TestClient, people: People, db: Database) -> None:
    token = login_as(client, db, people.alice)
    with db.session(write=True) as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(token))).one()
        row.last_seen_at = utcnow() - timedelta(minutes=16)
    assert client.get("/therapist", follow_redirects=False).status_code == 303


def test_absolute_timeout_ends_an_active_session(client: TestClient, people: People, db: Database) -> None:
    token = login_as(client, db, people.carol)
    with db.session(write=True) as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(token))).one()
        row.created_at = utcnow() - timedelta(hours=13)
    assert client.get("/client", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
    ],
    ids=["no-token", "cross-site", "foreign-origin"],
)
def test_unsafe_requests_without_a_valid_token_or_from_elsewhere_are_refused(
    client: TestClient, people: People, db: Database, headers: dict[str, str]
) -> None:
    login_as(client, db, people.carol)
    data = {} if not headers else {"csrf_token": csrf_of(client, "/account")}
    response = client.post("/account/sessions/end-others", data=data, headers=headers)
    assert response.status_code == 403
    assert "Niet toegestaan" in response.text


def test_csrf_token_of_another_session_is_refused(
    client: TestClient, people: People, db: Database, app: Portal
) -> None:
    other = TestClient(app, base_url=BASE_URL)
    login_as(other, db, people.dave)
    foreign_token = csrf_of(other, "/account")
    login_as(client, db, people.carol)
    assert client.post("/account/sessions/end-others", data={"csrf_token": foreign_token}).status_code == 403


def test_htmx_header_token_is_accepted(client: TestClient, people: People, db: Database) -> None:
    login_as(client, db, people.carol)
    token = csrf_of(client, "/account")
    page = client.get("/account")
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page.text
    response = client.post("/account/sessions/end-others", headers={"X-CSRF-Token": token}, follow_redirects=False)
    assert response.status_code == 303


def test_login_with_a_forged_anonymous_token_is_refused(client: TestClient, people: People) -> None:
    response = client.post("/login", data={"username": "carol", "password": PERSONA_PASSWORD, "csrf_token": "x.y.z"})
    assert response.status_code == 403


def test_next_only_leads_to_this_site(client: TestClient, people: People) -> None:
    response = _login(client, "carol", next="//evil.example/steal")
    assert response.headers["location"] == "/"
    client.cookies.clear()
    response = _login(client, "carol", next="/account")
    assert response.headers["location"] == "/account"


def test_logins_are_audited_without_secrets(client: TestClient, people: People, db: Database) -> None:
    _login(client, "carol", "wrong password here")
    _login(client, "carol")
    with db.session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.object_type == "account")).all()
    outcomes = [(e.action, e.outcome, e.actor_user_id) for e in events]
    assert ("login", "failure", people.carol.id) in outcomes
    assert ("login", "success", people.carol.id) in outcomes
    assert not any("wrong password" in (e.object_id or "") for e in events)


def test_language_choice_is_kept_with_the_account(client: TestClient, people: People, db: Database) -> None:
    login_as(client, db, people.carol)
    client.post("/account/language", data={"language": "en", "csrf_token": csrf_of(client, "/account")})
    assert "<h1>My account</h1>" in client.get("/account").text


def test_an_old_hash_is_replaced_at_login(client: TestClient, people: People, db: Database) -> None:
    from argon2 import PasswordHasher

    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PERSONA_PASSWORD)
    with db.session(write=True) as session:
        session.get(User, people.carol.id).password_hash = weaker
    assert _login(client, "carol").status_code == 303
    with db.session() as session:
        stored = session.get(User, people.carol.id).password_hash
    assert stored != weaker
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_a_browser_form_post_with_origin_null_is_accepted(client: TestClient, people: People) -> None:
    """Under Referrer-Policy: no-referrer, Chromium sends Origin: null with Sec-Fetch-Site: same-origin."""
    token = csrf_of(client, "/login")
    form = {"username": "carol", "password": PERSONA_PASSWORD, "csrf_token": token}
    response = client.post(
        "/login", data=form, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}, follow_redirects=False
    )
    assert response.status_code == 303


def test_origin_null_without_a_token_is_still_refused(client: TestClient, people: People) -> None:
    form = {"username": "carol", "password": PERSONA_PASSWORD}
    assert client.post("/login", data=form, headers={"Origin": "null"}).status_code == 403


def test_origin_null_without_sec_fetch_site_is_refused_even_with_a_token(client: TestClient, people: People) -> None:
    """A sandboxed frame on another site also says Origin: null; only browsers that also send Sec-Fetch-Site pass."""
    form = {"username": "carol", "password": PERSONA_PASSWORD, "csrf_token": csrf_of(client, "/login")}
    assert client.post("/login", data=form, headers={"Origin": "null"}).status_code == 403


def test_attempts_sent_at_once_cannot_slip_past_the_lock(people: People, db: Database) -> None:
    """Many guesses hashed side by side all pass the first check; the write counts them one by one."""
    from rom_portal.security.passwords import Verification
    from rom_portal.services import accounts

    with db.session() as session:
        lookups = [accounts.login_lookup(session, "carol", "192.0.2.7") for _ in range(15)]
    assert all(lookup.locked is None for lookup in lookups)
    outcomes = []
    for lookup in lookups[:-1]:
        with db.session(write=True) as session:
            outcomes.append(
                accounts.login_finish(
                    session, lookup, Verification(ok=False), None, username="carol", address="192.0.2.7", device=""
                )
            )
    codes = [outcome.code for outcome in outcomes]
    assert codes[:10] == ["failed"] * 10
    assert set(codes[10:]) == {"locked"}
    # Even the right password, verified before the lock, does not log in and does not clear the lock.
    with db.session(write=True) as session:
        last = accounts.login_finish(
            session, lookups[-1], Verification(ok=True), None, username="carol", address="192.0.2.7", device=""
        )
    assert isinstance(last, accounts.Refusal) and last.code == "locked"


def test_guessing_the_current_password_is_throttled(client: TestClient, people: People, db: Database) -> None:
    """Someone at an unattended screen must not be able to find the password by trying."""
    login_as(client, db, people.carol)

    def change(current: str) -> str:
        form = {"current": current, "new": "een heel nieuw wachtwoord", "repeat": "een heel nieuw wachtwoord"}
        return client.post("/account/password", data={**form, "csrf_token": csrf_of(client, "/account/password")}).text

    for _ in range(10):
        assert "Uw huidige wachtwoord klopt niet." in change("a wrong guess")
    assert "Te veel verkeerde pogingen" in change(PERSONA_PASSWORD)
    client.cookies.clear()
    assert _login(client, "carol").status_code == 429  # the same account lock


def test_a_password_change_voids_open_reset_codes(client: TestClient, people: People, db: Database) -> None:
    from rom_portal.models import ResetCode
    from rom_portal.services import reset_codes

    with db.session(write=True) as session:
        reset_codes.issue(session, user_id=people.carol.id, valid_for=timedelta(hours=1))
    login_as(client, db, people.carol)
    client.post(
        "/account/password",
        data={
            "current": PERSONA_PASSWORD,
            "new": "een heel nieuw wachtwoord",
            "repeat": "een heel nieuw wachtwoord",
            "csrf_token": csrf_of(client, "/account/password"),
        },
    )
    with db.session() as session:
        assert session.exec(select(ResetCode).where(ResetCode.user_id == people.carol.id)).first() is None


def test_a_login_form_from_before_the_session_still_works(client: TestClient, people: People, db: Database) -> None:
    """A page opened from an e-mail (no Strict cookie sent) carries an anonymous token; its POST carries the session."""
    from rom_portal.web.session_middleware import anonymous_serializer

    anonymous = str(anonymous_serializer(client.app.state.settings).dumps("anonymous"))
    login_as(client, db, people.dave)
    form = {"username": "carol", "password": PERSONA_PASSWORD, "csrf_token": anonymous}
    assert client.post("/login", data=form, follow_redirects=False).status_code == 303
    # But an anonymous token never stands in for the session's on anything else.
    login_as(client, db, people.dave)
    assert client.post("/account/sessions/end-others", data={"csrf_token": anonymous}).status_code == 403


def test_abandoned_sessions_are_swept_away_at_the_next_login(client: TestClient, people: People, db: Database) -> None:
    token = login_as(client, db, people.dave)
    with db.session(write=True) as session:
        row = session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(token))).one()
        row.created_at = utcnow() - timedelta(hours=13)
    client.cookies.clear()
    assert _login(client, "carol").status_code == 303
    with db.session() as session:
        assert session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(token))).first() is None
