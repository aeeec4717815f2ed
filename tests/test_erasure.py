"""Erasure: everything linked to a client goes at once, leaving only a receipt and one line in the ledger."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select
from starlette.testclient import TestClient

from rom_portal.app import Portal, create_app
from rom_portal.db import Database
from rom_portal.models import AuditEvent, Invitation, Registration, User
from rom_portal.security import totp
from rom_portal.services.audit import Actor
from rom_portal.services.erasure import RECEIPT_KINDS, erase_registration
from rom_portal.services.erasure_ledger import ErasureLedger, ledger_path
from rom_portal.settings import Settings
from tests.conftest import BASE_URL, PERSONA_PASSWORD, TOTP_SECRET, People, csrf_of, login_as, make_settings
from tests.erasure_history import give_history, reachable_tables, rows_about, table_counts

ERASE = "/client/privacy/erase"


@pytest.fixture
def settings(migrated_url: str, tmp_path: Path) -> Settings:
    # SQLite uses the default ledger beside the database file; PostgreSQL must be given one.
    ledger = "" if migrated_url.startswith("sqlite") else str(tmp_path / "erasures")
    return make_settings(migrated_url, erasure_ledger=ledger)


def _erase_as_client(
    client: TestClient, *, password: str = PERSONA_PASSWORD, code: str = "", confirm: bool = True
) -> Any:
    data = {"csrf_token": csrf_of(client, ERASE), "password": password, "code": code}
    if confirm:
        data["confirm"] = "yes"
    return client.post(ERASE, data=data, follow_redirects=False)


def _carol_rows(db: Database, people: People) -> dict[str, int]:
    with db.session() as session:
        return rows_about(session, people.carol.id, people.carol_registration.id, "carol")


def _registration_exists(db: Database, public_id: str) -> bool:
    with db.session() as session:
        return session.exec(select(Registration).where(Registration.public_id == public_id)).first() is not None


def _main(page: str) -> str:
    """The page's content, without the header (whose language links repeat the URL the staff member is on)."""
    return page[page.index("<main") : page.index("</main>")]


def _receipt_id(page: str) -> str:
    found = re.search(r'<code class="erasure-receipt__id">([A-Za-z0-9_-]+)</code>', page)
    assert found is not None
    return found.group(1)


