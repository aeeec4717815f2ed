"""The therapist's client record: results with reliable change per respondent, answers, alerts, settings, report."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select
from starlette.testclient import TestClient

from rom_portal.app import Portal
from rom_portal.db import Database
from rom_portal.models import Alert, AuditEvent, Registration, Respondent
from rom_portal.models.base import utcnow
from rom_portal.paths import resource_dir
from rom_portal.questionnaires import Catalogue, ChangeCategory, load_catalogue
from rom_portal.services import client_record
from rom_portal.services.assignments import assign
from rom_portal.services.audit import Actor
from rom_portal.services.filling import save_answers, submit
from rom_portal.services.progress import ScoreRow, SubmittedRow, progress_of
from rom_portal.web import charts
from tests.conftest import BASE_URL, People, csrf_of, login_as
from tests.test_informants import _informant, _issue

RECOVERED = ChangeCategory.RECOVERED
IMPROVED = ChangeCategory.RELIABLY_IMPROVED
UNCHANGED = ChangeCategory.NO_RELIABLE_CHANGE
DETERIORATED = ChangeCategory.RELIABLY_DETERIORATED


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(resource_dir("questionnaires"))


# --- Answers that add up to a chosen score ----------------------------------------------------------------


def phq9(total: int, item9: int = 0) -> dict[str, int]:
    """PHQ-9 answers adding up to ``total`` (item 9 counted in)."""
    rest = total - item9
    base, extra = divmod(rest, 8)
    answers = {str(n): base + (1 if n <= extra else 0) for n in range(1, 9)}
    return {**answers, "9": item9, "10": 1}


def who5(percentage: int) -> dict[str, int]:
    base, extra = divmod(percentage // 4, 5)
    return {str(n): base + (1 if n <= extra else 0) for n in range(1, 6)}


def k10(total: int) -> dict[str, int]:
    base, extra = divmod(total - 10, 10)
    return {str(n): 1 + base + (1 if n <= extra else 0) for n in range(1, 11)}


def measure(
    app: Portal,
    registration: Registration,
    key: str,
    answers: dict[str, int],
    days_ago: int,
    *,
    informant: str = "",
    draft: bool = False,
) -> str:
    """A questionnaire filled in by the client (or an informant) ``days_ago``; returns the assignment's public id."""
    catalogue = app.state.catalogue
    with app.state.db.session(write=True) as session:
        assignment = assign(
            session,
            catalogue,
            Actor(registration.therapist_id, "therapist"),
            registration,
            key,
            respondent=Respondent.informant if informant else Respondent.self,
            informant_label=informant,
        )
        save_answers(session, catalogue, assignment, answers)
        if not draft:
            submission = submit(session, catalogue, assignment, Actor(None, "client")).submission
            submission.submitted_at = utcnow() - timedelta(days=days_ago)
        return assignment.public_id


def therapist(app: Portal, db: Database, user: object) -> TestClient:
    browser = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    login_as(browser, db, user)  # type: ignore[arg-type]
    return browser


def audits(db: Database, action: str, object_type: str) -> list[AuditEvent]:
    with db.session() as session:
        return list(
            session.exec(
                select(AuditEvent).where(AuditEvent.action == action, AuditEvent.object_type == object_type)
            ).all()
        )


# --- Jacobson–Truax, computed by hand ---------------------------------------------------------------------


def categories(catalogue: Catalogue, key: str, values: list[float | None]) -> list[tuple[object, object]]:
    """(since first, since previous) per measurement of one respondent."""
    start = datetime(2025, 1, 6, 9, tzinfo=UTC)
    rows = [
        SubmittedRow(n, f"a{n}", key, catalogue[key].version, "self", "", start + timedelta(weeks=4 * n))
        for n in range(len(values))
    ]
    scale = catalogue[key].scales[0].id
    scores = {(n, scale): ScoreRow(value, None, False) for n, value in enumerate(values)}
    [instrument] = progress_of(catalogue, rows, scores)
    return [
        (
            m.since_first.category if m.since_first else None,
            m.since_previous.category if m.since_previous else None,
        )
        for m in instrument.measurements
    ]


