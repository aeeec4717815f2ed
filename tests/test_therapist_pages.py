"""The therapist's own clients, invitations and reset codes: only their own, codes shown once."""

from __future__ import annotations

import re

import httpx2
import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from rom_portal.db import Database
from rom_portal.models import AuditEvent, Invitation, ResetCode
from rom_portal.security.tokens import hash_code
from tests.conftest import People, csrf_of, login_as

CODE = re.compile(r'class="letter__value code-display">([A-Z0-9-]+)<')


def make_invitation(client: TestClient, label: str = "") -> httpx2.Response:
    token = csrf_of(client, "/therapist/invitations")
    return client.post("/therapist/invitations", data={"csrf_token": token, "label": label})


def code_on(page: httpx2.Response) -> str:
    match = CODE.search(page.text)
    assert match, "no code on the page"
    return match.group(1)


def test_therapist_sees_only_their_own_clients(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.alice)
    page = client.get("/therapist")
    assert page.status_code == 200
    assert "<code>carol</code>" in page.text
    assert "dave" not in page.text
    assert people.carol_registration.public_id in page.text
    assert people.dave_registration.public_id not in page.text


@pytest.mark.parametrize("path", ["/therapist", "/therapist/invitations"])
def test_therapist_pages_are_not_found_for_other_roles(
    client: TestClient, db: Database, people: People, path: str
) -> None:
    assert client.get(path, follow_redirects=False).status_code == 303  # anonymous: to the login page
    for user in (people.carol, people.rita, people.adam):
        login_as(client, db, user)
        assert client.get(path, follow_redirects=False).status_code == 404


def test_invitation_code_and_letter_are_shown_once(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.alice)
    page = make_invitation(client, label="J.K.")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    code = code_on(page)
    assert len(code.replace("-", "")) == 16
    assert "https://testserver<wbr>/register" in page.text
    assert "data-print" in page.text and "/static/js/print.js" in page.text
    listing = client.get("/therapist/invitations")
    assert "J.K." in listing.text
    assert code not in listing.text
    with db.session() as session:
        invitation = session.exec(select(Invitation)).one()
    assert invitation.therapist_id == people.alice.id
    assert invitation.code_hash == hash_code(code)  # only the hash is kept


def test_a_long_note_is_refused_and_kept(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.alice)
    note = "x" * 81
    page = make_invitation(client, label=note)
    assert page.status_code == 400
    assert f'value="{note}"' in page.text
    assert 'href="#label"' in page.text
    assert CODE.search(page.text) is None


def test_therapist_can_revoke_their_own_invitation(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.alice)
    make_invitation(client)
    with db.session() as session:
        invitation = session.exec(select(Invitation)).one()
    token = csrf_of(client, "/therapist/invitations")
    answer = client.post(
        f"/therapist/invitations/{invitation.id}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert "De uitnodiging is ingetrokken" in client.get(answer.headers["location"]).text
    with db.session() as session:
        assert session.exec(select(Invitation)).first() is None


def test_therapist_cannot_revoke_another_therapists_invitation(
    client: TestClient, db: Database, people: People
) -> None:
    login_as(client, db, people.bob)
    make_invitation(client)
    with db.session() as session:
        bobs = session.exec(select(Invitation)).one()
    login_as(client, db, people.alice)
    token = csrf_of(client, "/therapist/invitations")
    for invitation_id in (bobs.id, 999_999):
        answer = client.post(f"/therapist/invitations/{invitation_id}/revoke", data={"csrf_token": token})
        assert answer.status_code == 404
    with db.session() as session:
        assert session.get(Invitation, bobs.id) is not None


def test_reset_code_for_own_client_is_shown_once(client: TestClient, db: Database, people: People) -> None:
    login_as(client, db, people.alice)
    token = csrf_of(client, "/therapist")
    page = client.post(
        f"/therapist/clients/{people.carol_registration.public_id}/reset-code", data={"csrf_token": token}
    )
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    code = code_on(page)
    assert "https://testserver<wbr>/reset" in page.text
    assert ">carol<" in page.text  # the username, which a client may have forgotten too
    with db.session() as session:
        stored = session.exec(select(ResetCode)).one()
    assert stored.user_id == people.carol.id
    assert stored.code_hash == hash_code(code)


def test_therapist_cannot_make_a_reset_code_for_another_therapists_client(
    client: TestClient, db: Database, people: People
) -> None:
    login_as(client, db, people.alice)
    token = csrf_of(client, "/therapist")
    for public_id in (people.dave_registration.public_id, "does-not-exist"):
        answer = client.post(f"/therapist/clients/{public_id}/reset-code", data={"csrf_token": token})
        assert answer.status_code == 404
    with db.session() as session:
        assert session.exec(select(ResetCode)).first() is None


def test_invitations_and_reset_codes_are_audited_without_codes(
    client: TestClient, db: Database, people: People
) -> None:
    login_as(client, db, people.alice)
    code = code_on(make_invitation(client, label="A.B."))
    with db.session() as session:
        invitation = session.exec(select(Invitation)).one()
    token = csrf_of(client, "/therapist")
    client.post(f"/therapist/invitations/{invitation.id}/revoke", data={"csrf_token": token})
    reset_page = client.post(
        f"/therapist/clients/{people.carol_registration.public_id}/reset-code", data={"csrf_token": token}
    )
    reset_code = code_on(reset_page)
    with db.session() as session:
        events = list(session.exec(select(AuditEvent).order_by(col(AuditEvent.id))))
    mine = [(e.action, e.object_type) for e in events if e.actor_user_id == people.alice.id]
    # Opening the start page (for its CSRF token) is a read of the caseload, audited too.
    assert mine == [("create", "invitation"), ("read", "caseload"), ("delete", "invitation"), ("create", "reset_code")]
    assert events[-1].registration_id == people.carol_registration.id
    assert all(e.access_point.startswith("web:therapist_") for e in events if e.actor_user_id == people.alice.id)
    text = " ".join(f"{e.object_id} {e.access_point}" for e in events)
    assert code not in text and reset_code not in text and "A.B." not in text


def test_letter_prints_alone(client: TestClient) -> None:
    css = client.get("/static/css/portal.css").text
    onboarding = css.split("/* onboarding */", 1)[1]
    assert "main:has(.letter) > :not(.letter)" in onboarding
    script = client.get("/static/js/print.js")
    assert script.status_code == 200
    assert "[data-print]" in script.text and "window.print()" in script.text