def _receipt_counts(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<td class="erasure-receipt__count">(\d+)</td>', page)]


# --- Everything goes -------------------------------------------------------------------------------------------


def test_no_row_anywhere_refers_to_an_erased_client(client: TestClient, db: Database, people: People) -> None:
    markers = give_history(db, people.carol_registration, people.alice)
    login_as(client, db, people.carol)
    before = _carol_rows(db, people)
    # The history reaches every table a client's rows can be in (the invitation points at therapists only), so
    # a table added later that erasure forgets makes this test fail.
    assert reachable_tables() - {"invitation"} <= set(before), "give_history misses a table"
    response = _erase_as_client(client)
    assert response.status_code == 200, response.text
    assert _carol_rows(db, people) == {}
    with db.session() as session:
        notes = session.exec(select(Invitation.label)).all()
    assert not any(markers.roepnaam in note for note in notes), "the redeemed invitation's note stayed"


# SQLite files only; on PostgreSQL see test_on_postgresql_no_linked_row_is_left
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_bytes_of_an_erased_client_leave_the_sqlite_files(
    client: TestClient, db: Database, people: People, settings: Settings
) -> None:
    carol = give_history(db, people.carol_registration, people.alice)
    dave = give_history(db, people.dave_registration, people.bob)
    database_file = Path(settings.database_url.removeprefix("sqlite:///"))
    files = [database_file, database_file.with_name(database_file.name + "-wal")]
    files.append(database_file.with_name(database_file.name + "-shm"))

    def stored() -> bytes:
        return b"".join(file.read_bytes() for file in files if file.exists())

    login_as(client, db, people.carol)
    before = stored()
    found_before = {kind for kind, marker in carol.all().items() if marker.encode() in before}
    assert found_before == set(carol.all()), "every marker is in the files before erasure"
    assert _erase_as_client(client).status_code == 200
    after = stored()
    found_after = {kind for kind, marker in carol.all().items() if marker.encode() in after}
    assert found_after == set(), "these markers are still in the database's files"
    assert dave.roepnaam.encode() in after  # the search itself still works, and the other client is kept
    assert files[1].stat().st_size == 0, "the write-ahead log was not emptied"


_FOREIGN_KEYS = text(
    "SELECT child.relname, a.attname, parent.relname FROM pg_constraint c "
    "JOIN pg_class child ON child.oid = c.conrelid JOIN pg_class parent ON parent.oid = c.confrelid "
    "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
    "WHERE c.contype = 'f' AND child.relnamespace = to_regnamespace(current_schema())"
)


def _linked_in_postgresql(db: Database, user_id: int, registration_id: int) -> dict[str, int]:
    """Rows linked to the account or registration through the foreign keys PostgreSQL knows (not the models)."""
    with db.engine.connect() as connection:
        keys = connection.execute(_FOREIGN_KEYS).all()
        known = {"user_account": {user_id}, "registration": {registration_id}}
        counts = {
            name: connection.execute(
                text(f"SELECT count(*) FROM {name} WHERE id = ANY(:ids)"),  # noqa: S608 (our table names)
                {"ids": list(ids)},
            ).scalar_one()
            for name, ids in known.items()
        }
        changed = True
        while changed:
            changed = False
            for child, column, parent in keys:
                if not known.get(parent):
                    continue
                query = text(f'SELECT id FROM "{child}" WHERE "{column}" = ANY(:ids)')  # noqa: S608 (catalog names)
                new = set(connection.execute(query, {"ids": list(known[parent])}).scalars()) - known.get(child, set())
                if new:
                    known.setdefault(child, set()).update(new)
                    counts[child] = counts.get(child, 0) + len(new)
                    changed = True
        counts["audit by the client"] = connection.execute(
            text("SELECT count(*) FROM audit_event WHERE actor_user_id = :id"), {"id": user_id}
        ).scalar_one()
    return {name: count for name, count in counts.items() if count}


# PostgreSQL only: the walk over the models runs on both databases above
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_on_postgresql_no_linked_row_is_left(
    client: TestClient, db: Database, people: People, settings: Settings
) -> None:
    give_history(db, people.carol_registration, people.alice)
    login_as(client, db, people.carol)
    before = _linked_in_postgresql(db, people.carol.id, people.carol_registration.id)
    assert {"answer", "score", "alert", "audit_event", "auth_session", "informant_link"} <= set(before)
    assert _erase_as_client(client).status_code == 200
    assert _linked_in_postgresql(db, people.carol.id, people.carol_registration.id) == {}


def test_another_clients_data_is_untouched(client: TestClient, db: Database, people: People) -> None:
    give_history(db, people.carol_registration, people.alice)
    give_history(db, people.dave_registration, people.bob)
    login_as(client, db, people.carol)
    with db.session() as session:
        dave_before = rows_about(session, people.dave.id, people.dave_registration.id, "dave")
        totals_before = table_counts(session)
    carol_before = _carol_rows(db, people)
    assert _erase_as_client(client).status_code == 200
    with db.session() as session:
        assert rows_about(session, people.dave.id, people.dave_registration.id, "dave") == dave_before
        totals_after = table_counts(session)
    # The invitation she redeemed and its guessing counter: no foreign key leads to them.
    carol_before["invitation"] = 1
    carol_before["throttle"] += 1
    carol_before["audit_event"] = carol_before["audit_event"] - 1  # the erasure's own row, without her in it
    expected = {name: count - carol_before.get(name, 0) for name, count in totals_before.items()}
    assert totals_after == expected


def test_the_receipt_counts_what_was_removed(db: Database, people: People) -> None:
    give_history(db, people.carol_registration, people.alice)
    before = _carol_rows(db, people)
    with db.session(write=True) as session:
        registration = session.get(Registration, people.carol_registration.id)
        receipt = erase_registration(session, Actor.system("test"), registration, None)
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", receipt.id) and receipt.id != people.carol_registration.public_id
    assert receipt.counts["profile"] == 1
    assert receipt.counts["answers"] == before["answer"]
    assert receipt.counts["submissions"] == before["submission"]
    assert receipt.counts["audit_events"] == before["audit_event"]
    assert receipt.counts["sessions"] == before["auth_session"]  # hers and the informant's
    # Every row found, bar the registration (part of the profile), plus the redeemed invitation and its counter.
    assert receipt.total == sum(before.values()) - before["registration"] + 2
    assert list(receipt.counts) == list(RECEIPT_KINDS)


# --- The client's own erasure ---------------------------------------------------------------------------------


def test_the_client_gets_a_receipt_with_id_date_and_counts_and_nothing_personal(
    client: TestClient, db: Database, people: People, settings: Settings
) -> None:
    markers = give_history(db, people.carol_registration, people.alice)
    login_as(client, db, people.carol)
    page = client.get(ERASE)
    assert page.status_code == 200
    assert 'name="password"' in page.text and 'name="code"' not in page.text  # no second factor for her
    before = _carol_rows(db, people)
    response = _erase_as_client(client)
    assert response.status_code == 200
    public_id = people.carol_registration.public_id
    receipt_id = _receipt_id(response.text)
    assert receipt_id != public_id and public_id not in _main(response.text)  # fresh, not the one in staff URLs
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', response.text)
    counts = _receipt_counts(response.text)
    assert len(counts) == len(RECEIPT_KINDS)
    assert counts[RECEIPT_KINDS.index("answers")] == before["answer"]
    assert markers.roepnaam not in response.text and "<code>carol</code>" not in response.text
    assert "data-print hidden" in response.text
    assert ErasureLedger(ledger_path(settings)).path.read_text() == f"{public_id}\n"  # for a replay
    with db.session() as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.action == "erase")).all()
    assert event.object_id == receipt_id