def test_phq9_change_against_the_first_and_the_previous_measurement(catalogue: Catalogue) -> None:
    # Threshold 6 (published, so a change of exactly 6 counts); cut-off 10 (10 and up is clinical).
    assert categories(catalogue, "phq9", [19, 16, 12, 8]) == [
        (None, None),
        (UNCHANGED, UNCHANGED),  # -3
        (IMPROVED, UNCHANGED),  # -7 from 19, still clinical; -4 from 16
        (RECOVERED, UNCHANGED),  # -11 from 19 to below the cut-off; -4 from 12
    ]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (8, 14, DETERIORATED),  # +6: exactly the threshold is reliable
        (8, 13, UNCHANGED),  # +5
        (15, 9, RECOVERED),  # -6, from clinical (>= 10) to not
        (10, 5, UNCHANGED),  # crosses the cut-off but -5 is within measurement error
        (25, 15, IMPROVED),  # -10 but still clinical
        (9, 3, IMPROVED),  # -6, never clinical: improved, not recovered
        (12, 27, DETERIORATED),
    ],
)
def test_phq9_hand_computed_cases(catalogue: Catalogue, before: int, after: int, expected: ChangeCategory) -> None:
    assert categories(catalogue, "phq9", [before, after])[1] == (expected, expected)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        (40, 60, RECOVERED),  # +20: higher is better; from clinical (<= 50) to not
        (44, 54, RECOVERED),  # +10: exactly the threshold
        (40, 48, UNCHANGED),  # +8
        (28, 44, IMPROVED),  # +16, still at or below the cut-off
        (60, 48, DETERIORATED),  # -12: a fall is worse on the WHO-5
        (80, 72, UNCHANGED),  # -8
        (52, 64, IMPROVED),  # +12, never clinical
    ],
)
def test_who5_higher_is_better(catalogue: Catalogue, before: int, after: int, expected: ChangeCategory) -> None:
    assert categories(catalogue, "who5", [before, after])[1] == (expected, expected)


def test_unscorable_measurements_are_skipped_and_k10_is_not_classifiable(catalogue: Catalogue) -> None:
    # An unscorable measurement is neither the baseline nor the previous one for the next.
    assert categories(catalogue, "phq9", [None, 20, None, 14]) == [
        (None, None),
        (None, None),
        (None, None),
        (IMPROVED, IMPROVED),
    ]
    # The K10 has a cut-off but no reliable-change parameters: a difference, but no category.
    start = datetime(2025, 1, 6, tzinfo=UTC)
    rows = [SubmittedRow(n, f"a{n}", "k10", 1, "self", "", start + timedelta(days=n)) for n in range(2)]
    [instrument] = progress_of(
        catalogue, rows, {(0, "total"): ScoreRow(35, "high", False), (1, "total"): ScoreRow(15, "low", False)}
    )
    change = instrument.measurements[1].since_first
    assert change is not None and change.category is None and change.difference == -20
    assert instrument.threshold is None


# --- The client page ----------------------------------------------------------------------------------------


def page_of(app: Portal, db: Database, people: People, path: str = "", **query: str) -> str:
    browser = therapist(app, db, people.alice)
    response = browser.get(f"/therapist/clients/{people.carol_registration.public_id}{path}", params=query)
    assert response.status_code == 200, response.text
    return response.text


