"""The client's home and own results: only their own questionnaires, overdue said in words, results only if allowed."""

from __future__ import annotations

import re
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.demo import seed_demo
from rom_portal.models import (
    Answer,
    Assignment,
    AuditEvent,
    Registration,
    Respondent,
    Score,
    Submission,
    SubmissionStatus,
    User,
)
from rom_portal.models.base import utcnow
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor
from rom_portal.services.client_area import practice_today
from rom_portal.services.filling import save_answers, submit
from tests.conftest import People, login_as


def phq9(total: int) -> dict[str, int]:
    """PHQ-9 answers adding up to ``total`` (item 9 kept at 0)."""
    base, extra = divmod(total, 8)
    answers = {str(n): base + (1 if n <= extra else 0) for n in range(1, 9)}
    return {**answers, "9": 0, "10": 1}


def give(
    app: Portal,
    registration: Registration,
    therapist_id: int | None,
    key: str,
    *,
    due_on: date | None = None,
    answers: dict[str, int] | None = None,
    submitted_days_ago: int | None = None,
    respondent: Respondent = Respondent.self,
) -> str:
    """Assign ``key``; with ``answers`` save them, and with ``submitted_days_ago`` submit them then."""
    catalogue = app.state.catalogue
    with app.state.db.session(write=True) as session:
        assignment = assign(
            session,
            catalogue,
            Actor(therapist_id, "therapist"),
            registration,
            key,
            due_on=due_on,
            respondent=respondent,
            informant_label="moeder" if respondent is Respondent.informant else "",
        )
        if answers is not None:
            save_answers(session, catalogue, assignment, answers)
        if submitted_days_ago is not None:
            submission = submit(session, catalogue, assignment, Actor(None, "client")).submission
            submission.submitted_at = utcnow() - timedelta(days=submitted_days_ago)
        return assignment.public_id


def show_results(db: Database, registration: Registration, visible: bool = True) -> None:
    with db.session(write=True) as session:
        row = session.get(Registration, registration.id)
        assert row is not None
        row.results_visible = visible


def tasks(page: str) -> list[str]:
    """The open questionnaires on the home page, one HTML chunk each."""
    return re.findall(r'<li class="task.*?</li>', page, flags=re.DOTALL)


# --- Home ------------------------------------------------------------------------------------------------