def test_erasure_ends_every_session_and_the_account(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    other_device = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    login_as(other_device, db, people.carol)
    login_as(client, db, people.carol)
    response = _erase_as_client(client)
    assert response.status_code == 200
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert "cookies" in response.headers["clear-site-data"]
    assert "/logout" not in response.text  # the page is shown as to a visitor
    assert other_device.get("/client", follow_redirects=False).headers["location"].startswith("/login")
    fresh = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    login = fresh.post(
        "/login",
        data={"username": "carol", "password": PERSONA_PASSWORD, "csrf_token": csrf_of(fresh, "/login")},
        follow_redirects=False,
    )
    assert login.status_code == 400


def test_a_wrong_password_erases_nothing(client: TestClient, db: Database, people: People, settings: Settings) -> None:
    give_history(db, people.carol_registration, people.alice)
    login_as(client, db, people.carol)
    before = _carol_rows(db, people)
    response = _erase_as_client(client, password="niet mijn wachtwoord hoor")
    assert response.status_code == 400
    assert 'id="password-error"' in response.text
    after = _carol_rows(db, people)
    assert after.pop("audit_event") == before.pop("audit_event") + 1  # the failed attempt, logged
    assert after == before
    assert client.get("/client").status_code == 200  # still logged in
    assert not ledger_path(settings).exists()


def test_without_the_confirmation_nothing_is_erased(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.carol)
    response = _erase_as_client(client, confirm=False)
    assert response.status_code == 400
    assert 'id="confirm-error"' in response.text
    assert _registration_exists(db, people.carol_registration.public_id)


def test_guessing_the_password_is_limited(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.carol)
    for _ in range(10):
        assert _erase_as_client(client, password="een verkeerde gok erbij").status_code == 400
    response = _erase_as_client(client)  # the right password, too late
    assert response.status_code == 400
    assert 'id="password-error"' in response.text
    assert _registration_exists(db, people.carol_registration.public_id)


def test_with_two_step_verification_the_code_is_needed_too(client: TestClient, db: Database, people: People) -> None:
    with db.session(write=True) as session:
        session.get(User, people.carol.id).totp_secret = TOTP_SECRET
        carol = session.get(User, people.carol.id)
    login_as(client, db, carol)
    assert 'name="code"' in client.get(ERASE).text
    wrong = _erase_as_client(client, code="000000" if totp.current_code(TOTP_SECRET) != "000000" else "111111")
    assert wrong.status_code == 400
    assert 'id="code-error"' in wrong.text
    assert _registration_exists(db, people.carol_registration.public_id)
    right = _erase_as_client(client, code=totp.current_code(TOTP_SECRET))
    assert right.status_code == 200
    assert not _registration_exists(db, people.carol_registration.public_id)


# --- Staff, on request ----------------------------------------------------------------------------------------


def _staff_proof(token: str, **extra: str) -> dict[str, str]:
    """What a staff member fills in on the confirmation page: their own password and current code, and the tick."""
    return {"csrf_token": token, "password": PERSONA_PASSWORD, "code": totp.current_code(TOTP_SECRET)} | extra


def _erasure_audit(db: Database) -> list[AuditEvent]:
    with db.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == "erase")))


