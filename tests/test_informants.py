"""Informants: a link plus a code opens one questionnaire about a client, and nothing else."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.models import (
    Answer,
    Assignment,
    AuditEvent,
    AuthSession,
    InformantLink,
    Registration,
    Respondent,
    Score,
    Submission,
    SubmissionStatus,
)
from rom_portal.models.base import utcnow
from rom_portal.security.tokens import hash_code, hash_token
from rom_portal.services.informants import seed_demo_informant
from rom_portal.web.session_middleware import anonymous_serializer, cookie_name
from tests import test_access_matrix
from tests.access_matrix import MATRIX
from tests.conftest import BASE_URL, People, csrf_of, login_as

HTMX = {"HX-Request": "true"}
IQCODE_ITEMS = [str(number) for number in range(1, 17)]
BAD_CODE_TEXT = "Deze link of code werkt niet."

# The access matrix's objects (carol's and dave's registrations, assignments, ...), for the route sweep.
objects = test_access_matrix.objects


@dataclass
class Issued:
    token: str
    code: str

    @property
    def path(self) -> str:
        return f"/i/{self.token}"


def _browser(app: Portal) -> TestClient:
    return TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)


def _issue(app: Portal, db: Database, people: People, key: str = "iqcode16", relation: str = "dochter") -> Issued:
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = f"/therapist/clients/{people.carol_registration.public_id}/informants"
    response = therapist.post(
        path, data={"csrf_token": csrf_of(therapist, path), "questionnaire": key, "relation": relation}
    )
    assert response.status_code == 200, response.text
    link = re.search(r"https://testserver/i/([A-Za-z0-9_-]+)<", response.text)
    code = re.search(r'class="letter__value code-display">([0-9A-Z]{4}-[0-9A-Z]{4})<', response.text)
    assert link and code
    return Issued(link.group(1), code.group(1))


@pytest.fixture
def issued(app: Portal, db: Database, people: People) -> Issued:
    return _issue(app, db, people)


def _open(browser: TestClient, issued: Issued, code: str | None = None, go: str = "form") -> object:
    data = {"csrf_token": csrf_of(browser, issued.path), "code": issued.code if code is None else code, "go": go}
    return browser.post(issued.path, data=data, follow_redirects=False)


def _informant(app: Portal, issued: Issued) -> TestClient:
    browser = _browser(app)
    response = _open(browser, issued)
    assert response.status_code == 303 and response.headers["location"] == "/i/form"
    return browser


def _autosave(browser: TestClient, item: str, value: object) -> object:
    token = csrf_of(browser, "/i/form")
    return browser.post(
        "/i/form/answer", data={"item": item, f"item-{item}": value}, headers={**HTMX, "X-CSRF-Token": token}
    )


def _link(db: Database, issued: Issued) -> InformantLink:
    with db.session() as session:
        return session.exec(select(InformantLink).where(InformantLink.token_hash == hash_token(issued.token))).one()


def _answers(db: Database, issued: Issued) -> dict[str, object]:
    link = _link(db, issued)
    with db.session() as session:
        submission = session.exec(select(Submission).where(Submission.assignment_id == link.assignment_id)).first()
        if submission is None:
            return {}
        rows = session.exec(select(Answer).where(Answer.submission_id == submission.id)).all()
    return {row.item_id: json.loads(row.value) for row in rows}


def _submit(browser: TestClient) -> object:
    token = csrf_of(browser, "/i/form/review")
    return browser.post("/i/form/submit", data={"csrf_token": token}, follow_redirects=False)


def _fill_and_send(browser: TestClient) -> object:
    for item in IQCODE_ITEMS:
        assert _autosave(browser, item, "3").status_code == 200
    response = _submit(browser)
    assert response.status_code == 303 and response.headers["location"].startswith("/i/form/done?receipt=")
    return response


def _without_csrf(text: str) -> str:
    return re.sub(r'(name="csrf_token" value="|"X-CSRF-Token": ")[^"]+', "", text)


# --- Issuing ----------------------------------------------------------------------------------------------


def test_a_therapist_issues_a_link_and_a_code_shown_once(
    app: Portal, db: Database, people: People, issued: Issued
) -> None:
    link = _link(db, issued)
    assert len(issued.token) >= 22  # at least 128 bits
    assert link.code_hash == hash_code(issued.code) and issued.code not in link.code_hash
    expected = utcnow() + timedelta(days=app.state.settings.invitation_days)
    assert abs((link.expires_at - expected).total_seconds()) < 60
    assert link.closed_at is None
    with db.session() as session:
        assignment = session.get(Assignment, link.assignment_id)
        events = session.exec(select(AuditEvent).where(AuditEvent.object_type == "informant_link")).all()
    assert assignment.respondent is Respondent.informant and assignment.informant_label == "dochter"
    assert assignment.questionnaire_key == "iqcode16" and assignment.registration_id == people.carol_registration.id
    assert [(event.action, event.actor_role) for event in events] == [("create", "therapist")]
    assert events[0].registration_id == people.carol_registration.id

    # The list shows it, without the link or the code, and a second informant of the same kind is fine.
    _issue(app, db, people, "iqcode16", "zoon")
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    page = therapist.get(f"/therapist/clients/{people.carol_registration.public_id}/informants").text
    assert "dochter" in page and "zoon" in page and page.count("Nog niet geopend") == 2
    assert issued.token not in page and issued.code not in page
    home = therapist.get("/therapist").text
    assert f"/therapist/clients/{people.carol_registration.public_id}/informants" in home


def test_the_issue_form_refuses_a_missing_relation_or_a_self_report_questionnaire(
    app: Portal, db: Database, people: People
) -> None:
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    path = f"/therapist/clients/{people.carol_registration.public_id}/informants"
    for form in (
        {"questionnaire": "iqcode16", "relation": "  "},
        {"questionnaire": "phq9", "relation": "moeder"},
        {"questionnaire": "iqcode16", "relation": "x" * 61},
    ):
        response = therapist.post(path, data={"csrf_token": csrf_of(therapist, path), **form})
        assert response.status_code == 400
        assert 'class="error-message"' in response.text
    with db.session() as session:
        assert session.exec(select(InformantLink)).all() == []


def test_bob_cannot_issue_for_carol(app: Portal, db: Database, people: People) -> None:
    therapist = _browser(app)
    login_as(therapist, db, people.bob)
    path = f"/therapist/clients/{people.carol_registration.public_id}/informants"
    assert therapist.get(path).status_code == 404
    token = csrf_of(therapist, "/therapist")
    response = therapist.post(path, data={"csrf_token": token, "questionnaire": "iqcode16", "relation": "moeder"})
    assert response.status_code == 404
    with db.session() as session:
        assert session.exec(select(InformantLink)).all() == []
        assert session.exec(select(Assignment)).all() == []


# --- Filling in -------------------------------------------------------------------------------------------


def test_an_informant_fills_in_the_iqcode_with_autosave_and_resume(
    app: Portal, db: Database, people: People, issued: Issued
) -> None:
    browser = _browser(app)
    code_page = browser.get(issued.path)
    assert code_page.status_code == 200 and 'name="code"' in code_page.text
    assert "Carol" not in code_page.text  # nothing about the client before the code is given
    response = _open(browser, issued, issued.code.lower().replace("-", " "))  # typed loosely
    assert response.status_code == 303 and response.headers["location"] == "/i/form"
    assert cookie_name(app.state.settings) in response.headers["set-cookie"]

    page = browser.get("/i/form").text
    assert "Deze vragenlijst gaat over Carol." in page
    assert "Zich dingen herinneren over familie en vrienden" in page
    saved = _autosave(browser, "1", "4")
    assert saved.status_code == 200 and "Opgeslagen" in saved.text
    assert _answers(db, issued) == {"1": 4}

    # Whole-page post to the second page, then stop: a new browser resumes where they were.
    token = csrf_of(browser, "/i/form")
    answers = {f"item-{item}": "3" for item in IQCODE_ITEMS[1:10]}
    moved = browser.post("/i/form?page=0", data={"csrf_token": token, "go": "next", **answers}, follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"] == "/i/form?page=1"
    later = _informant(app, issued)
    resumed = later.get("/i/form").text
    assert "10 van 16 vragen beantwoord" in resumed and 'name="item-2" value="3" hx-trigger="change"' in resumed
    assert 'href="/client' not in resumed and "Terug naar mijn vragenlijsten" not in resumed

    for item in IQCODE_ITEMS[10:]:
        assert _autosave(later, item, "5").status_code == 200
    review = later.get("/i/form/review")
    assert review.status_code == 200 and "Veel slechter" in review.text
    sent = _submit(later)
    done = later.get(sent.headers["location"])
    assert done.status_code == 200 and "Bedankt, uw antwoorden zijn verstuurd" in done.text
    assert "Niet veranderd" not in done.text and "Veel slechter" not in done.text  # no answers on it

    link = _link(db, issued)
    assert link.closed_at is not None
    with db.session() as session:
        submission = session.exec(select(Submission).where(Submission.assignment_id == link.assignment_id)).one()
        assert submission.status is SubmissionStatus.submitted
        assert session.exec(select(Score).where(Score.submission_id == submission.id)).all()
        assert session.exec(select(AuthSession).where(AuthSession.informant_link_id == link.id)).all() == []
        events = session.exec(select(AuditEvent).where(AuditEvent.actor_role == "informant")).all()
    actions = [(event.action, event.object_type, event.outcome) for event in events]
    assert actions == [
        ("open", "informant_link", "success"),
        ("open", "informant_link", "success"),
        ("submit", "submission", "success"),
        ("close", "informant_link", "success"),
    ]
    assert all(event.registration_id == people.carol_registration.id for event in events)
    assert all(event.actor_user_id is None for event in events)
    assert all(issued.token not in event.object_id and issued.code not in event.object_id for event in events)

    # The therapist sees it was sent.
    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    listing = therapist.get(f"/therapist/clients/{people.carol_registration.public_id}/informants").text
    assert "Verstuurd" in listing


def test_the_roepnaam_is_hidden_when_the_client_does_not_want_it_shown(
    app: Portal, db: Database, people: People, issued: Issued
) -> None:
    with db.session(write=True) as session:
        session.get(Registration, people.carol_registration.id).show_name_to_informants = False
    browser = _informant(app, issued)
    for path in ("/i/form", "/i/form?page=1", "/i/form/review"):
        page = browser.get(path).text
        assert "Carol" not in page and "gaat over" not in page and "over %(name)s" not in page


# --- Refusals ---------------------------------------------------------------------------------------------


def test_wrong_code_unknown_expired_and_used_links_all_get_the_same_clear_page(
    app: Portal, db: Database, people: People, issued: Issued
) -> None:
    wrong = _open(_browser(app), issued, "ZZZZ-ZZZZ")
    unknown = _open(_browser(app), Issued("no-such-link-" + "x" * 30, issued.code))
    used = _issue(app, db, people, relation="vader")
    _fill_and_send(_informant(app, used))
    after_use = _open(_browser(app), used)
    with db.session(write=True) as session:
        link = session.exec(select(InformantLink).where(InformantLink.token_hash == hash_token(issued.token))).one()
        link.expires_at = utcnow() - timedelta(minutes=1)
    expired = _open(_browser(app), issued)

    pages = {"wrong": wrong, "unknown": unknown, "used": after_use, "expired": expired}
    for name, response in pages.items():
        assert response.status_code == 400, name
        assert BAD_CODE_TEXT in response.text, name
        assert "set-cookie" not in response.headers or "Max-Age=0" in response.headers["set-cookie"], name
    bodies = {re.sub(r"/i/[A-Za-z0-9_-]{20,}", "/i/T", _without_csrf(response.text)) for response in pages.values()}
    assert len(bodies) == 1


def test_ten_wrong_codes_lock_the_link(app: Portal, db: Database, people: People, issued: Issued) -> None:
    browser = _browser(app)
    for _ in range(12):  # link previews in mail programs only look: they are no attempts
        assert browser.head(issued.path).status_code == 200
    assert _open(_browser(app), issued).status_code == 303
    for _ in range(10):
        assert _open(browser, issued, "ZZZZ-ZZZZ").status_code == 400
    locked = _open(browser, issued)
    assert locked.status_code == 429 and "Te veel" in locked.text
    assert "set-cookie" not in locked.headers
    with db.session() as session:
        # Only the session of the one right code before the wrong ones.
        assert len(session.exec(select(AuthSession).where(AuthSession.informant_link_id.is_not(None))).all()) == 1


def test_after_sending_the_link_is_dead_and_nothing_changes(
    app: Portal, db: Database, people: People, issued: Issued
) -> None:
    browser = _informant(app, issued)
    old_cookie = browser.cookies.get(cookie_name(app.state.settings))
    old_csrf = csrf_of(browser, "/i/form")
    _fill_and_send(browser)
    before = _answers(db, issued)

    replay = _browser(app)
    replay.cookies.set(cookie_name(app.state.settings), old_cookie, domain="testserver.local")
    form = replay.get("/i/form", follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == "/i/closed"
    assert "Deze link werkt niet meer" in replay.get("/i/closed").text
    assert replay.get("/i/form/review", follow_redirects=False).headers["location"] == "/i/closed"
    answer = replay.post(
        "/i/form/answer", data={"item": "1", "item-1": "1"}, headers={**HTMX, "X-CSRF-Token": old_csrf}
    )
    assert answer.status_code == 403
    again = replay.post("/i/form/submit", data={"csrf_token": old_csrf})
    assert again.status_code == 403
    # Even with a fresh anonymous token, there is no session to act for.
    anonymous = str(anonymous_serializer(app.state.settings).dumps("anonymous"))
    fresh = _browser(app)
    assert fresh.post("/i/form/answer", data={"csrf_token": anonymous, "item": "1", "item-1": "1"}).status_code == 403
    assert fresh.post("/i/form/submit", data={"csrf_token": anonymous}).status_code == 403
    assert BAD_CODE_TEXT in _open(_browser(app), issued).text
    assert _answers(db, issued) == before
    with db.session() as session:
        assert len(session.exec(select(Submission)).all()) == 1


def test_the_informant_session_reaches_no_other_route(
    app: Portal, db: Database, people: People, issued: Issued, objects: dict[str, object]
) -> None:
    informant = _informant(app, issued)
    informant_csrf = csrf_of(informant, "/i/form")
    anonymous_csrf = str(anonymous_serializer(app.state.settings).dumps("anonymous"))
    failures = []
    for (method, template), rule in MATRIX.items():
        if rule.public or template.startswith("/i/"):
            continue
        path = test_access_matrix._path(template, rule.params(objects))
        seen = informant.request(method, path, data={"csrf_token": informant_csrf, **rule.form}, follow_redirects=False)
        stranger = _browser(app).request(
            method, path, data={"csrf_token": anonymous_csrf, **rule.form}, follow_redirects=False
        )
        same = seen.status_code == stranger.status_code and seen.headers.get("location") == stranger.headers.get(
            "location"
        )
        if seen.status_code == 200 or not same:
            failures.append((method, path, seen.status_code, stranger.status_code))
    assert failures == []
    assert informant.get("/i/form").status_code == 200  # the sweep did not end the session


# --- Removal ----------------------------------------------------------------------------------------------


def test_removal_before_sending_deletes_the_answers_and_closes_the_link(
    app: Portal, db: Database, people: People, issued: Issued
) -> None:
    browser = _informant(app, issued)
    _autosave(browser, "1", "2")
    _autosave(browser, "2", "4")
    assert _answers(db, issued) == {"1": 2, "2": 4}
    assert browser.head("/i/form/remove").status_code == 200  # a HEAD (or GET) only asks
    assert _answers(db, issued) == {"1": 2, "2": 4}

    # Coming back later through the link, straight to the removal.
    later = _browser(app)
    response = _open(later, issued, go="remove")
    assert response.status_code == 303 and response.headers["location"] == "/i/form/remove"
    confirm = later.get("/i/form/remove")
    assert confirm.status_code == 200 and "Ja, verwijder wat ik heb ingevuld" in confirm.text
    removed = later.post(
        "/i/form/remove", data={"csrf_token": csrf_of(later, "/i/form/remove")}, follow_redirects=False
    )
    assert removed.status_code == 303 and removed.headers["location"] == "/i/removed"
    assert "Uw antwoorden zijn verwijderd" in later.get("/i/removed").text

    link = _link(db, issued)
    assert link.closed_at is not None
    with db.session() as session:
        assert session.exec(select(Submission)).all() == []
        assert session.exec(select(Answer)).all() == []
        assert session.exec(select(AuthSession).where(AuthSession.informant_link_id == link.id)).all() == []
        events = session.exec(select(AuditEvent).where(AuditEvent.action.in_(["delete", "remove"]))).all()
    assert [(event.action, event.object_type, event.actor_role) for event in events] == [
        ("delete", "submission", "informant"),
        ("remove", "informant_link", "informant"),
    ]
    assert all(event.registration_id == people.carol_registration.id for event in events)
    assert browser.get("/i/form", follow_redirects=False).headers["location"] == "/i/closed"
    assert BAD_CODE_TEXT in _open(_browser(app), issued).text

    therapist = _browser(app)
    login_as(therapist, db, people.alice)
    listing = therapist.get(f"/therapist/clients/{people.carol_registration.public_id}/informants").text
    assert "Gesloten: antwoorden verwijderd" in listing


def test_right_after_sending_the_done_page_offers_removal_once(
    app: Portal, db: Database, people: People, issued: Issued
) -> None:
    browser = _informant(app, issued)
    sent = _fill_and_send(browser)
    done_url = sent.headers["location"]
    done = browser.get(done_url)
    offer = re.search(r'href="(/i/form/remove\?receipt=[^"]+)"', done.text)
    assert offer and "Verwijder wat ik heb verstuurd" in done.text
    confirm = browser.get(offer.group(1).replace("&amp;", "&"))
    assert confirm.status_code == 200 and "U hebt uw antwoorden verstuurd op" in confirm.text
    receipt = re.search(r'name="receipt" value="([^"]+)"', confirm.text).group(1)

    # A tampered receipt removes nothing.
    forged = receipt[:-2] + ("AA" if not receipt.endswith("AA") else "BB")
    token = str(anonymous_serializer(app.state.settings).dumps("anonymous"))
    assert browser.post("/i/form/remove", data={"csrf_token": token, "receipt": forged}).status_code == 403
    assert _answers(db, issued)

    removed = browser.post("/i/form/remove", data={"csrf_token": token, "receipt": receipt}, follow_redirects=False)
    assert removed.status_code == 303 and removed.headers["location"] == "/i/removed"
    with db.session() as session:
        assert session.exec(select(Submission)).all() == []
        assert session.exec(select(Answer)).all() == []
        assert session.exec(select(Score)).all() == []
    # Afterwards the offer is gone.
    assert browser.get(done_url, follow_redirects=False).headers["location"] == "/i/closed"


def test_the_removal_offer_ends_after_its_window(app: Portal, db: Database, people: People, issued: Issued) -> None:
    browser = _informant(app, issued)
    done_url = _fill_and_send(browser).headers["location"]
    link = _link(db, issued)
    with db.session(write=True) as session:
        submission = session.exec(select(Submission).where(Submission.assignment_id == link.assignment_id)).one()
        submission.submitted_at = utcnow() - timedelta(minutes=31)
    assert browser.get(done_url, follow_redirects=False).headers["location"] == "/i/closed"
    receipt = done_url.split("receipt=", 1)[1]
    token = str(anonymous_serializer(app.state.settings).dumps("anonymous"))
    assert browser.post("/i/form/remove", data={"csrf_token": token, "receipt": receipt}).status_code == 403
    assert _answers(db, issued)


# --- Demo -------------------------------------------------------------------------------------------------


def test_the_demo_informant_link_works_and_is_renewed_once_used(app: Portal, db: Database, people: People) -> None:
    with db.session(write=True) as session:
        token, code = seed_demo_informant(session, app.state.catalogue, people.carol_registration, people.alice)
    with db.session(write=True) as session:
        assert seed_demo_informant(session, app.state.catalogue, people.carol_registration, people.alice) == (
            token,
            code,
        )
        assert len(session.exec(select(InformantLink)).all()) == 1
    demo = Issued(token, code)
    _fill_and_send(_informant(app, demo))
    with db.session(write=True) as session:
        seed_demo_informant(session, app.state.catalogue, people.carol_registration, people.alice)
        assert len(session.exec(select(InformantLink)).all()) == 2
    assert _informant(app, demo).get("/i/form").status_code == 200


def test_an_informant_who_chose_english_keeps_it_through_every_page(
    app: Portal, db: Database, people: People, issued: Issued
) -> None:
    """An informant has no account to keep a language: the choice travels in every address of the form."""
    browser = _browser(app)
    page = browser.get(issued.path + "?lang=en").text
    assert 'action="/i/' in page and "?lang=en" in page
    data = {"csrf_token": csrf_of(browser, issued.path + "?lang=en"), "code": issued.code, "go": "form"}
    opened = browser.post(issued.path + "?lang=en", data=data, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/i/form?lang=en"
    form = browser.get("/i/form?lang=en").text
    assert '<html lang="en"' in form
    assert 'action="/i/form?lang=en&amp;page=0"' in form and 'hx-post="/i/form/answer?lang=en"' in form
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    answers = {f"item-{item}": "3" for item in IQCODE_ITEMS[:10]}
    after = browser.post("/i/form?lang=en&page=0", data={"csrf_token": token, "go": "next", **answers})
    assert after.status_code == 200 and '<html lang="en"' in after.text and "Page 2 of" in after.text