def carol_story(app: Portal, people: People) -> dict[str, str]:
    """Carol's PHQ-9 from 19 to 8 (recovered), her mother's from 10 to 20, a WHO-5 and one draft."""
    carol = people.carol_registration
    ids = {}
    for days, total in ((120, 19), (90, 16), (60, 12), (30, 8)):
        ids[f"phq9-{total}"] = measure(app, carol, "phq9", phq9(total), days)
    ids["mother-10"] = measure(app, carol, "phq9", phq9(10), 100, informant="moeder")
    ids["mother-20"] = measure(app, carol, "phq9", phq9(20), 20, informant="moeder")
    ids["who5-40"] = measure(app, carol, "who5", who5(40), 80)
    ids["who5-60"] = measure(app, carol, "who5", who5(60), 10)
    ids["draft"] = measure(app, carol, "gad7", {"1": 3, "2": 3}, 0, draft=True)
    return ids


def instrument_section(page: str, key: str) -> str:
    match = re.search(rf'<section class="card instrument" id="instrument-{key}".*?</section>', page, re.DOTALL)
    assert match, f"no section for {key}"
    return match.group(0)


def cells(section: str, label: str) -> list[str]:
    """The text of one column (by its data-label), newest first, whitespace collapsed."""
    found = re.findall(rf'data-label="{re.escape(label)}">(.*?)</t[dh]>', section, re.DOTALL)
    return [" ".join(re.sub(r"<[^>]+>", " ", one).split()) for one in found]


def test_the_page_shows_each_questionnaire_with_chart_table_and_change(
    app: Portal, db: Database, people: People
) -> None:
    carol_story(app, people)
    page = page_of(app, db, people)
    assert "<h1>Carol</h1>" in page and "<code>carol</code>" in page
    assert " style=" not in page and "<script>" not in page
    phq = instrument_section(page, "phq9")
    # Newest first; each respondent compared with their own earlier scores.
    assert cells(phq, "Score") == ["20", "8", "12", "16", "10", "19"]
    assert cells(phq, "Ingevuld door") == ["moeder", "Cliënt", "Cliënt", "Cliënt", "moeder", "Cliënt"]
    assert cells(phq, "Sinds de eerste") == [
        "+10 Betrouwbaar verslechterd",
        "−11 Hersteld",
        "−7 Betrouwbaar verbeterd",
        "−3 Geen betrouwbare verandering",
        "eerste meting",
        "eerste meting",
    ]
    assert cells(phq, "Sinds de vorige")[:3] == [
        "+10 Betrouwbaar verslechterd",
        "−4 Geen betrouwbare verandering",
        "−4 Geen betrouwbare verandering",
    ]
    assert "een verandering van 6 punten of meer" in phq
    # One line per respondent in the chart, told apart by colour and dashes, named in a legend.
    svg = re.search(r"<svg.*?</svg>", phq, re.DOTALL).group(0)  # type: ignore[union-attr]
    lines = re.findall(r"<polyline [^>]*>", svg)
    assert len(lines) == 2
    assert re.search(r'stroke="([^"]+)"', lines[0]).group(1) != re.search(r'stroke="([^"]+)"', lines[1]).group(1)  # type: ignore[union-attr]
    assert "stroke-dasharray" not in lines[0] and "stroke-dasharray" in lines[1]
    legend = re.search(r'<g class="chart__legend">.*?</g>', svg, re.DOTALL).group(0)  # type: ignore[union-attr]
    assert ">Cliënt<" in legend and ">moeder<" in legend
    assert 'class="chart__cutoff"' in svg and 'class="chart__band chart__band--4"' in svg
    # WHO-5: higher is better, so a rise from 40 to 60 across the cut-off of 50 is recovery.
    who = instrument_section(page, "who5")
    assert cells(who, "Sinds de eerste")[0] == "+20 Hersteld"
    assert "Een hogere score is beter." in who
    assert "Ruwe score (0-25)" in who and cells(who, "Ruwe score (0-25)") == [
        "15 (Voldoende welbevinden)",
        "10 (Verminderd welbevinden)",
    ]


