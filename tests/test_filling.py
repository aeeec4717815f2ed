"""Filling in a questionnaire: every answer saved as given, bad input refused, one submission, alerts."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from rom_portal.db import Database
from rom_portal.models import Alert, Answer, Assignment, AuditEvent, Score, Submission, SubmissionStatus
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor
from tests.conftest import People, csrf_of, login_as

HTMX = {"HX-Request": "true"}


@pytest.fixture
def phq9(app: object, db: Database, people: People) -> Assignment:
    with db.session(write=True) as session:
        return assign(
            session, app.state.catalogue, Actor(people.alice.id, "therapist"), people.carol_registration, "phq9"
        )


@pytest.fixture
def daves(app: object, db: Database, people: People) -> Assignment:
    with db.session(write=True) as session:
        return assign(session, app.state.catalogue, Actor(people.bob.id, "therapist"), people.dave_registration, "gad7")


def _base(assignment: Assignment) -> str:
    return f"/client/questionnaires/{assignment.public_id}"


def _answers(db: Database, assignment: Assignment) -> dict[str, object]:
    with db.session() as session:
        submission = session.exec(select(Submission).where(Submission.assignment_id == assignment.id)).first()
        if submission is None:
            return {}
        rows = session.exec(select(Answer).where(Answer.submission_id == submission.id)).all()
    return {row.item_id: json.loads(row.value) for row in rows}


def _autosave(client: TestClient, assignment: Assignment, item: str, value: object) -> object:
    token = csrf_of(client, _base(assignment))
    data = {"item": item, f"item-{item}": value}
    return client.post(_base(assignment) + "/answer", data=data, headers={**HTMX, "X-CSRF-Token": token})


def _fill_all(client: TestClient, assignment: Assignment, values: dict[str, int]) -> None:
    for item, value in values.items():
        assert _autosave(client, assignment, item, value).status_code == 200


def test_an_answer_is_saved_as_it_is_given(client: TestClient, db: Database, people: People, phq9: Assignment) -> None:
    login_as(client, db, people.carol)
    page = client.get(_base(phq9))
    assert "Weinig interesse of plezier" in page.text
    response = _autosave(client, phq9, "1", "2")
    assert response.status_code == 200
    assert "Opgeslagen" in response.text
    assert _answers(db, phq9) == {"1": 2}


def test_answers_are_there_after_logging_in_again(
    client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    login_as(client, db, people.carol)
    _fill_all(client, phq9, {"1": 1, "2": 2, "3": 0})
    client.cookies.clear()
    login_as(client, db, people.carol)
    page = client.get(_base(phq9)).text
    assert 'name="item-2" value="2" hx-trigger="change"' in page
    assert 'value="2" hx-trigger="change" hx-post' in page and " checked" in page
    assert "3 van 10 vragen beantwoord" in page  # question 10 shows once an answer is above 0


@pytest.mark.parametrize(
    ("item", "value", "message"),
    [
        ("1", "7", "Kies een van de antwoorden."),
        ("99", "1", "hoort niet bij deze vragenlijst"),
        ("1", "\ufffd", "kon niet worden gelezen"),
    ],
    ids=["value-outside-options", "unknown-item", "broken-encoding"],
)
def test_bad_input_gets_a_clear_message_and_changes_nothing(
    client: TestClient, db: Database, people: People, phq9: Assignment, item: str, value: str, message: str
) -> None:
    login_as(client, db, people.carol)
    _fill_all(client, phq9, {"1": 1, "2": 1})
    response = _autosave(client, phq9, item, value)
    assert response.status_code == 422
    assert message in response.text
    assert _answers(db, phq9) == {"1": 1, "2": 1}


def test_raw_bytes_that_are_not_utf8_change_nothing(
    client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    login_as(client, db, people.carol)
    _fill_all(client, phq9, {"1": 1})
    token = csrf_of(client, _base(phq9))
    response = client.post(
        _base(phq9) + "/answer",
        content=b"item=1&item-1=%FF%FE",
        headers={**HTMX, "X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert _answers(db, phq9) == {"1": 1}


def test_an_oversized_body_is_refused_and_the_draft_stays(
    client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    login_as(client, db, people.carol)
    _fill_all(client, phq9, {"1": 3})
    token = csrf_of(client, _base(phq9))
    response = client.post(
        _base(phq9) + "/answer",
        content=b"item=1&item-1=" + b"0" * 300_000,
        headers={**HTMX, "X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert _answers(db, phq9) == {"1": 3}


def test_a_tampered_page_post_saves_nothing(client: TestClient, db: Database, people: People, phq9: Assignment) -> None:
    login_as(client, db, people.carol)
    token = csrf_of(client, _base(phq9))
    response = client.post(
        _base(phq9) + "?page=0", data={"csrf_token": token, "item-1": "1", "item-77": "1", "go": "next"}
    )
    assert response.status_code == 400
    assert "hoort niet bij deze vragenlijst" in response.text
    assert _answers(db, phq9) == {}


def test_the_page_works_without_javascript(client: TestClient, db: Database, people: People, phq9: Assignment) -> None:
    login_as(client, db, people.carol)
    token = csrf_of(client, _base(phq9))
    form = {"csrf_token": token, "go": "review", **{f"item-{n}": "0" for n in range(1, 10)}}
    response = client.post(_base(phq9) + "?page=0", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].endswith("/review")
    assert len(_answers(db, phq9)) == 9


def test_a_later_question_appears_when_an_earlier_answer_asks_for_it(
    client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    login_as(client, db, people.carol)
    assert 'id="question-10" hidden' in client.get(_base(phq9)).text
    response = _autosave(client, phq9, "1", "2")
    assert 'id="question-10" hx-swap-oob="true"' in response.text  # shown now, swapped in place


def test_review_lists_what_is_missing_and_submit_waits_for_it(
    client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    login_as(client, db, people.carol)
    _fill_all(client, phq9, {"1": 1, "2": 1})
    review = client.get(_base(phq9) + "/review")
    assert "Nog niet beantwoord" in review.text
    token = csrf_of(client, _base(phq9) + "/review")
    refused = client.post(_base(phq9) + "/submit", data={"csrf_token": token})
    assert refused.status_code == 400
    with db.session() as session:
        assert session.exec(select(Submission)).one().status is SubmissionStatus.draft


def test_submitting_twice_makes_one_submission_and_locks_the_answers(
    client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    login_as(client, db, people.carol)
    _fill_all(client, phq9, {str(n): 1 for n in range(1, 10)} | {"9": 0, "10": 1})
    token = csrf_of(client, _base(phq9) + "/review")
    first = client.post(_base(phq9) + "/submit", data={"csrf_token": token}, follow_redirects=False)
    second = client.post(_base(phq9) + "/submit", data={"csrf_token": token}, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    with db.session() as session:
        submissions = session.exec(select(Submission)).all()
        scores = session.exec(select(Score)).all()
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "submit")).all()
    assert len(submissions) == 1 and submissions[0].status is SubmissionStatus.submitted
    assert [(s.scale_id, s.value, s.band) for s in scores] == [("total", 8.0, "mild")]
    assert len(events) == 1
    assert _autosave(client, phq9, "1", "3").status_code == 409
    assert _answers(db, phq9)["1"] == 1
    done = client.get(_base(phq9) + "/done")
    assert "Bedankt, uw antwoorden zijn verstuurd" in done.text
    assert "113" not in done.text  # no alert, no crisis text


def test_a_critical_answer_raises_an_alert_and_shows_the_crisis_text(
    client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    login_as(client, db, people.carol)
    _fill_all(client, phq9, {str(n): 0 for n in range(1, 10)} | {"9": 1, "10": 0})
    token = csrf_of(client, _base(phq9) + "/review")
    done = client.post(_base(phq9) + "/submit", data={"csrf_token": token})
    assert "113 Zelfmoordpreventie" in done.text and "112" in done.text
    with db.session() as session:
        alerts = session.exec(select(Alert)).all()
    assert [(a.item_id, a.registration_id) for a in alerts] == [("9", people.carol_registration.id)]


def test_another_client_and_other_roles_get_404(
    client: TestClient, db: Database, people: People, phq9: Assignment, daves: Assignment
) -> None:
    login_as(client, db, people.dave)
    for path in ("", "/review", "/done"):
        assert client.get(_base(phq9) + path).status_code == 404
    token = csrf_of(client, _base(daves))
    headers = {**HTMX, "X-CSRF-Token": token}
    assert client.post(_base(phq9) + "/answer", data={"item": "1", "item-1": "1"}, headers=headers).status_code == 404
    assert client.post(_base(phq9) + "/submit", headers=headers).status_code == 404
    client.cookies.clear()
    login_as(client, db, people.alice)
    assert client.get(_base(phq9)).status_code == 404
    assert _answers(db, phq9) == {}


def test_autosave_saves_the_item_named_even_when_the_whole_form_comes_along(
    client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    """htmx posts every field of the page; only the item this change is about may be saved."""
    login_as(client, db, people.carol)
    page = client.get(_base(phq9)).text
    assert """hx-vals='{"item": "1"}'""" in page
    token = csrf_of(client, _base(phq9))
    form = {"csrf_token": token, "item": "1", "item-1": "2", "item-9": "3"}
    response = client.post(_base(phq9) + "/answer", data=form, headers={**HTMX, "X-CSRF-Token": token})
    assert 'id="status-1"' in response.text
    assert _answers(db, phq9) == {"1": 2}


def test_two_clients_on_the_same_questionnaire_each_see_only_their_own_answers(
    app: object, client: TestClient, db: Database, people: People, phq9: Assignment
) -> None:
    """Question markup is shared between respondents in the same state: never their answers or addresses."""
    with db.session(write=True) as session:
        daves_phq9 = assign(
            session, app.state.catalogue, Actor(people.bob.id, "therapist"), people.dave_registration, "phq9"
        )
    login_as(client, db, people.carol)
    _fill_all(client, phq9, {"1": 2})
    carols_page = client.get(_base(phq9)).text
    client.cookies.clear()
    login_as(client, db, people.dave)
    _fill_all(client, daves_phq9, {"1": 0})
    daves_page = client.get(_base(daves_phq9)).text
    assert 'name="item-1" value="0" hx-trigger="change" hx-post="' + _base(daves_phq9) + '/answer"' in daves_page
    assert ' value="0" hx-trigger="change" hx-post="' + _base(daves_phq9) + '/answer" hx-vals' in daves_page
    assert phq9.public_id not in daves_page and daves_phq9.public_id not in carols_page
    checked = [line for line in daves_page.splitlines() if 'name="item-1"' in line and " checked" in line]
    assert len(checked) == 1 and 'value="0"' in checked[0]
    checked = [line for line in carols_page.splitlines() if 'name="item-1"' in line and " checked" in line]
    assert len(checked) == 1 and 'value="2"' in checked[0]