def test_a_therapist_erases_their_own_client_on_request(client: TestClient, db: Database, people: People) -> None:
    give_history(db, people.carol_registration, people.alice)
    public_id = people.carol_registration.public_id
    login_as(client, db, people.alice)
    path = f"/therapist/clients/{public_id}/erase"
    assert f'href="{path}"' in client.get(f"/therapist/clients/{public_id}").text
    assert "Carla" in client.get(path).text
    token = csrf_of(client, path)
    unconfirmed = client.post(path, data=_staff_proof(token))
    assert unconfirmed.status_code == 400
    assert _registration_exists(db, public_id)
    response = client.post(path, data=_staff_proof(token, confirm="yes"))
    assert response.status_code == 200
    assert public_id not in _main(response.text) and "Carla" not in response.text
    assert _carol_rows(db, people) == {}
    [event] = _erasure_audit(db)
    receipt_id = _receipt_id(response.text)
    assert (event.actor_user_id, event.actor_role, event.object_id) == (people.alice.id, "therapist", receipt_id)
    assert event.registration_id is None
    # Another therapist's client stays out of reach, also for erasure.
    dave_path = f"/therapist/clients/{people.dave_registration.public_id}/erase"
    assert client.post(dave_path, data=_staff_proof(token, confirm="yes")).status_code == 404
    assert _registration_exists(db, people.dave_registration.public_id)


def test_an_admin_erases_a_client_named_by_username(client: TestClient, db: Database, people: People) -> None:
    give_history(db, people.carol_registration, people.alice)
    public_id = people.carol_registration.public_id
    login_as(client, db, people.adam)
    assert 'href="/admin/erasures"' in client.get("/admin").text
    token = csrf_of(client, "/admin/erasures")
    for unknown in ("nobody", "bob"):  # no such account; a staff account is not a client
        assert client.post("/admin/erasures", data={"csrf_token": token, "username": unknown}).status_code == 400
    found = client.post("/admin/erasures", data={"csrf_token": token, "username": " Carol "})
    assert found.status_code == 200
    assert "Alice Jansen" in found.text and f'value="{public_id}"' in found.text
    unconfirmed = client.post("/admin/erasures/erase", data=_staff_proof(token, registration=public_id))
    assert unconfirmed.status_code == 400
    assert _registration_exists(db, public_id)
    erased = client.post("/admin/erasures/erase", data=_staff_proof(token, registration=public_id, confirm="yes"))
    assert erased.status_code == 200 and public_id not in _main(erased.text)
    assert _carol_rows(db, people) == {}
    [event] = _erasure_audit(db)
    assert (event.actor_user_id, event.actor_role, event.registration_id) == (people.adam.id, "admin", None)
    gone = client.post("/admin/erasures/erase", data=_staff_proof(token, registration=public_id, confirm="yes"))
    assert gone.status_code == 404


