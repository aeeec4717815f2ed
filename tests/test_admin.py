"""The admin area: staff accounts only, every change audited, codes shown once, sessions ended where it matters."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.cli import main as cli_main
from rom_portal.db import Database
from rom_portal.models import AuditEvent, AuthSession, RecoveryCode, ResetCode, Role, User
from rom_portal.models.base import utcnow
from rom_portal.security.passwords import verify_password
from rom_portal.security.tokens import hash_code, hash_token
from rom_portal.services import staff
from rom_portal.services.audit import Actor
from tests.conftest import BASE_URL, PERSONA_PASSWORD, TEST_SECRET, People, csrf_of, login_as

CODE_PATTERN = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")


def _browser(app: Portal) -> TestClient:
    """A second browser, for the colleague whose session the admin ends."""
    return TestClient(app, base_url=BASE_URL, raise_server_exceptions=False, follow_redirects=False)


def _as_admin(client: TestClient, db: Database, people: People) -> str:
    login_as(client, db, people.adam)
    return csrf_of(client, "/admin")


def _user(db: Database, user_id: int | None) -> User:
    with db.session() as session:
        user = session.get(User, user_id)
    assert user is not None
    return user


def _session_count(db: Database, user_id: int | None) -> int:
    with db.session() as session:
        return len(list(session.exec(select(AuthSession).where(AuthSession.user_id == user_id))))


def _audit(db: Database) -> list[AuditEvent]:
    with db.session() as session:
        return list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))


def _create(client: TestClient, csrf: str, **fields: str) -> str:
    form = {"username": "eva.smit", "role": "therapist", "display_name": "Eva Smit", **fields}
    response = client.post("/admin/users", data={**form, "csrf_token": csrf})
    assert response.status_code == 200, response.text
    match = CODE_PATTERN.search(response.text)
    assert match, "no one-time code on the page"
    return match.group(0)


def _second_admin(db: Database) -> User:
    with db.session(write=True) as session:
        eve = User(username="eve", password_hash="x", role=Role.admin, display_name="Eve", totp_secret="A" * 32)
        session.add(eve)
    return eve


# --- Who may enter -------------------------------------------------------------------------------------


def _admin_requests(target_id: int | None) -> list[tuple[str, str]]:
    user = f"/admin/users/{target_id}"
    return [
        ("GET", "/admin"),
        ("GET", user),
        ("GET", f"{user}/disable"),
        ("GET", f"{user}/reset-password"),
        ("GET", f"{user}/reset-2fa"),
        ("POST", "/admin/users"),
        ("POST", f"{user}/disable"),
        ("POST", f"{user}/enable"),
        ("POST", f"{user}/reset-password"),
        ("POST", f"{user}/reset-2fa"),
    ]


@pytest.mark.parametrize("persona", ["alice", "carol", "rita"])
def test_everyone_but_an_admin_gets_404_on_every_admin_route(
    client: TestClient, db: Database, people: People, persona: str
) -> None:
    token = login_as(client, db, getattr(people, persona))
    with db.session() as session:
        csrf = session.exec(select(AuthSession.csrf_token).where(AuthSession.token_hash == hash_token(token))).one()
    for method, path in _admin_requests(people.bob.id):
        data = {"csrf_token": csrf, "username": "mallory", "role": "admin", "display_name": "M"}
        response = client.request(method, path, data=data if method == "POST" else None)
        assert response.status_code == 404, (method, path)
    bob = _user(db, people.bob.id)
    assert bob.is_active
    with db.session() as session:
        assert session.exec(select(User).where(User.username == "mallory")).first() is None
    assert _audit(db) == []


def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(client: TestClient, people: People) -> None:
    page = client.get("/admin", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    refused = client.post(f"/admin/users/{people.alice.id}/disable", data={"csrf_token": "x"})
    assert refused.status_code == 403


def test_an_admin_without_the_second_factor_cannot_act(client: TestClient, db: Database, people: People) -> None:
    token = login_as(client, db, people.adam, mfa_ok=False)
    with db.session() as session:
        csrf = session.exec(select(AuthSession.csrf_token).where(AuthSession.token_hash == hash_token(token))).one()
    assert client.get("/admin", follow_redirects=False).status_code == 303
    refused = client.post(f"/admin/users/{people.alice.id}/disable", data={"csrf_token": csrf})
    assert refused.status_code == 403
    assert _user(db, people.alice.id).is_active


# --- The list ------------------------------------------------------------------------------------------


def test_the_list_shows_staff_with_their_state_and_never_clients(
    client: TestClient, db: Database, people: People
) -> None:
    with db.session(write=True) as session:
        bob = session.get(User, people.bob.id)
        assert bob is not None
        bob.disabled_at = utcnow()
        bob.totp_secret = None
    login_as(client, db, people.adam)
    page = client.get("/admin?lang=en")
    assert page.status_code == 200
    for name in ("alice", "bob", "rita", "adam", "Alice Jansen", "Bob de Boer"):
        assert name in page.text
    for client_name in ("carol", "Carol", "dave", "Dave"):
        assert client_name not in page.text
    bob_row = next(row for row in page.text.split("<tr>") if "Bob de Boer" in row)
    assert "Disabled" in bob_row and "Two-factor authentication not set up yet" in bob_row
    assert "Therapist" in bob_row
    assert people.alice.password_hash not in page.text
    assert "JBSWY3DP" not in page.text  # the personas' TOTP secret


def test_the_admin_pages_speak_dutch_by_default(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.adam)
    page = client.get("/admin")
    assert '<html lang="nl">' in page.text
    assert "Beheerder" in page.text and "Behandelaar" in page.text and "Onderzoeker" in page.text


# --- Creating an account -------------------------------------------------------------------------------


def test_creating_a_staff_account_shows_a_setup_code_once(client: TestClient, db: Database, people: People) -> None:
    csrf = _as_admin(client, db, people)
    code = _create(client, csrf, username="  Eva.Smit ", role="researcher", display_name="Eva Smit")
    with db.session() as session:
        eva = session.exec(select(User).where(User.username == "eva.smit")).one()
        reset_code = session.exec(select(ResetCode).where(ResetCode.user_id == eva.id)).one()
    assert eva.role is Role.researcher and eva.display_name == "Eva Smit" and eva.is_active
    assert eva.totp_secret is None
    # Nobody knows the password until Eva sets one with the code.
    assert eva.password_hash.startswith("$argon2id$")
    assert not verify_password(eva.password_hash, "").ok
    assert reset_code.code_hash == hash_code(code) and code not in reset_code.code_hash
    assert reset_code.expires_at - reset_code.created_at == pytest.approx(timedelta(hours=72), abs=timedelta(seconds=5))
    # Shown once: neither the list nor the account's page shows it again.
    assert code not in client.get("/admin").text
    assert code not in client.get(f"/admin/users/{eva.id}").text


def test_the_setup_page_tells_the_colleague_where_to_go(client: TestClient, db: Database, people: People) -> None:
    csrf = _as_admin(client, db, people)
    page = client.post(
        "/admin/users?lang=en",
        data={"username": "eva", "role": "therapist", "display_name": "Eva", "csrf_token": csrf},
    )
    assert page.status_code == 200
    assert "https://testserver/reset" in page.text
    assert "shown only once" in page.text
    assert "two-factor authentication" in page.text


def test_the_new_colleague_sets_a_password_with_the_setup_code(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    code = _create(client, _as_admin(client, db, people), username="eva")
    newcomer = _browser(app)
    chosen = "blauwe tram naar het strand"
    response = newcomer.post(
        "/reset",
        data={
            "username": "eva",
            "code": code.lower(),
            "password": chosen,
            "password_again": chosen,
            "csrf_token": csrf_of(newcomer, "/reset"),
        },
    )
    assert response.status_code == 303, response.text
    with db.session() as session:
        eva = session.exec(select(User).where(User.username == "eva")).one()
    assert verify_password(eva.password_hash, chosen).ok
    assert eva.totp_secret is None  # the second factor is set up at the first login


def test_a_taken_username_is_refused_and_nothing_typed_is_lost(
    client: TestClient, db: Database, people: People
) -> None:
    csrf = _as_admin(client, db, people)
    response = client.post(
        "/admin/users?lang=en",
        data={"username": "Alice", "role": "researcher", "display_name": "Alice the Second", "csrf_token": csrf},
    )
    assert response.status_code == 400
    assert "already taken" in response.text
    assert 'value="alice"' in response.text.lower()
    assert 'value="Alice the Second"' in response.text
    assert re.search(r'value="researcher"[^>]*checked', response.text)
    assert _user(db, people.alice.id).role is Role.therapist
    assert _audit(db) == []


@pytest.mark.parametrize(
    ("field", "form"),
    [
        ("username", {"username": "a b", "role": "therapist", "display_name": "A"}),
        ("username", {"username": "ab", "role": "therapist", "display_name": "A"}),
        ("username", {"username": "x" * 65, "role": "therapist", "display_name": "A"}),
        ("role", {"username": "newclient", "role": "client", "display_name": "A"}),
        ("role", {"username": "newclient", "role": "", "display_name": "A"}),
        ("display_name", {"username": "newuser", "role": "admin", "display_name": "  "}),
        ("display_name", {"username": "newuser", "role": "admin", "display_name": "x" * 81}),
    ],
)
def test_a_wrong_create_form_says_which_field_and_creates_nothing(
    client: TestClient, db: Database, people: People, field: str, form: dict[str, str]
) -> None:
    csrf = _as_admin(client, db, people)
    response = client.post("/admin/users", data={**form, "csrf_token": csrf})
    assert response.status_code == 400
    assert f'href="#{field}"' in response.text
    with db.session() as session:
        assert len(list(session.exec(select(User)))) == 6
        assert session.exec(select(ResetCode)).first() is None


def test_creating_needs_the_csrf_token(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.adam)
    response = client.post("/admin/users", data={"username": "eva", "role": "admin", "display_name": "Eva"})
    assert response.status_code == 403
    with db.session() as session:
        assert session.exec(select(User).where(User.username == "eva")).first() is None


# --- Disable and enable --------------------------------------------------------------------------------


def test_disabling_alice_ends_her_sessions_at_once(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    alice_browser = _browser(app)
    login_as(alice_browser, db, people.alice)
    assert not alice_browser.get("/").headers.get("location", "").startswith("/login")  # she is logged in
    csrf = _as_admin(client, db, people)

    response = client.post(f"/admin/users/{people.alice.id}/disable", data={"csrf_token": csrf}, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/users/{people.alice.id}?done=disable"
    assert _session_count(db, people.alice.id) == 0
    assert not _user(db, people.alice.id).is_active
    after = alice_browser.get("/")
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    assert "Max-Age=0" in after.headers.get("set-cookie", "")
    # Even a brand-new session (as a login would start) is not accepted for a disabled account.
    login_as(alice_browser, db, people.alice)
    assert alice_browser.get("/").headers["location"].startswith("/login")


def test_a_disabled_researcher_no_longer_reaches_research(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    rita_browser = _browser(app)
    login_as(rita_browser, db, people.rita)
    assert rita_browser.get("/research").status_code == 200
    csrf = _as_admin(client, db, people)
    assert client.post(f"/admin/users/{people.rita.id}/disable", data={"csrf_token": csrf}).status_code == 200
    gone = rita_browser.get("/research")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")


def test_the_disable_confirmation_page_changes_nothing(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    alice_token = login_as(_browser(app), db, people.alice)
    login_as(client, db, people.adam)
    page = client.get(f"/admin/users/{people.alice.id}/disable?lang=en")
    assert page.status_code == 200
    assert f'action="/admin/users/{people.alice.id}/disable?lang=en"' in page.text
    assert 'name="csrf_token"' in page.text
    assert "Disable account</button>" in page.text
    assert _user(db, people.alice.id).is_active
    with db.session() as session:
        assert session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(alice_token))).one()


def test_enabling_lets_the_colleague_in_again(app: Portal, client: TestClient, db: Database, people: People) -> None:
    csrf = _as_admin(client, db, people)
    client.post(f"/admin/users/{people.rita.id}/disable", data={"csrf_token": csrf})
    response = client.post(f"/admin/users/{people.rita.id}/enable", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert _user(db, people.rita.id).is_active
    rita_browser = _browser(app)
    login_as(rita_browser, db, people.rita)
    assert rita_browser.get("/research").status_code == 200


def test_an_admin_cannot_disable_themselves(client: TestClient, db: Database, people: People) -> None:
    csrf = _as_admin(client, db, people)
    response = client.post(f"/admin/users/{people.adam.id}/disable?lang=en", data={"csrf_token": csrf})
    assert response.status_code == 409
    assert "your own account" in response.text
    assert _user(db, people.adam.id).is_active
    assert client.get("/admin").status_code == 200  # still logged in
    assert _audit(db) == []


def test_the_own_account_page_offers_no_actions(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.adam)
    page = client.get(f"/admin/users/{people.adam.id}")
    assert page.status_code == 200
    assert f"/admin/users/{people.adam.id}/disable" not in page.text
    assert f"/admin/users/{people.adam.id}/reset" not in page.text


def test_disabling_the_last_active_admin_is_refused(db: Database, people: People) -> None:
    with pytest.raises(staff.LastAdmin), db.session(write=True) as session:
        staff.disable(session, Actor.system("test"), people.adam.id)  # type: ignore[arg-type]
    assert _user(db, people.adam.id).is_active


def test_an_admin_can_disable_another_admin(client: TestClient, db: Database, people: People) -> None:
    eve = _second_admin(db)
    csrf = _as_admin(client, db, people)
    response = client.post(f"/admin/users/{eve.id}/disable", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert not _user(db, eve.id).is_active


# --- Out of reach: clients and unknown ids --------------------------------------------------------------


@pytest.mark.parametrize("target", ["carol", "unknown"])
def test_a_client_or_unknown_id_gets_404_on_every_account_route(
    app: Portal, client: TestClient, db: Database, people: People, target: str
) -> None:
    carol_token = login_as(_browser(app), db, people.carol)
    csrf = _as_admin(client, db, people)
    target_id = people.carol.id if target == "carol" else 987654
    for method, path in _admin_requests(target_id)[1:]:
        if path == "/admin/users":
            continue
        response = client.request(method, path, data={"csrf_token": csrf} if method == "POST" else None)
        assert response.status_code == 404, (method, path)
        assert "Carol" not in response.text
    carol = _user(db, people.carol.id)
    assert carol.is_active and carol.password_hash == people.carol.password_hash
    with db.session() as session:
        assert session.exec(select(AuthSession).where(AuthSession.token_hash == hash_token(carol_token))).one()
        assert session.exec(select(ResetCode)).first() is None
    assert _audit(db) == []


# --- Resets --------------------------------------------------------------------------------------------


def test_resetting_the_second_factor_clears_the_secret_and_recovery_codes(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    with db.session(write=True) as session:
        alice = session.get(User, people.alice.id)
        assert alice is not None
        alice.totp_last_step = 12345
        session.add_all([RecoveryCode(user_id=people.alice.id, code_hash=f"{n:064d}") for n in range(3)])
        session.add(RecoveryCode(user_id=people.bob.id, code_hash="b" * 64))
    login_as(_browser(app), db, people.alice)
    csrf = _as_admin(client, db, people)

    response = client.post(
        f"/admin/users/{people.alice.id}/reset-2fa", data={"csrf_token": csrf}, follow_redirects=False
    )

    assert response.status_code == 303
    alice = _user(db, people.alice.id)
    assert alice.totp_secret is None and alice.totp_last_step is None
    assert alice.is_active and alice.needs_second_factor  # she must enrol again at the next login
    with db.session() as session:
        assert session.exec(select(RecoveryCode).where(RecoveryCode.user_id == people.alice.id)).first() is None
        assert session.exec(select(RecoveryCode).where(RecoveryCode.user_id == people.bob.id)).one()
    assert _session_count(db, people.alice.id) == 0
    assert _user(db, people.bob.id).totp_secret is not None


def test_resetting_a_password_shows_a_new_code_and_ends_sessions(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    login_as(_browser(app), db, people.bob)
    csrf = _as_admin(client, db, people)
    first = client.post(f"/admin/users/{people.bob.id}/reset-password", data={"csrf_token": csrf})
    second = client.post(f"/admin/users/{people.bob.id}/reset-password", data={"csrf_token": csrf})
    assert first.status_code == second.status_code == 200
    first_code = CODE_PATTERN.search(first.text)
    second_code = CODE_PATTERN.search(second.text)
    assert first_code and second_code and first_code.group(0) != second_code.group(0)
    with db.session() as session:
        codes = list(session.exec(select(ResetCode).where(ResetCode.user_id == people.bob.id)))
    # Only the latest code works; the earlier one is void.
    assert [c.code_hash for c in codes] == [hash_code(second_code.group(0))]
    assert _session_count(db, people.bob.id) == 0
    # The old password stops working too: the reset may be because it leaked.
    assert not verify_password(_user(db, people.bob.id).password_hash, PERSONA_PASSWORD).ok
    assert _user(db, people.bob.id).totp_secret is not None
    assert second_code.group(0) not in client.get(f"/admin/users/{people.bob.id}").text


def test_an_admin_cannot_reset_their_own_password_or_second_factor_here(
    client: TestClient, db: Database, people: People
) -> None:
    csrf = _as_admin(client, db, people)
    for action in ("reset-password", "reset-2fa"):
        response = client.post(f"/admin/users/{people.adam.id}/{action}", data={"csrf_token": csrf})
        assert response.status_code == 409
        assert CODE_PATTERN.search(response.text) is None
    adam = _user(db, people.adam.id)
    assert adam.totp_secret is not None and verify_password(adam.password_hash, PERSONA_PASSWORD).ok


# --- Audit ---------------------------------------------------------------------------------------------


def test_every_admin_action_is_audited_without_secrets(client: TestClient, db: Database, people: People) -> None:
    csrf = _as_admin(client, db, people)
    setup_code = _create(client, csrf)
    with db.session() as session:
        eva = session.exec(select(User).where(User.username == "eva.smit")).one()
    client.post(f"/admin/users/{people.alice.id}/disable", data={"csrf_token": csrf})
    client.post(f"/admin/users/{people.alice.id}/enable", data={"csrf_token": csrf})
    reset = client.post(f"/admin/users/{people.bob.id}/reset-password", data={"csrf_token": csrf})
    client.post(f"/admin/users/{people.rita.id}/reset-2fa", data={"csrf_token": csrf})
    reset_code = CODE_PATTERN.search(reset.text)
    assert reset_code

    events = _audit(db)
    assert [(e.action, e.object_type, e.object_id) for e in events] == [
        ("create", "account", str(eva.id)),
        ("disable", "account", str(people.alice.id)),
        ("enable", "account", str(people.alice.id)),
        ("reset_password", "account", str(people.bob.id)),
        ("reset_2fa", "account", str(people.rita.id)),
    ]
    secrets = {setup_code, reset_code.group(0), hash_code(setup_code), hash_code(reset_code.group(0)), "JBSWY3DP"}
    for event in events:
        assert event.actor_user_id == people.adam.id and event.actor_role == "admin"
        assert event.outcome == "success" and event.registration_id is None
        row = " ".join(str(value) for value in event.model_dump().values())
        assert not any(secret in row for secret in secrets)
        assert "$argon2" not in row


def test_create_user_on_the_command_line_is_audited(migrated_url: str) -> None:
    clean = {key: None for key in os.environ if key.startswith("ROM_PORTAL_")}
    env = {**clean, "ROM_PORTAL_DATABASE_URL": migrated_url, "ROM_PORTAL_SECRET_KEY": TEST_SECRET}
    password = "paars kasteel onder de brug"
    result = CliRunner().invoke(cli_main, ["create-user", "--role", "admin", "beheer"], env=env, input=password + "\n")
    assert result.exit_code == 0, result.output
    database = Database(migrated_url)
    try:
        with database.session() as session:
            user = session.exec(select(User).where(User.username == "beheer")).one()
            events = list(session.exec(select(AuditEvent)))
    finally:
        database.dispose()
    assert [(e.action, e.object_type, e.object_id) for e in events] == [("create", "account", str(user.id))]
    assert events[0].actor_user_id is None and events[0].actor_role == "system"
    assert events[0].access_point == "cli:create-user"
    assert password not in " ".join(str(value) for value in events[0].model_dump().values())


# --- Four eyes ------------------------------------------------------------------------------------------


def test_one_admin_cannot_reset_both_password_and_second_factor(
    client: TestClient, db: Database, people: People, app: Portal
) -> None:
    """Together the two resets hand over the account (and its caseload); a second admin must do the other."""
    csrf = _as_admin(client, db, people)
    assert client.post(f"/admin/users/{people.alice.id}/reset-password", data={"csrf_token": csrf}).status_code == 200
    refused = client.post(f"/admin/users/{people.alice.id}/reset-2fa", data={"csrf_token": csrf})
    assert refused.status_code == 409
    assert "een andere beheerder" in refused.text
    assert _user(db, people.alice.id).totp_secret is not None
    other = _browser(app)
    login_as(other, db, _second_admin(db))
    done = other.post(f"/admin/users/{people.alice.id}/reset-2fa", data={"csrf_token": csrf_of(other, "/admin")})
    assert done.status_code == 303
    assert _user(db, people.alice.id).totp_secret is None


def test_the_other_order_is_refused_too(client: TestClient, db: Database, people: People) -> None:
    csrf = _as_admin(client, db, people)
    first = client.post(f"/admin/users/{people.bob.id}/reset-2fa", data={"csrf_token": csrf}, follow_redirects=False)
    assert first.status_code == 303
    assert client.post(f"/admin/users/{people.bob.id}/reset-password", data={"csrf_token": csrf}).status_code == 409


def test_enabling_an_account_voids_an_old_reset_code(client: TestClient, db: Database, people: People) -> None:
    from datetime import timedelta

    from rom_portal.models import ResetCode
    from rom_portal.services import reset_codes

    with db.session(write=True) as session:
        reset_codes.issue(session, user_id=people.bob.id, valid_for=timedelta(hours=1))
    csrf = _as_admin(client, db, people)
    client.post(f"/admin/users/{people.bob.id}/disable", data={"csrf_token": csrf})
    client.post(f"/admin/users/{people.bob.id}/enable", data={"csrf_token": csrf})
    with db.session() as session:
        assert session.exec(select(ResetCode).where(ResetCode.user_id == people.bob.id)).first() is None