def test_drafts_are_not_shown(app: Portal, db: Database, people: People) -> None:
    ids = carol_story(app, people)
    page = page_of(app, db, people)
    assert 'id="instrument-gad7"' not in page and ids["draft"] not in page
    browser = therapist(app, db, people.alice)
    draft = f"/therapist/clients/{people.carol_registration.public_id}/submissions/{ids['draft']}"
    assert browser.get(draft).status_code == 404


def test_a_questionnaire_without_reliable_change_parameters_is_not_classified(
    app: Portal, db: Database, people: People
) -> None:
    measure(app, people.carol_registration, "k10", k10(30), 40)
    measure(app, people.carol_registration, "k10", k10(18), 10)
    section = instrument_section(page_of(app, db, people), "k10")
    assert cells(section, "Sinds de eerste")[0] == "−12 Niet te bepalen"
    assert "niet bekend voor deze vragenlijst" in section


def test_a_submission_shows_the_questions_answers_and_scores(app: Portal, db: Database, people: People) -> None:
    public_id = measure(app, people.carol_registration, "phq9", phq9(14, item9=2), 3)
    page = page_of(app, db, people, f"/submissions/{public_id}")
    assert "PHQ-9 Gezondheidsvragenlijst (depressie)" in page
    assert "Gedachten dat u beter dood zou kunnen zijn" in page
    assert "Meer dan de helft van de dagen" in page and "Kritiek antwoord" in page
    assert re.search(r"Totaalscore depressieve klachten</th>\s*<td[^>]*>14</td>\s*<td[^>]*>Matig</td>", page)
    [event] = audits(db, "read", "submission")
    assert event.actor_user_id == people.alice.id and event.registration_id == people.carol_registration.id


def test_a_submission_by_an_informant_names_the_informant(app: Portal, db: Database, people: People) -> None:
    public_id = measure(app, people.carol_registration, "phq9", phq9(6), 3, informant="partner")
    page = page_of(app, db, people, f"/submissions/{public_id}")
    assert "<dd>partner</dd>" in page


# --- Alerts ---------------------------------------------------------------------------------------------------