def test_home_lists_open_overdue_started_and_completed_questionnaires(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    carol, alice = people.carol_registration, people.alice.id
    due_today = give(app, carol, alice, "who5", due_on=today)
    overdue = give(app, carol, alice, "phq9", due_on=today - timedelta(days=1))
    started = give(app, carol, alice, "gad7", due_on=today + timedelta(days=7), answers={"1": 2})
    give(app, carol, alice, "k10")
    give(app, carol, alice, "phq9", answers=phq9(12), submitted_days_ago=3)
    login_as(client, db, people.carol)

    page = client.get("/client?lang=en")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    assert "<h1>Welcome, Carol</h1>" in page.text
    open_ones = tasks(page.text)
    assert len(open_ones) == 4
    # Soonest due first, and without a due date last.
    assert [overdue in t for t in open_ones] == [True, False, False, False]
    assert due_today in open_ones[1] and started in open_ones[2] and "K10" in open_ones[3]
    assert "Overdue" in open_ones[0] and "You can still fill it in" in open_ones[0]
    assert "Overdue" not in open_ones[1]  # due today is not late yet
    assert f'href="/client/questionnaires/{started}' in open_ones[2]
    assert "Continue where you left off" in open_ones[2]
    assert "Continue where you left off" not in open_ones[1] and ">Start<" in open_ones[1]
    completed = page.text.split('id="done-heading"')[1]
    assert "PHQ-9 Patient Health Questionnaire (depression)" in completed
    sent = (utcnow() - timedelta(days=3)).astimezone(ZoneInfo(app.state.settings.timezone))
    assert f'<td data-label="Sent in on">{sent:%-d %B %Y}</td>' in completed
    assert 'href="/privacy?lang=en">Read the privacy statement</a>' in page.text
    assert " style=" not in page.text


def test_home_speaks_dutch_and_marks_overdue_in_words(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    today = practice_today(app.state.settings.timezone)
    give(app, people.carol_registration, people.alice.id, "phq9", due_on=today - timedelta(days=10))
    give(app, people.carol_registration, people.alice.id, "gad7", answers={"1": 1})
    login_as(client, db, people.carol)
    page = client.get("/client")
    assert "<h1>Welkom, Carol</h1>" in page.text
    assert '<strong class="tag tag--overdue">Datum voorbij</strong>' in page.text
    assert "Verder waar u gebleven was" in page.text
    assert "Er is nu niets" not in page.text


def test_home_without_questionnaires_is_kind_and_links_results_only_when_allowed(
    client: TestClient, db: Database, people: People
) -> None:
    login_as(client, db, people.carol)
    page = client.get("/client?lang=en")
    assert "There is nothing for you to fill in right now." in page.text
    assert "You have not sent in a questionnaire yet." in page.text
    assert "/client/results" not in page.text
    show_results(db, people.carol_registration)
    assert 'href="/client/results?lang=en"' in client.get("/client?lang=en").text


def test_home_never_shows_another_clients_or_an_informants_questionnaires(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    daves_open = give(app, people.dave_registration, people.bob.id, "phq15")
    give(app, people.dave_registration, people.bob.id, "phq9", answers=phq9(5), submitted_days_ago=1)
    about_carol = give(app, people.carol_registration, people.alice.id, "psc17", respondent=Respondent.informant)
    login_as(client, db, people.carol)
    page = client.get("/client?lang=en")
    assert daves_open not in page.text and about_carol not in page.text
    assert "PHQ-15" not in page.text and "PHQ-9" not in page.text and "PSC" not in page.text
    assert tasks(page.text) == []


# --- Results ---------------------------------------------------------------------------------------------


def test_results_are_not_found_unless_the_practice_shows_them(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    give(app, people.carol_registration, people.alice.id, "phq9", answers=phq9(12), submitted_days_ago=1)
    login_as(client, db, people.carol)
    assert client.get("/client/results").status_code == 404
    with db.session() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.object_type == "results")).all() == []


@pytest.mark.parametrize("persona", ["alice", "bob", "rita", "adam"])
def test_results_are_not_found_for_other_roles(client: TestClient, db: Database, people: People, persona: str) -> None:
    show_results(db, people.carol_registration)
    assert client.get("/client/results", follow_redirects=False).status_code == 303  # anonymous: to login
    login_as(client, db, getattr(people, persona))
    assert client.get("/client/results", follow_redirects=False).status_code == 404


def test_results_show_scores_with_bands_a_chart_and_a_table(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    carol, alice = people.carol_registration, people.alice.id
    for days_ago, total in ((60, 19), (30, 12), (2, 4)):
        give(app, carol, alice, "phq9", answers=phq9(total), submitted_days_ago=days_ago)
    give(app, carol, alice, "gad7", answers={"1": 1})  # a draft: no score yet
    show_results(db, carol)
    login_as(client, db, people.carol)

    page = client.get("/client/results?lang=en")
    assert page.status_code == 200
    assert "no-store" in page.headers["cache-control"]
    text = page.text
    assert text.count('<section class="card results"') == 1
    assert "A lower score is better." in text
    for label in ("Moderately severe", "Moderate", "None or minimal"):
        assert f'<td data-label="Level">{label}</td>' in text
    assert "The least favourable" not in text  # 19 is level 4 of 5
    assert "Level 4 of 5, counted from the most favourable (score 15 to 19)." in text
    assert "The most favourable of the 5 levels (score 0 to 4)." in text
    svg = re.search(r"<svg.*?</svg>", text, flags=re.DOTALL)
    assert svg is not None
    chart = svg.group(0)
    assert 'role="img"' in chart and "<title" in chart and "<desc" in chart
    assert "3 scores, from" in chart and "The first was 19 (Moderately severe), the latest 4 (None or minimal)" in chart
    assert chart.count('class="chart__point"') == 3
    assert 'class="chart__cutoff"' in chart and "Cut-off: 10" in chart
    after = text[svg.end() :]
    assert after.index("<table") < after.index("</section>")  # the table comes right below the chart
    assert '<th scope="col">Score</th>' in after and "<caption>" in after
    assert (
        " style=" not in text
        and "<script>" not in text
        and "http://" not in chart.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    with db.session() as session:
        [event] = session.exec(select(AuditEvent).where(AuditEvent.object_type == "results")).all()
    assert (event.action, event.actor_user_id, event.registration_id) == ("read", people.carol.id, carol.id)


def test_results_speak_dutch_for_a_scale_where_higher_is_better(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    answers = {"1": 2, "2": 2, "3": 2, "4": 1, "5": 1}  # raw 8: 32%, poor well-being
    give(app, people.carol_registration, people.alice.id, "who5", answers=answers, submitted_days_ago=5)
    show_results(db, people.carol_registration)
    login_as(client, db, people.carol)
    text = client.get("/client/results").text
    assert "Een hogere score is beter." in text
    assert '<td data-label="Niveau">Verminderd welbevinden</td>' in text
    assert "Niveau 2 van 3, geteld vanaf het gunstigste (score 29 tot en met 50)." in text
    assert "Een score van 50 of lager" in text
    assert "Ruwe score" not in text  # one headline score per questionnaire


def test_results_leave_out_informants_and_other_clients(
    app: Portal, client: TestClient, db: Database, people: People
) -> None:
    calm = {str(n): 0 for n in range(1, 8)}
    give(app, people.carol_registration, people.alice.id, "gad7", answers=calm, submitted_days_ago=4)
    informant = {str(n): 3 for n in range(1, 8)} | {"difficulty": 3}
    give(
        app,
        people.carol_registration,
        people.alice.id,
        "gad7",
        answers=informant,
        submitted_days_ago=2,
        respondent=Respondent.informant,
    )
    give(app, people.dave_registration, people.bob.id, "phq9", answers=phq9(20), submitted_days_ago=1)
    show_results(db, people.carol_registration)
    show_results(db, people.dave_registration)
    login_as(client, db, people.carol)
    text = client.get("/client/results?lang=en").text
    assert text.count('class="chart__point"') == 1
    assert '<td data-label="Level">Severe</td>' not in text and "PHQ-9" not in text
    assert "One score, on" in text


def test_results_without_any_submission_say_so_kindly(client: TestClient, db: Database, people: People) -> None:
    show_results(db, people.carol_registration)
    login_as(client, db, people.carol)
    page = client.get("/client/results?lang=en")
    assert page.status_code == 200
    assert "There are no scores yet." in page.text and "<svg" not in page.text


# --- Demo ------------------------------------------------------------------------------------------------


def _counts(db: Database) -> list[int]:
    with db.session() as session:
        return [
            session.exec(select(func.count()).select_from(table)).one()
            for table in (User, Registration, Assignment, Submission, Answer, Score, AuditEvent)
        ]


def test_demo_seeding_is_idempotent_and_tells_a_story(app: Portal, client: TestClient, db: Database) -> None:
    for _ in range(2):
        with db.session(write=True) as session:
            seed_demo(session, app.state.catalogue)
    first = _counts(db)
    with db.session(write=True) as session:
        seed_demo(session)
    assert _counts(db) == first
    with db.session() as session:
        demo_client = session.exec(select(User).where(User.username == "demo-client")).one()
        hers = select(Registration.id).where(Registration.user_id == demo_client.id).scalar_subquery()
        submitted = session.exec(
            select(Submission)
            .where(Submission.status == SubmissionStatus.submitted, Submission.registration_id == hers)
            .order_by(col(Submission.submitted_at))
        ).all()
        drafts = session.exec(
            select(Submission).where(Submission.status == SubmissionStatus.draft, Submission.registration_id == hers)
        ).all()
    assert len(submitted) == 7 and len(drafts) == 1
    assert all(s.submitted_at is not None and s.submitted_at < utcnow() - timedelta(days=14) for s in submitted)

    login_as(client, db, demo_client)
    home = tasks(client.get("/client?lang=en").text)
    assert len(home) == 3
    assert "WHO-5" in home[0] and "Overdue" in home[0]
    assert sum("Continue where you left off" in t for t in home) == 1
    results = client.get("/client/results?lang=en").text
    assert results.count('class="chart__point"') == 7
    assert "The first was 19 (Moderately severe), the latest 8 (Mild)" in results
