"""In a real browser: a client fills in a PHQ-9 over two visits, and a critical answer reaches the therapist.

The client logs in through the login form, answers by clicking (each answer saved as it is given), closes the
browser, comes back, finds the answers, finishes, checks and sends. All along: nothing from another origin, no
cookie but the session cookie, no CSP violation (the ``page`` fixture checks these for every page recorded),
and no serious accessibility problem on any page, on a phone or a desktop screen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from rom_portal.models import Alert, Answer, Assignment, Score, Submission, SubmissionStatus
from tests.browser.conftest import Axe, PortalServer, Recorder, log_in, recorded_page

pytestmark = pytest.mark.browser

PASSWORD = "koffie met een koekje erbij"
# PHQ-9 labels by value (items 1-9), and the answers given: the first visit answers items 1-5.
FREQUENCY = ["Helemaal niet", "Meerdere dagen", "Meer dan de helft van de dagen", "Bijna elke dag"]
ANSWERS = {"1": 1, "2": 2, "3": 1, "4": 0, "5": 3, "6": 2, "7": 1, "8": 0, "9": 0}
FIRST_VISIT = ["1", "2", "3", "4", "5"]
DIFFICULTY = "Enigszins moeilijk"  # item 10, shown once any problem is ticked


def _answer(page: object, item: str, label: str) -> None:
    """Click an answer and wait until the portal says it is saved."""
    question = page.locator(f"#question-{item}")  # type: ignore[attr-defined]
    question.get_by_label(label, exact=True).check()
    question.locator(f"#status-{item}").get_by_text("Opgeslagen").wait_for()


def _only_the_session_cookie(page: object) -> None:
    cookies = page.context.cookies()  # type: ignore[attr-defined]
    assert [cookie["name"] for cookie in cookies] == ["rom_session"]
    assert cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"


def _open_from_home(page: object, public_id: str) -> None:
    page.locator(f'a[href="/client/questionnaires/{public_id}"]').click()  # type: ignore[attr-defined]
    assert page.locator("h1").inner_text().startswith("PHQ-9")  # type: ignore[attr-defined]


def _submission(portal_server: PortalServer, public_id: str) -> tuple[Submission, dict[str, Score], list[Alert]]:
    with portal_server.database.session() as session:
        submission = session.exec(
            select(Submission).join(Assignment).where(Assignment.public_id == public_id)  # type: ignore[arg-type]
        ).one()
        scores = {
            score.scale_id: score for score in session.exec(select(Score).where(Score.submission_id == submission.id))
        }
        alerts = list(session.exec(select(Alert).where(Alert.submission_id == submission.id)))
    return submission, scores, alerts


def _saved_answers(portal_server: PortalServer, public_id: str) -> dict[str, str]:
    with portal_server.database.session() as session:
        rows = session.exec(
            select(Answer.item_id, Answer.value)
            .join(Submission, Answer.submission_id == Submission.id)  # type: ignore[arg-type]
            .join(Assignment, Submission.assignment_id == Assignment.id)  # type: ignore[arg-type]
            .where(Assignment.public_id == public_id)
        )
        return dict(rows.all())


def test_client_fills_in_a_phq9_over_two_visits(
    browser: object, page: object, recorder: Recorder, portal_server: PortalServer, axe: Axe, screenshot_dir: Path
) -> None:
    public_id = portal_server.add_client("journey-noor", PASSWORD, "Noor")
    base = portal_server.base_url

    # First visit: log in, start the questionnaire, answer half of it.
    page.goto(base + "/login")  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the login page")
    log_in(page, base, "journey-noor", PASSWORD)
    assert page.locator("h1").inner_text() == "Welkom, Noor"  # type: ignore[attr-defined]
    _only_the_session_cookie(page)
    axe.at_both_widths(page, "the client's home page")
    _open_from_home(page, public_id)
    assert "0 van 9 vragen beantwoord" in page.locator(".progress").inner_text()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the fill-in page, nothing answered")
    for item in FIRST_VISIT:
        _answer(page, item, FREQUENCY[ANSWERS[item]])
    assert page.locator("#question-10").is_visible()  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the fill-in page, half answered")
    page.screenshot(path=str(screenshot_dir / "fill-first-visit.png"), full_page=True)  # type: ignore[attr-defined]
    _only_the_session_cookie(page)
    assert _saved_answers(portal_server, public_id) == {item: str(ANSWERS[item]) for item in FIRST_VISIT}
    page.context.close()  # type: ignore[attr-defined]

    # Second visit, in a fresh browser: log in again, find the answers, finish.
    again = recorded_page(browser, recorder)
    log_in(again, base, "journey-noor", PASSWORD)
    _open_from_home(again, public_id)
    for item in FIRST_VISIT:
        chosen = again.locator(f"#question-{item} input:checked")  # type: ignore[attr-defined]
        assert chosen.get_attribute("value") == str(ANSWERS[item])
    assert "5 van 10 vragen beantwoord" in again.locator(".progress").inner_text()  # type: ignore[attr-defined]
    axe.at_both_widths(again, "the fill-in page on coming back")
    for item in ("6", "7", "8", "9"):
        _answer(again, item, FREQUENCY[ANSWERS[item]])
    _answer(again, "10", DIFFICULTY)

    again.get_by_role("button", name="Controleren en versturen").click()  # type: ignore[attr-defined]
    assert again.locator("h1").inner_text() == "Controleer uw antwoorden"  # type: ignore[attr-defined]
    review = again.locator(".review-list").inner_text()  # type: ignore[attr-defined]
    assert "Nog niet beantwoord" not in review and DIFFICULTY in review
    axe.at_both_widths(again, "the review page")
    again.screenshot(path=str(screenshot_dir / "fill-review.png"), full_page=True)  # type: ignore[attr-defined]

    again.get_by_role("button", name="Mijn antwoorden versturen").click()  # type: ignore[attr-defined]
    assert again.locator("h1").inner_text() == "Bedankt, uw antwoorden zijn verstuurd"  # type: ignore[attr-defined]
    assert again.locator(".crisis").count() == 0  # type: ignore[attr-defined]
    axe.at_both_widths(again, "the done page")
    _only_the_session_cookie(again)
    again.context.close()  # type: ignore[attr-defined]

    submission, scores, alerts = _submission(portal_server, public_id)
    assert submission.status is SubmissionStatus.submitted
    assert scores["total"].value == sum(ANSWERS.values()) == 10
    assert scores["total"].band == "moderate" and scores["total"].complete
    assert alerts == []


def test_a_critical_answer_raises_an_alert_and_shows_the_crisis_text(
    page: object, portal_server: PortalServer, axe: Axe, screenshot_dir: Path
) -> None:
    public_id = portal_server.add_client("journey-sem", PASSWORD, "Sem")
    log_in(page, portal_server.base_url, "journey-sem", PASSWORD)
    _open_from_home(page, public_id)
    for item in ANSWERS:
        _answer(page, item, FREQUENCY[1 if item == "9" else 0])
    _answer(page, "10", DIFFICULTY)
    page.get_by_role("button", name="Controleren en versturen").click()  # type: ignore[attr-defined]
    page.get_by_role("button", name="Mijn antwoorden versturen").click()  # type: ignore[attr-defined]

    crisis = page.get_by_role("region", name="Hebt u het moeilijk?")  # type: ignore[attr-defined]
    assert crisis.is_visible()
    assert "113" in crisis.inner_text() and "112" in crisis.inner_text()
    # Focus goes to the crisis text at once, so a screen reader reads it first.
    assert page.evaluate("document.activeElement.classList.contains('crisis')")  # type: ignore[attr-defined]
    axe.at_both_widths(page, "the done page with the crisis text")
    page.screenshot(path=str(screenshot_dir / "fill-done-crisis.png"), full_page=True)  # type: ignore[attr-defined]

    submission, scores, alerts = _submission(portal_server, public_id)
    assert submission.status is SubmissionStatus.submitted
    assert scores["total"].value == 1
    assert [(alert.item_id, alert.acknowledged_at) for alert in alerts] == [("9", None)]


def test_a_refused_answer_is_shown_next_to_the_question(page: object, portal_server: PortalServer) -> None:
    """htmx does not swap 4xx answers by default; a refused autosave must still tell the person why."""
    public_id = portal_server.add_client("journey-lot", PASSWORD, "Lot")
    log_in(page, portal_server.base_url, "journey-lot", PASSWORD)
    page.goto(f"{portal_server.base_url}/client/questionnaires/{public_id}")  # type: ignore[attr-defined]
    first = page.locator("#question-1 input[type=radio]").first  # type: ignore[attr-defined]
    first.evaluate("input => { input.value = '9'; }")  # a value that is not one of the options
    first.check()
    page.locator("#status-1").get_by_text("Kies een van de antwoorden.").wait_for()  # type: ignore[attr-defined]
    assert _saved_answers(portal_server, public_id) == {}