def test_an_alert_is_listed_and_acknowledged_with_who_and_when(app: Portal, db: Database, people: People) -> None:
    measure(app, people.carol_registration, "phq9", phq9(14, item9=2), 2)
    page = page_of(app, db, people)
    alerts = re.search(r'<section id="alerts".*?</section>', page, re.DOTALL).group(0)  # type: ignore[union-attr]
    assert "Gedachten dat u beter dood zou kunnen zijn" in alerts
    assert "<strong>Meer dan de helft van de dagen</strong>" in alerts
    assert "Neem vandaag contact op." in alerts  # the questionnaire's own instruction
    with db.session() as session:
        alert = session.exec(select(Alert)).one()
    browser = therapist(app, db, people.alice)
    path = f"/therapist/clients/{people.carol_registration.public_id}"
    token = csrf_of(browser, path)
    response = browser.post(
        f"/therapist/alerts/{alert.id}/acknowledge", data={"csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{path}?m=acknowledged#alerts"
    with db.session() as session:
        seen = session.get(Alert, alert.id)
    assert seen.acknowledged_by == people.alice.id
    assert abs((seen.acknowledged_at - utcnow()).total_seconds()) < 60
    [event] = audits(db, "acknowledge", "alert")
    assert (event.actor_user_id, event.object_id, event.registration_id) == (
        people.alice.id,
        str(alert.id),
        people.carol_registration.id,
    )
    after = browser.get(response.headers["location"]).text
    assert "De melding is gemarkeerd als gezien." in after
    assert "Geen open meldingen." in after
    history = re.search(r'<details class="alert-history">.*?</details>', after, re.DOTALL).group(0)  # type: ignore[union-attr]
    assert "Alice Jansen" in history and "Meer dan de helft van de dagen" in history
    # A second click keeps the first who and when, and logs nothing new.
    again = browser.post(
        f"/therapist/alerts/{alert.id}/acknowledge", data={"csrf_token": token}, follow_redirects=False
    )
    assert again.status_code == 303
    with db.session() as session:
        assert session.get(Alert, alert.id).acknowledged_at == seen.acknowledged_at
    assert len(audits(db, "acknowledge", "alert")) == 1


def test_another_therapist_cannot_acknowledge_an_alert(app: Portal, db: Database, people: People) -> None:
    measure(app, people.carol_registration, "phq9", phq9(14, item9=1), 2)
    with db.session() as session:
        alert = session.exec(select(Alert)).one()
    bob = therapist(app, db, people.bob)
    token = csrf_of(bob, "/therapist")
    response = bob.post(f"/therapist/alerts/{alert.id}/acknowledge", data={"csrf_token": token})
    assert response.status_code == 404
    with db.session() as session:
        assert session.get(Alert, alert.id).acknowledged_at is None
    assert audits(db, "acknowledge", "alert") == []


# --- Access -----------------------------------------------------------------------------------------------------


def test_every_route_of_the_record_is_404_for_another_therapist_and_for_the_client(
    app: Portal, db: Database, people: People
) -> None:
    ids = carol_story(app, people)
    measure(app, people.carol_registration, "phq9", phq9(14, item9=1), 2)
    dave_submission = measure(app, people.dave_registration, "phq9", phq9(12), 2)
    with db.session() as session:
        alert_id = session.exec(select(Alert.id)).one()
    carol = people.carol_registration.public_id
    gets = [
        f"/therapist/clients/{carol}",
        f"/therapist/clients/{carol}/report",
        f"/therapist/clients/{carol}/submissions/{ids['phq9-19']}",
    ]
    posts = [f"/therapist/clients/{carol}/settings", f"/therapist/alerts/{alert_id}/acknowledge"]
    for user in (people.bob, people.carol):
        browser = therapist(app, db, user)
        token = csrf_of(browser, "/account")
        for path in gets:
            assert browser.get(path).status_code == 404, (user.username, path)
        for path in posts:
            response = browser.post(path, data={"csrf_token": token, "results_visible": "1"})
            assert response.status_code == 404, (user.username, path)
    # Alice's own client, but a submission of Bob's client in the address: not found either.
    alice = therapist(app, db, people.alice)
    assert alice.get(f"/therapist/clients/{carol}/submissions/{dave_submission}").status_code == 404
    with db.session() as session:
        registration = session.get(Registration, people.carol_registration.id)
        assert registration.results_visible is False
        assert session.get(Alert, alert_id).acknowledged_at is None
    assert audits(db, "read", "results") == [] and audits(db, "read", "report") == []
    assert audits(db, "read", "submission") == []


# --- Settings -----------------------------------------------------------------------------------------------------


def save_settings(app: Portal, db: Database, people: People, **fields: str) -> None:
    browser = therapist(app, db, people.alice)
    path = f"/therapist/clients/{people.carol_registration.public_id}"
    response = browser.post(
        f"{path}/settings", data={"csrf_token": csrf_of(browser, path), **fields}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == f"{path}?m=settings#settings"


def test_the_client_sees_their_results_only_when_the_therapist_allows_it(
    app: Portal, db: Database, people: People
) -> None:
    measure(app, people.carol_registration, "phq9", phq9(12), 3)
    client = therapist(app, db, people.carol)
    assert client.get("/client/results").status_code == 404
    save_settings(app, db, people, results_visible="1", show_name_to_informants="1")
    assert client.get("/client/results").status_code == 200
    page = page_of(app, db, people)
    assert re.search(r'name="results_visible" value="1" checked', page)
    save_settings(app, db, people, show_name_to_informants="1")
    assert client.get("/client/results").status_code == 404
    assert "De instellingen zijn opgeslagen." in page_of(app, db, people, m="settings")
    events = audits(db, "update", "registration_settings")
    assert len(events) == 2
    assert all(e.actor_user_id == people.alice.id and e.registration_id == people.carol_registration.id for e in events)


def test_informants_see_the_roepnaam_only_when_the_therapist_allows_it(
    app: Portal, db: Database, people: People
) -> None:
    save_settings(app, db, people, results_visible="1")  # the name box left unticked
    hidden = _informant(app, _issue(app, db, people)).get("/i/form").text
    assert "Carol" not in hidden
    save_settings(app, db, people, show_name_to_informants="1")
    shown = _informant(app, _issue(app, db, people, relation="vader")).get("/i/form").text
    assert "Carol" in shown


# --- Report and audit ---------------------------------------------------------------------------------------------


def test_the_report_has_the_results_without_forms_or_links(app: Portal, db: Database, people: People) -> None:
    carol_story(app, people)
    page = page_of(app, db, people, "/report")
    main = page.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    report = main.split('<article class="report"', 1)[1]
    assert "<form" not in main
    assert "<a " not in report and "<details" not in report
    latest = cells(instrument_section(report, "phq9"), "Sinds de eerste")[:2]
    assert latest == ["+10 Betrouwbaar verslechterd", "−11 Hersteld"]
    assert "Ctrl+P" in main
    assert re.search(r'<script src="/static/js/print\.js\?v=\w+" defer></script>', page)
    assert "<svg" in report


def test_every_page_view_writes_one_audit_row(app: Portal, db: Database, people: People) -> None:
    ids = carol_story(app, people)
    page_of(app, db, people)
    page_of(app, db, people)
    page_of(app, db, people, "/report")
    page_of(app, db, people, f"/submissions/{ids['phq9-8']}")
    expected = people.carol_registration.id
    reads = audits(db, "read", "results")
    assert len(reads) == 2 and all(e.registration_id == expected and e.actor_user_id == people.alice.id for e in reads)
    assert all(e.access_point == "web:therapist_client" for e in reads)
    [report] = audits(db, "read", "report")
    assert report.registration_id == expected and report.access_point == "web:therapist_client_report"
    [submission] = audits(db, "read", "submission")
    assert submission.registration_id == expected


def test_the_record_loads_in_a_fixed_number_of_queries(app: Portal, db: Database, people: People) -> None:
    carol = people.carol_registration

    def queries() -> int:
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            with db.session() as session:
                client_record.record_of(session, app.state.catalogue, people.alice.id, carol.public_id)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(statements)

    measure(app, carol, "phq9", phq9(14, item9=1), 2)
    few = queries()
    for days in range(3, 13):
        measure(app, carol, "phq9", phq9(days), days)
        measure(app, carol, "who5", who5(days * 4), days, informant="partner")
    assert queries() == few <= 5


# --- Charts -------------------------------------------------------------------------------------------------------


def test_label_placement_counts_covered_line_exactly_as_sampling_would() -> None:
    """Label places are scored by how much line they cover; the clipped count must equal visiting each sample."""
    rng = random.Random(11)

    def sampled(segment: tuple[float, float, float, float], box: tuple[float, float, float, float]) -> int:
        ax, ay, bx, by = segment
        steps = max(1, int(math.hypot(bx - ax, by - ay) / 3))
        points = ((ax + (bx - ax) * s / steps, ay + (by - ay) * s / steps) for s in range(steps + 1))
        return sum(box[0] <= x <= box[2] and box[1] <= y <= box[3] for x, y in points)

    for _ in range(5000):
        segment = tuple(float(rng.randint(0, 480)) if rng.random() < 0.5 else rng.uniform(0, 480) for _ in range(4))
        x, y = rng.randint(0, 470), rng.randint(0, 290) + rng.choice((0, 0.5))
        box = (x, y, x + rng.randint(1, 200), y + rng.choice((9.5, 19, 40)))
        assert charts._samples_inside(*segment, box) == sampled(segment, box), (segment, box)