def _wrong_code() -> str:
    return "000000" if totp.current_code(TOTP_SECRET) != "000000" else "111111"


@pytest.mark.parametrize("who", ["therapist", "admin"])
def test_staff_must_give_their_password_and_code_again(
    client: TestClient, db: Database, people: People, who: str
) -> None:
    public_id = people.carol_registration.public_id
    if who == "therapist":
        login_as(client, db, people.alice)
        path, extra = f"/therapist/clients/{public_id}/erase", {}
    else:
        login_as(client, db, people.adam)
        path, extra = "/admin/erasures/erase", {"registration": public_id}
    token = csrf_of(client, f"/therapist/clients/{public_id}/erase" if who == "therapist" else "/admin/erasures")
    if who == "therapist":
        page = client.get(path).text
        assert 'name="password"' in page and 'name="code"' in page
    tries = {
        "password": _staff_proof(token, password="niet mijn wachtwoord hoor", confirm="yes", **extra),
        "code": _staff_proof(token, code=_wrong_code(), confirm="yes", **extra),
    }
    for field, data in tries.items():
        refused = client.post(path, data=data)
        assert refused.status_code == 400
        assert f'id="{field}-error"' in refused.text
        assert _registration_exists(db, public_id)
    missing = client.post(path, data={"csrf_token": token, "confirm": "yes", **extra})  # only the tick
    assert missing.status_code == 400
    assert 'id="password-error"' in missing.text and 'id="code-error"' in missing.text
    assert _registration_exists(db, public_id)
    assert _erasure_audit(db) == []
    with db.session() as session:
        failures = session.exec(
            select(AuditEvent).where(AuditEvent.outcome == "failure", AuditEvent.object_type == "account")
        ).all()
    assert sorted(event.action for event in failures) == ["confirm_password", "second_factor"]


def test_staff_guessing_the_code_is_limited(client: TestClient, db: Database, people: People) -> None:
    public_id = people.carol_registration.public_id
    path = f"/therapist/clients/{public_id}/erase"
    login_as(client, db, people.alice)
    token = csrf_of(client, path)
    for _ in range(10):
        client.post(path, data=_staff_proof(token, code=_wrong_code(), confirm="yes"))
    too_late = client.post(path, data=_staff_proof(token, confirm="yes"))  # the right code, too late
    assert too_late.status_code == 400 and 'id="code-error"' in too_late.text
    assert _registration_exists(db, public_id)


def test_the_ledger_lists_the_receipt_ids_and_nothing_else(
    app: Portal, client: TestClient, db: Database, people: People, settings: Settings
) -> None:
    login_as(client, db, people.carol)
    assert _erase_as_client(client).status_code == 200
    staff = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    login_as(staff, db, people.bob)
    path = f"/therapist/clients/{people.dave_registration.public_id}/erase"
    assert staff.post(path, data=_staff_proof(csrf_of(staff, path), confirm="yes")).status_code == 200
    lines = ledger_path(settings).read_text().splitlines()
    assert lines == [people.carol_registration.public_id, people.dave_registration.public_id]


# SQLite always has a default ledger beside the database file
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_without_a_ledger_on_postgresql_erasure_is_refused(migrated_url: str, db: Database, people: People) -> None:
    app = create_app(make_settings(migrated_url))  # no ROM_PORTAL_ERASURE_LEDGER
    try:
        with TestClient(app, base_url=BASE_URL, raise_server_exceptions=False) as browser:
            login_as(browser, app.state.db, people.carol)
            page = browser.get(ERASE)
            assert page.status_code == 200 and 'name="password"' not in page.text
            assert _erase_as_client(browser).status_code == 503
    finally:
        app.state.db.dispose()
    assert _registration_exists(db, people.carol_registration.public_id)
